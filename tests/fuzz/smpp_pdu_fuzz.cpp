// libFuzzer target for the SMPP PDU decoder (providers/smpp/pdu.hpp): every octet an SMSC sends
// goes through it. The input is a byte stream cut into PDUs the way the session's reader cuts it
// (command_length first). A PDU that decodes encodes again to the same octets when it is one
// tinbao knows whole; its receipt and text are read as the adapter reads them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "providers/smpp/pdu.hpp"
#include "providers/smpp/receipt.hpp"
#include "providers/smpp/text.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    using namespace tinbao::smpp;
    std::string_view stream(reinterpret_cast<const char*>(data), size);
    while (stream.size() >= 4) {
        uint32_t len = peek_length(stream);
        Decoded d = decode(stream);
        if (d.error == DecodeError::short_header || d.error == DecodeError::truncated) break;
        if (d.error == DecodeError::bad_length) {
            check(len < kHeaderLength || len > kMaxPduLength);
            break;
        }
        check(d.length == len && len <= stream.size());
        if (d.error == DecodeError::none) {
            const Pdu& p = d.pdu;
            (void)command_name(p.command_id);
            if (p.command_id == cmd::kDeliverSm || p.command_id == cmd::kDataSm) {
                if (auto r = parse_receipt(p)) check(!r->id.empty());
                (void)decode_text(p.data_coding, p.short_message);
            }
            // Re-encoding what was read gives a PDU that reads back the same.
            if (auto again = encode(p)) {
                Decoded twice = decode(*again);
                check(twice.error == DecodeError::none);
                check(twice.pdu.command_id == p.command_id && twice.pdu.sequence == p.sequence &&
                      twice.pdu.short_message == p.short_message &&
                      twice.pdu.message_id == p.message_id &&
                      twice.pdu.tlvs.size() == p.tlvs.size());
            }
        }
        stream.remove_prefix(len);
    }
    (void)parse_receipt_text(stream);
    (void)from_ucs2(stream);
    (void)from_gsm(stream);
    auto parts = split_parts(to_ucs2(from_latin1(stream)), true);
    check(!parts.empty());
    return 0;
}
