#include "providers/smpp/inbound.hpp"

#include <string_view>
#include <utility>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "providers/smpp/text.hpp"

namespace tinbao::smpp {

namespace {

// Length-prefixed, so that no two different field lists hash alike.
void add_field(std::string& key, std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key.append(v);
}

}  // namespace

InboundMessage inbound_message(const Pdu& p, std::string provider, int64_t received_ms,
                               std::chrono::milliseconds window) {
    InboundMessage m;
    m.provider = std::move(provider);
    m.channel = Channel::sms;
    m.from = p.source.value;
    if (m.from.size() > 1 && m.from[0] == '0') m.from = "84" + m.from.substr(1);
    if (!m.from.empty() && m.from[0] == '+') m.from = m.from.substr(1);
    m.to = p.destination.value;
    std::string_view raw = p.short_message;
    if (raw.empty())
        if (auto* payload = p.find(tag::kMessagePayload)) raw = payload->value;
    std::string_view body = raw;
    if ((p.esm_class & 0x40) != 0 && !body.empty()) {
        // A UDH first (a reply in parts): its length octet and itself skipped.
        std::size_t udh = 1 + static_cast<uint8_t>(body[0]);
        body = udh <= body.size() ? body.substr(udh) : std::string_view();
    }
    m.text = decode_text(p.data_coding, body);
    m.received_ms = received_ms;
    if (window.count() <= 0) return m;  // no recognition asked for

    std::string key;
    add_field(key, p.source.value);
    add_field(key, std::to_string(p.source.ton) + "/" + std::to_string(p.source.npi));
    add_field(key, p.destination.value);
    add_field(key, std::to_string(p.esm_class) + "/" + std::to_string(p.data_coding));
    add_field(key, raw);  // with its UDH: the parts of a long reply differ by reference and number
    add_field(key, p.schedule_delivery_time);
    add_field(key, p.validity_period);
    for (uint16_t t : {tag::kSarMsgRefNum, tag::kSarTotalSegments, tag::kSarSegmentSeqnum}) {
        const Tlv* v = p.find(t);
        add_field(key, v ? std::string_view(v->value) : std::string_view());
    }
    m.dedupe_key = "smpp:" + hex_encode(sha256(key));
    m.dedupe_window = window;
    return m;
}

}  // namespace tinbao::smpp
