#include "daemon/pipeline/event.hpp"

#include "common/time.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

#include "daemon/render/unicode.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

EventParse fail(std::string code, std::string message, std::string field = {}) {
    EventParse r;
    r.error = EventError{std::move(code), std::move(message), std::move(field)};
    return r;
}

EventParse invalid(std::string field, std::string message) {
    return fail("invalid_event", std::move(message), std::move(field));
}

std::string join(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    std::string out = parent;
    out += '.';
    out += key;
    return out;
}

// Where a value sits in the document ("applicant.phones[1]"), built only for an error message.
struct Path {
    const Path* parent = nullptr;
    std::string_view key;  // an object member, or
    std::size_t index = 0; // an array element when key is empty and parent is set
    bool is_index = false;

    std::string str() const {
        if (!parent) return std::string();  // the document itself
        std::string out = parent->str();
        if (is_index) return out + "[" + std::to_string(index) + "]";
        return join(out, key);
    }
};

// A control character at the start of `s` (C0, DEL, C1, U+2028 LINE SEPARATOR, U+2029
// PARAGRAPH SEPARATOR): its length in bytes, else 0. `s` is valid UTF-8.
std::size_t control_at(std::string_view s) {
    const auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x20 || b0 == 0x7F) return 1;
    const auto b1 = s.size() > 1 ? static_cast<unsigned char>(s[1]) : 0;
    if (b0 == 0xC2 && b1 >= 0x80 && b1 <= 0x9F) return 2;
    if (b0 == 0xE2 && b1 == 0x80 && s.size() > 2 &&
        (static_cast<unsigned char>(s[2]) == 0xA8 || static_cast<unsigned char>(s[2]) == 0xA9))
        return 3;
    return 0;
}

// Every value is one line of text: a run of control characters becomes one space, so a CR/LF
// in a name cannot add lines (or headers) to an SMS, an email or a log line. nullopt when
// there is nothing to replace (the common case: no copy).
std::optional<std::string> single_line(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && control_at(s.substr(i)) == 0) ++i;
    if (i == s.size()) return std::nullopt;
    std::string out(s.substr(0, i));
    while (i < s.size()) {
        if (std::size_t n = control_at(s.substr(i))) {
            if (out.empty() || out.back() != ' ') out.push_back(' ');
            i += n;
        } else {
            out.push_back(s[i++]);
        }
    }
    return out;
}

// Every string of the document, keys included, is replaced by its NFC form, and every value but
// `event_id` (checked strictly below) made one line; strings over the limit are refused with
// their path, and so are numbers JSON text can hold but a double cannot (1e400): written back
// they would not be the number sent. Depth is already bounded by the parser. Text that is
// already NFC (almost all of it) is left in place without a copy.
std::optional<EventError> normalise(json::value& v, const Path& path, const EventLimits& limits) {
    auto too_long = [&](const Path& where) {
        return EventError{"invalid_event",
                          "string longer than " + std::to_string(limits.max_string_bytes) +
                              " bytes",
                          where.str()};
    };
    switch (v.kind()) {
        case json::kind::string: {
            json::string& s = v.get_string();
            if (s.size() > limits.max_string_bytes) return too_long(path);
            std::string_view sv(s.data(), s.size());
            if (!text::stable_nfc(sv)) {
                auto n = text::nfc(sv);
                if (!n) return EventError{"invalid_utf8", "string is not valid UTF-8", path.str()};
                if (n->size() > limits.max_string_bytes) return too_long(path);
                s = *n;
            }
            const bool event_id = path.parent && !path.parent->parent && path.key == "event_id";
            if (!event_id)
                if (auto line = single_line(std::string_view(s.data(), s.size()))) s = *line;
            return std::nullopt;
        }
        case json::kind::double_:
            if (!std::isfinite(v.get_double()))
                return EventError{"invalid_event", "number out of range (must fit a double)",
                                  path.str()};
            return std::nullopt;
        case json::kind::array: {
            json::array& a = v.get_array();
            for (std::size_t i = 0; i < a.size(); ++i) {
                Path p{&path, {}, i, true};
                if (auto e = normalise(a[i], p, limits)) return e;
            }
            return std::nullopt;
        }
        case json::kind::object: {
            json::object& o = v.get_object();
            bool keys_stable = true;
            for (auto& kv : o) {
                std::string_view key = kv.key();
                if (key.size() > limits.max_string_bytes) {
                    return EventError{"invalid_event",
                                      "object key longer than " +
                                          std::to_string(limits.max_string_bytes) + " bytes",
                                      path.str()};
                }
                if (!text::stable_nfc(key)) keys_stable = false;
            }
            if (keys_stable) {
                for (auto& kv : o) {
                    Path p{&path, kv.key(), 0, false};
                    if (auto e = normalise(kv.value(), p, limits)) return e;
                }
                return std::nullopt;
            }
            // Some key changes under NFC: the object is rebuilt with the normalised keys.
            json::object out(o.storage());
            out.reserve(o.size());
            for (auto& kv : o) {
                auto k = text::nfc(kv.key());
                if (!k) return EventError{"invalid_utf8", "key is not valid UTF-8", path.str()};
                Path p{&path, *k, 0, false};
                if (auto e = normalise(kv.value(), p, limits)) return e;
                out.insert_or_assign(*k, std::move(kv.value()));
            }
            o = std::move(out);
            return std::nullopt;
        }
        default:
            return std::nullopt;
    }
}

