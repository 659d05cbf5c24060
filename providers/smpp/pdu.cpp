#include "providers/smpp/pdu.hpp"

#include <cstdio>

namespace tinbao::smpp {

namespace {

// What each command carries after the header.
enum class Body { none, bind, bind_resp, sm, id_resp, data_sm, alert, unknown };

Body body_of(uint32_t id) {
    switch (id) {
        case cmd::kBindReceiver:
        case cmd::kBindTransmitter:
        case cmd::kBindTransceiver:
            return Body::bind;
        case cmd::kBindReceiver | cmd::kResponse:
        case cmd::kBindTransmitter | cmd::kResponse:
        case cmd::kBindTransceiver | cmd::kResponse:
            return Body::bind_resp;
        case cmd::kSubmitSm:
        case cmd::kDeliverSm:
            return Body::sm;
        case cmd::kSubmitSm | cmd::kResponse:
        case cmd::kDeliverSm | cmd::kResponse:
        case cmd::kDataSm | cmd::kResponse:
            return Body::id_resp;
        case cmd::kDataSm:
            return Body::data_sm;
        case cmd::kAlertNotification:
            return Body::alert;
        case cmd::kGenericNack:
        case cmd::kUnbind:
        case cmd::kUnbind | cmd::kResponse:
        case cmd::kEnquireLink:
        case cmd::kEnquireLink | cmd::kResponse:
            return Body::none;
        default:
            return Body::unknown;
    }
}

class Writer {
  public:
    bool ok = true;
    std::string out;

    void u8(uint8_t v) { out.push_back(static_cast<char>(v)); }
    void u16(uint16_t v) {
        u8(static_cast<uint8_t>(v >> 8));
        u8(static_cast<uint8_t>(v));
    }
    void u32(uint32_t v) {
        u16(static_cast<uint16_t>(v >> 16));
        u16(static_cast<uint16_t>(v));
    }
    // A C-Octet String of at most `max` octets, NUL included; no NUL inside.
    void cstring(std::string_view s, std::size_t max) {
        if (s.size() + 1 > max || s.find('\0') != std::string_view::npos) ok = false;
        out.append(s);
        out.push_back('\0');
    }
    void address(const Address& a, std::size_t max) {
        u8(a.ton);
        u8(a.npi);
        cstring(a.value, max);
    }
    void tlvs(const std::vector<Tlv>& list) {
        for (auto& t : list) {
            if (t.value.size() > 0xFFFF) ok = false;
            u16(t.tag);
            u16(static_cast<uint16_t>(t.value.size()));
            out.append(t.value);
        }
    }
};

class Reader {
  public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool ok = true;

    bool at_end() const { return pos_ >= in_.size(); }
    uint8_t u8() {
        if (pos_ + 1 > in_.size()) {
            ok = false;
            return 0;
        }
        return static_cast<uint8_t>(in_[pos_++]);
    }
    uint16_t u16() {
        uint16_t hi = u8();
        uint16_t lo = u8();
        return static_cast<uint16_t>(hi << 8 | lo);
    }
    std::string octets(std::size_t n) {
        if (!ok || n > in_.size() - pos_) {
            ok = false;
            return {};
        }
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    // A C-Octet String whose NUL comes within `max` octets.
    std::string cstring(std::size_t max) {
        if (!ok) return {};
        auto rest = in_.substr(pos_, max);
        auto nul = rest.find('\0');
        if (nul == std::string_view::npos) {
            ok = false;
            return {};
        }
        std::string s(rest.substr(0, nul));
        pos_ += nul + 1;
        return s;
    }
    Address address(std::size_t max) {
        Address a;
        a.ton = u8();
        a.npi = u8();
        a.value = cstring(max);
        return a;
    }
    // TLVs up to the end of the body.
    void tlvs(std::vector<Tlv>& list) {
        while (ok && !at_end()) {
            Tlv t;
            t.tag = u16();
            uint16_t len = u16();
            t.value = octets(len);
            if (ok) list.push_back(std::move(t));
        }
    }

  private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

uint32_t be32(std::string_view b, std::size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3]));
}

}  // namespace

