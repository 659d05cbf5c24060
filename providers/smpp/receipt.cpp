#include "providers/smpp/receipt.hpp"

#include <cctype>
#include <cstdio>

namespace tinbao::smpp {

namespace {

bool iequals_prefix(std::string_view s, std::size_t at, std::string_view key) {
    if (at + key.size() > s.size()) return false;
    for (std::size_t i = 0; i < key.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[at + i])) != key[i]) return false;
    return true;
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

constexpr uint8_t kReceiptMask = 0x3C;
constexpr uint8_t kSmscReceipt = 0x04;
constexpr uint8_t kIntermediate = 0x20;

}  // namespace

bool is_receipt(const Pdu& pdu) {
    uint8_t type = pdu.esm_class & kReceiptMask;
    if (type == kSmscReceipt || type == kIntermediate) return true;
    if (pdu.find(tag::kReceiptedMessageId)) return true;
    return iequals_prefix(pdu.short_message, 0, "id:");
}

Receipt parse_receipt_text(std::string_view t) {
    // Keys in the order Appendix B gives them; a value runs to the next space, except text:
    // which runs to the end.
    static constexpr std::string_view kKeys[] = {
        "id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:"};
    Receipt r;
    std::size_t i = 0;
    while (i < t.size()) {
        while (i < t.size() && t[i] == ' ') ++i;
        std::string_view key;
        for (auto k : kKeys)
            if (iequals_prefix(t, i, k)) key = k;
        if (key.empty()) {
            while (i < t.size() && t[i] != ' ') ++i;  // a word of no field: skipped
            continue;
        }
        i += key.size();
        if (key == "text:") break;
        std::size_t end = t.find(' ', i);
        if (end == std::string_view::npos) end = t.size();
        std::string value(t.substr(i, end - i));
        i = end;
        if (key == "id:")
            r.id = value;
        else if (key == "stat:")
            r.stat = upper(value);
        else if (key == "err:")
            r.error = value;
        else if (key == "done date:")
            r.done_date = value;
    }
    r.outcome = outcome_of_stat(r.stat);
    return r;
}

ReceiptOutcome outcome_of_stat(std::string_view stat) {
    if (stat == "DELIVRD") return ReceiptOutcome::delivered;
    if (stat == "UNDELIV" || stat == "REJECTD" || stat == "EXPIRED" || stat == "DELETED")
        return ReceiptOutcome::failed;
    return ReceiptOutcome::pending;
}

ReceiptOutcome outcome_of_state(uint8_t state, std::string& stat) {
    switch (state) {
        case 1:
            stat = "ENROUTE";
            return ReceiptOutcome::pending;
        case 2:
            stat = "DELIVRD";
            return ReceiptOutcome::delivered;
        case 3:
            stat = "EXPIRED";
            return ReceiptOutcome::failed;
        case 4:
            stat = "DELETED";
            return ReceiptOutcome::failed;
        case 5:
            stat = "UNDELIV";
            return ReceiptOutcome::failed;
        case 6:
            stat = "ACCEPTD";
            return ReceiptOutcome::pending;
        case 8:
            stat = "REJECTD";
            return ReceiptOutcome::failed;
        default:
            stat = "UNKNOWN";
            return ReceiptOutcome::pending;
    }
}

std::optional<Receipt> parse_receipt(const Pdu& pdu) {
    if (!is_receipt(pdu)) return std::nullopt;
    std::string_view text = pdu.short_message;
    if (text.empty())
        if (auto* payload = pdu.find(tag::kMessagePayload)) text = payload->value;
    Receipt r = parse_receipt_text(text);
    if (auto* id = pdu.find(tag::kReceiptedMessageId)) {
        // A C-Octet String: up to its NUL.
        std::string v = id->value.substr(0, id->value.find('\0'));
        if (!v.empty()) r.id = std::move(v);
    }
    if (auto* st = pdu.find(tag::kMessageState); st && st->value.size() == 1)
        r.outcome = outcome_of_state(static_cast<uint8_t>(st->value[0]), r.stat);
    if (auto* ne = pdu.find(tag::kNetworkErrorCode); ne && ne->value.size() == 3) {
        // Network type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and the network's own code.
        unsigned type = static_cast<uint8_t>(ne->value[0]);
        unsigned code =
            static_cast<uint8_t>(ne->value[1]) << 8 | static_cast<uint8_t>(ne->value[2]);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%u/%u", type, code);
        if (code != 0 || r.error.empty()) r.error = buf;
    }
    if (r.id.empty()) return std::nullopt;
    return r;
}

}  // namespace tinbao::smpp
