#include "daemon/model/records.hpp"

#include "common/encoding.hpp"

#include <openssl/sha.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <ctime>

namespace json = boost::json;

namespace tinbao {

bool is_settled(std::string_view s) {
    return s == state::kSent || s == state::kDelivered || s == state::kFailed ||
           s == state::kExpired || s == state::kSkipped || s == state::kSuperseded;
}

bool is_success(std::string_view s) {
    return s == state::kSent || s == state::kDelivered;
}

json::object MessageRecord::to_json() const {
    json::object o;
    o["id"] = id;
    o["event_id"] = event_id;
    o["dossier_code"] = dossier_code;
    o["channel"] = channel;
    o["provider"] = provider.empty() ? json::value(nullptr) : json::value(provider);
    o["to"] = to;
    o["state"] = state;
    o["attempts"] = attempts;
    if (last_error_reason.empty())
        o["last_error"] = nullptr;
    else
        o["last_error"] = json::object{{"reason", last_error_reason}, {"detail", last_error_detail}};
    o["provider_message_id"] =
        provider_message_id.empty() ? json::value(nullptr) : json::value(provider_message_id);
    o["created_at"] = rfc3339_utc(created_at_ms);
    o["updated_at"] = rfc3339_utc(updated_at_ms);
    o["created_at_ms"] = created_at_ms;
    o["updated_at_ms"] = updated_at_ms;
    if (channel == "sms") {
        o["encoding"] = encoding.empty() ? json::value(nullptr) : json::value(encoding);
        o["segments"] = segments;
        o["body"] = body;
    } else if (channel == "email") {
        o["subject"] = subject;
        o["body"] = body;
    } else if (channel == "zalo") {
        o["template_id"] = template_id;
    }
    if (!reminder.empty()) {
        o["reminder"] = reminder;
        o["due_at"] = rfc3339_utc(due_at_ms);
        o["due_at_ms"] = due_at_ms;
    }
    o["agency"] = agency;
    o["procedure"] = procedure;
    if (!telco.empty()) o["telco"] = telco;
    o["cost_dong"] = cost_dong;
    o["event_at_ms"] = event_at_ms;
    if (sent_at_ms) o["sent_at_ms"] = sent_at_ms;
    if (delivered_at_ms) o["delivered_at_ms"] = delivered_at_ms;
    return o;
}

json::object FeedbackRecord::to_json() const {
    json::object o;
    o["id"] = id;
    o["kind"] = kind;
    o["message_id"] = message_id;
    o["event_id"] = event_id;
    o["dossier_code"] = dossier_code;
    o["channel"] = channel;
    o["provider"] = provider;
    o["provider_message_id"] =
        provider_message_id.empty() ? json::value(nullptr) : json::value(provider_message_id);
    o["rating"] = rating;
    json::array c;
    for (const auto& x : comments) c.emplace_back(x);
    o["comments"] = std::move(c);
    o["note"] = note;
    o["submitted_at"] = rfc3339_utc(submitted_at_ms);
    o["received_at"] = rfc3339_utc(received_at_ms);
    o["submitted_at_ms"] = submitted_at_ms;
    o["received_at_ms"] = received_at_ms;
    return o;
}

namespace {

void append_string(std::string& out, std::string_view s) {
    out.push_back('"');
    append_json_escaped(out, s);
    out.push_back('"');
}

struct Writer {
    std::string& out;
    bool first = true;
    void key(std::string_view k) {
        out.push_back(first ? '{' : ',');
        first = false;
        append_string(out, k);
        out.push_back(':');
    }
    void str(std::string_view k, std::string_view v) {
        key(k);
        append_string(out, v);
    }
    void str_or_null(std::string_view k, std::string_view v) {
        if (v.empty()) {
            key(k);
            out += "null";
        } else {
            str(k, v);
        }
    }
    void num(std::string_view k, int64_t v) {
        key(k);
        out += std::to_string(v);
    }
};

}  // namespace

std::string MessageRecord::to_json_text() const {
    std::string out;
    out.reserve(512 + body.size() + to.size());
    Writer w{out};
    w.str("id", id);
    w.str("event_id", event_id);
    w.str("dossier_code", dossier_code);
    w.str("channel", channel);
    w.str_or_null("provider", provider);
    w.str("to", to);
    w.str("state", state);
    w.num("attempts", attempts);
    w.key("last_error");
    if (last_error_reason.empty()) {
        out += "null";
    } else {
        out += "{\"reason\":";
        append_string(out, last_error_reason);
        out += ",\"detail\":";
        append_string(out, last_error_detail);
        out.push_back('}');
    }
    w.str_or_null("provider_message_id", provider_message_id);
    w.str("created_at", rfc3339_utc(created_at_ms));
    w.str("updated_at", rfc3339_utc(updated_at_ms));
    w.num("created_at_ms", created_at_ms);
    w.num("updated_at_ms", updated_at_ms);
    if (channel == "sms") {
        w.str_or_null("encoding", encoding);
        w.num("segments", segments);
        w.str("body", body);
    } else if (channel == "email") {
        w.str("subject", subject);
        w.str("body", body);
    } else if (channel == "zalo") {
        w.str("template_id", template_id);
    }
    if (!reminder.empty()) {
        w.str("reminder", reminder);
        w.str("due_at", rfc3339_utc(due_at_ms));
        w.num("due_at_ms", due_at_ms);
    }
    w.str("agency", agency);
    w.str("procedure", procedure);
    if (!telco.empty()) w.str("telco", telco);
    w.num("cost_dong", cost_dong);
    w.num("event_at_ms", event_at_ms);
    if (sent_at_ms) w.num("sent_at_ms", sent_at_ms);
    if (delivered_at_ms) w.num("delivered_at_ms", delivered_at_ms);
    out.push_back('}');
    return out;
}

namespace {
std::string str_of(const json::object& o, std::string_view k) {
    auto* v = o.if_contains(k);
    if (v && v->is_string()) return std::string(v->as_string());
    return {};
}
int64_t int_of(const json::object& o, std::string_view k) {
    auto* v = o.if_contains(k);
    if (v && v->is_int64()) return v->as_int64();
    if (v && v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    return 0;
}
}  // namespace

std::optional<MessageRecord> MessageRecord::from_json(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    auto& o = v.as_object();
    MessageRecord r;
    r.id = str_of(o, "id");
    r.event_id = str_of(o, "event_id");
    r.dossier_code = str_of(o, "dossier_code");
    r.channel = str_of(o, "channel");
    r.provider = str_of(o, "provider");
    r.to = str_of(o, "to");
    r.state = str_of(o, "state");
    r.attempts = static_cast<int>(int_of(o, "attempts"));
    if (auto* e = o.if_contains("last_error"); e && e->is_object()) {
        r.last_error_reason = str_of(e->as_object(), "reason");
        r.last_error_detail = str_of(e->as_object(), "detail");
    }
    r.provider_message_id = str_of(o, "provider_message_id");
    r.created_at_ms = int_of(o, "created_at_ms");
    r.updated_at_ms = int_of(o, "updated_at_ms");
    r.encoding = str_of(o, "encoding");
    r.segments = static_cast<int>(int_of(o, "segments"));
    r.body = str_of(o, "body");
    r.subject = str_of(o, "subject");
    r.template_id = str_of(o, "template_id");
    r.reminder = str_of(o, "reminder");
    r.due_at_ms = int_of(o, "due_at_ms");
    r.agency = str_of(o, "agency");
    r.procedure = str_of(o, "procedure");
    r.telco = str_of(o, "telco");
    r.cost_dong = int_of(o, "cost_dong");
    r.event_at_ms = int_of(o, "event_at_ms");
    r.sent_at_ms = int_of(o, "sent_at_ms");
    r.delivered_at_ms = int_of(o, "delivered_at_ms");
    return r;
}

std::string message_id(std::string_view event_id, std::string_view entry_id,
                       std::string_view channel) {
    std::string input;
    input.reserve(event_id.size() + entry_id.size() + channel.size() + 2);
    input.append(event_id).push_back('\0');
    input.append(entry_id).push_back('\0');
    input.append(channel);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
    static const char* alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    std::string id = "m";
    // 125 bits of the digest, 5 bits per character.
    uint64_t acc = 0;
    int bits = 0;
    size_t i = 0;
    while (id.size() < 26) {
        if (bits < 5) {
            acc = (acc << 8) | md[i++];
            bits += 8;
        }
        id.push_back(alphabet[(acc >> (bits - 5)) & 31]);
        bits -= 5;
    }
    return id;
}

}  // namespace tinbao

namespace tinbao {

std::string reminder_key(std::string_view rule, std::string_view dossier_code) {
    std::string id = message_id("reminder", rule, dossier_code);
    id.front() = 'r';
    return id;
}

std::string reminder_message_id(std::string_view rule, std::string_view dossier_code,
                                int occurrence, std::string_view channel) {
    std::string id =
        message_id(reminder_key(rule, dossier_code), std::to_string(occurrence), channel);
    id.front() = 'r';
    return id;
}

}  // namespace tinbao