const Tlv* Pdu::find(uint16_t t) const {
    for (auto& v : tlvs)
        if (v.tag == t) return &v;
    return nullptr;
}

std::string command_name(uint32_t id) {
    const bool resp = (id & cmd::kResponse) != 0 && id != cmd::kGenericNack;
    const char* base = nullptr;
    switch (id & ~cmd::kResponse) {
        case cmd::kBindReceiver:
            base = "bind_receiver";
            break;
        case cmd::kBindTransmitter:
            base = "bind_transmitter";
            break;
        case cmd::kBindTransceiver:
            base = "bind_transceiver";
            break;
        case cmd::kSubmitSm:
            base = "submit_sm";
            break;
        case cmd::kDeliverSm:
            base = "deliver_sm";
            break;
        case cmd::kUnbind:
            base = "unbind";
            break;
        case cmd::kOutbind:
            base = "outbind";
            break;
        case cmd::kEnquireLink:
            base = "enquire_link";
            break;
        case cmd::kAlertNotification:
            base = "alert_notification";
            break;
        case cmd::kDataSm:
            base = "data_sm";
            break;
        case 0:
            base = id == cmd::kGenericNack ? "generic_nack" : nullptr;
            break;
        default:
            break;
    }
    if (!base) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "command 0x%08x", id);
        return buf;
    }
    return std::string(base) + (resp ? "_resp" : "");
}

std::optional<std::string> encode(const Pdu& p) {
    Writer w;
    w.u32(0);  // command_length, set at the end
    w.u32(p.command_id);
    w.u32(p.command_status);
    w.u32(p.sequence);
    switch (body_of(p.command_id)) {
        case Body::bind:
            w.cstring(p.system_id, limit::kSystemId);
            w.cstring(p.password, limit::kPassword);
            w.cstring(p.system_type, limit::kSystemType);
            w.u8(p.interface_version);
            w.address(p.address_range, limit::kAddressRange);
            break;
        case Body::bind_resp:
            w.cstring(p.system_id, limit::kSystemId);
            w.tlvs(p.tlvs);
            break;
        case Body::sm:
            w.cstring(p.service_type, limit::kServiceType);
            w.address(p.source, limit::kAddress);
            w.address(p.destination, limit::kAddress);
            w.u8(p.esm_class);
            w.u8(p.protocol_id);
            w.u8(p.priority_flag);
            w.cstring(p.schedule_delivery_time, limit::kTime);
            w.cstring(p.validity_period, limit::kTime);
            w.u8(p.registered_delivery);
            w.u8(p.replace_if_present);
            w.u8(p.data_coding);
            w.u8(p.sm_default_msg_id);
            if (p.short_message.size() > limit::kShortMessage) w.ok = false;
            w.u8(static_cast<uint8_t>(p.short_message.size()));
            w.out.append(p.short_message);
            w.tlvs(p.tlvs);
            break;
        case Body::id_resp:
            w.cstring(p.message_id, limit::kMessageId);
            w.tlvs(p.tlvs);
            break;
        case Body::data_sm:
            w.cstring(p.service_type, limit::kServiceType);
            w.address(p.source, limit::kLongAddress);
            w.address(p.destination, limit::kLongAddress);
            w.u8(p.esm_class);
            w.u8(p.registered_delivery);
            w.u8(p.data_coding);
            w.tlvs(p.tlvs);
            break;
        case Body::alert:
            w.address(p.source, limit::kLongAddress);
            w.address(p.destination, limit::kLongAddress);
            w.tlvs(p.tlvs);
            break;
        case Body::none:
            w.tlvs(p.tlvs);  // what decode() keeps of a later version's header-only PDU
            break;
        case Body::unknown:
            break;
    }
    if (!w.ok || w.out.size() > kMaxPduLength) return std::nullopt;
    auto n = static_cast<uint32_t>(w.out.size());
    for (int i = 0; i < 4; ++i)
        w.out[static_cast<std::size_t>(i)] = static_cast<char>(n >> (24 - 8 * i));
    return std::move(w.out);
}