// Present and not null.
const json::value* member(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return nullptr;
    return v;
}

std::size_t code_points(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

bool ends_with_at(std::string_view key) {
    return key.size() > 3 && key.substr(key.size() - 3) == "_at";
}

// Every `*_at` member of `o` that is present must be an RFC 3339 string.
std::optional<EventParse> check_times(const json::object& o, const std::string& parent) {
    for (const auto& kv : o) {
        if (!ends_with_at(kv.key()) || kv.value().is_null()) continue;
        const std::string field = join(parent, kv.key());
        if (!kv.value().is_string() || !valid_rfc3339(kv.value().get_string()))
            return invalid(field, "must be an RFC 3339 date-time (2026-11-27T08:15:00+07:00)");
    }
    return std::nullopt;
}

}  // namespace

std::string one_line(std::string_view s) {
    auto line = single_line(s);
    return line ? std::move(*line) : std::string(s);
}

bool valid_rfc3339(std::string_view s) { return parse_rfc3339_ms(s).has_value(); }

EventParse parse_event(std::string_view body,
                       const std::function<std::optional<std::string>(std::string_view)>& canonical,
                       const EventLimits& limits) {
    // Checked on the raw bytes first, so a bad byte is reported as such and not as a JSON error.
    if (!text::valid_utf8(body)) return fail("invalid_utf8", "the body is not valid UTF-8");

    json::parse_options opts;
    opts.max_depth = limits.max_depth;
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec, json::storage_ptr(), opts);
    if (ec == json::error::too_deep)
        return fail("invalid_event",
                    "nesting deeper than " + std::to_string(limits.max_depth) + " levels");
    if (ec) return fail("invalid_json", "the body is not valid JSON: " + ec.message());
    if (!doc.is_object()) return fail("invalid_event", "the event must be a JSON object");

    if (auto e = normalise(doc, Path{}, limits)) {
        EventParse r;
        r.error = std::move(*e);
        return r;
    }

    json::object& root = doc.get_object();
    Event ev;

    // event_id
    const json::value* id = member(root, "event_id");
    if (id == nullptr) return invalid("event_id", "required");
    if (!id->is_string()) return invalid("event_id", "must be a string");
    {
        const json::string& s = id->get_string();
        if (s.empty() || s.size() > 128)
            return invalid("event_id", "must be 1 to 128 printable ASCII characters");
        for (char c : s)
            if (c < 0x20 || c > 0x7E)
                return invalid("event_id", "must be 1 to 128 printable ASCII characters");
        ev.event_id.assign(s.data(), s.size());
    }

    // dossier
    const json::value* dossier_v = member(root, "dossier");
    if (dossier_v == nullptr) return invalid("dossier", "required");
    if (!dossier_v->is_object()) return invalid("dossier", "must be an object");
    const json::object& dossier = dossier_v->get_object();

    const json::value* code = member(dossier, "code");
    if (code == nullptr) return invalid("dossier.code", "required");
    if (!code->is_string()) return invalid("dossier.code", "must be a string");
    {
        std::string_view s = code->get_string();
        std::size_t n = code_points(s);
        if (n < 1 || n > 64) return invalid("dossier.code", "must be 1 to 64 characters");
        ev.dossier_code = std::string(s);
    }

    const json::value* status = member(dossier, "status");
    if (status == nullptr) return invalid("dossier.status", "required");
    if (!status->is_string()) return invalid("dossier.status", "must be a string");
    ev.original_status = std::string(std::string_view(status->get_string()));
    {
        std::optional<std::string> c = canonical ? canonical(ev.original_status) : std::nullopt;
        if (!c)
            return invalid("dossier.status", "unknown status \"" + ev.original_status +
                                                 "\": neither a canonical status nor a "
                                                 "configured alias (statuses.aliases)");
        ev.status = std::move(*c);
    }

    // Who the dossier is handled by, and under which procedure: usage and cost are counted by
    // them. Optional; a code that is not a short string is not used.
    for (auto [key, out] :
         {std::pair{"agency", &ev.agency_code}, std::pair{"procedure", &ev.procedure_code}}) {
        const json::value* v = member(dossier, key);
        if (v == nullptr || !v->is_object()) continue;
        const json::value* c = member(v->get_object(), "code");
        if (c == nullptr || !c->is_string()) continue;
        std::string_view s = c->get_string();
        if (!s.empty() && s.size() <= 64) *out = std::string(s);
    }

    if (const json::value* fee = member(dossier, "fee")) {
        bool ok = (fee->is_int64() && fee->get_int64() >= 0) || fee->is_uint64();
        if (!ok) return invalid("dossier.fee", "must be a non-negative integer (đồng)");
    }

    // applicant
    const json::value* applicant_v = member(root, "applicant");
    if (applicant_v == nullptr) return invalid("applicant", "required");
    if (!applicant_v->is_object()) return invalid("applicant", "must be an object");
    const json::object& applicant = applicant_v->get_object();
    struct Contact {
        const char* key;
        std::string* out;
    };
    for (Contact c : {Contact{"phone", &ev.phone}, Contact{"email", &ev.email},
                      Contact{"zalo_user_id", &ev.zalo_user_id}}) {
        const json::value* v = member(applicant, c.key);
        if (v == nullptr) continue;
        if (!v->is_string())
            return invalid(std::string("applicant.") + c.key, "must be a string or null");
        *c.out = std::string(std::string_view(v->get_string()));
    }
    if (ev.phone.empty() && ev.email.empty() && ev.zalo_user_id.empty())
        return invalid("applicant", "needs at least one of phone, email, zalo_user_id");

    // times
    if (auto e = check_times(root, "")) return std::move(*e);
    if (auto e = check_times(dossier, "dossier")) return std::move(*e);

    // channels
    if (const json::value* ch = member(root, "channels")) {
        if (!ch->is_array()) return invalid("channels", "must be an array of sms, zalo, email");
        const json::array& a = ch->get_array();
        for (std::size_t i = 0; i < a.size(); ++i) {
            const std::string field = "channels[" + std::to_string(i) + "]";
            if (!a[i].is_string()) return invalid(field, "must be \"sms\", \"zalo\" or \"email\"");
            std::string_view name = a[i].get_string();
            if (name != "sms" && name != "zalo" && name != "email")
                return invalid(field, "must be \"sms\", \"zalo\" or \"email\"");
            bool seen = false;
            for (const auto& have : ev.channels) seen = seen || have == name;
            if (!seen) ev.channels.emplace_back(name);
        }
    }

    // data
    if (const json::value* data = member(root, "data")) {
        if (!data->is_object()) return invalid("data", "must be an object");
    }

    root["dossier"].get_object()["status"] = ev.status;
    ev.json = std::move(doc);
    ev.raw = std::string(body);
    EventParse r;
    r.event = std::move(ev);
    return r;
}

}  // namespace tinbao