std::string_view to_string(DecodeError e) {
    switch (e) {
        case DecodeError::none:
            return "none";
        case DecodeError::short_header:
            return "short header";
        case DecodeError::bad_length:
            return "command_length out of bounds";
        case DecodeError::truncated:
            return "truncated";
        case DecodeError::malformed:
            return "malformed body";
    }
    return "?";
}

uint32_t peek_length(std::string_view bytes) { return bytes.size() < 4 ? 0 : be32(bytes, 0); }

bool known_command(uint32_t id) { return body_of(id) != Body::unknown; }

Decoded decode(std::string_view bytes) {
    Decoded d;
    if (bytes.size() < kHeaderLength) {
        d.error = DecodeError::short_header;
        return d;
    }
    uint32_t length = be32(bytes, 0);
    d.pdu.command_id = be32(bytes, 4);
    d.pdu.command_status = be32(bytes, 8);
    d.pdu.sequence = be32(bytes, 12);
    if (length < kHeaderLength || length > kMaxPduLength) {
        d.error = DecodeError::bad_length;
        return d;
    }
    if (length > bytes.size()) {
        d.error = DecodeError::truncated;
        return d;
    }
    d.length = length;
    Reader r(bytes.substr(kHeaderLength, length - kHeaderLength));
    Pdu& p = d.pdu;
    const bool empty = r.at_end();
    switch (body_of(p.command_id)) {
        case Body::bind:
            p.system_id = r.cstring(limit::kSystemId);
            p.password = r.cstring(limit::kPassword);
            p.system_type = r.cstring(limit::kSystemType);
            p.interface_version = r.u8();
            p.address_range = r.address(limit::kAddressRange);
            break;
        case Body::bind_resp:
            // A refused bind may come without a body.
            if (empty) break;
            p.system_id = r.cstring(limit::kSystemId);
            r.tlvs(p.tlvs);
            break;
        case Body::sm:
            p.service_type = r.cstring(limit::kServiceType);
            // SMSCs put longer addresses in deliver_sm than section 4.6 allows: read up to
            // data_sm's limit.
            p.source = r.address(limit::kLongAddress);
            p.destination = r.address(limit::kLongAddress);
            p.esm_class = r.u8();
            p.protocol_id = r.u8();
            p.priority_flag = r.u8();
            p.schedule_delivery_time = r.cstring(limit::kTime);
            p.validity_period = r.cstring(limit::kTime);
            p.registered_delivery = r.u8();
            p.replace_if_present = r.u8();
            p.data_coding = r.u8();
            p.sm_default_msg_id = r.u8();
            {
                uint8_t sm_length = r.u8();
                p.short_message = r.octets(sm_length);
            }
            r.tlvs(p.tlvs);
            break;
        case Body::id_resp:
            if (empty) break;
            p.message_id = r.cstring(limit::kMessageId);
            r.tlvs(p.tlvs);
            break;
        case Body::data_sm:
            p.service_type = r.cstring(limit::kServiceType);
            p.source = r.address(limit::kLongAddress);
            p.destination = r.address(limit::kLongAddress);
            p.esm_class = r.u8();
            p.registered_delivery = r.u8();
            p.data_coding = r.u8();
            r.tlvs(p.tlvs);
            break;
        case Body::alert:
            p.source = r.address(limit::kLongAddress);
            p.destination = r.address(limit::kLongAddress);
            r.tlvs(p.tlvs);
            break;
        case Body::none:
            // Octets after a header-only PDU: TLVs of a later version; read and kept.
            r.tlvs(p.tlvs);
            break;
        case Body::unknown:
            return d;
    }
    if (!r.ok) d.error = DecodeError::malformed;
    return d;
}

}  // namespace tinbao::smpp
