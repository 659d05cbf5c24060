#include "providers/zalo_zns/zalo_internal.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cctype>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/time.hpp"
#include "providers/adapter_util.hpp"

namespace tinbao::zalo {

namespace json = boost::json;

using adapter::clean;
using adapter::scalar_text;

namespace {

// The first of `names` that `o` has (Zalo's webhook writes snake_case; the rating API, as public
// integrations read it, camelCase).
const json::value* field(const json::object& o, std::initializer_list<std::string_view> names) {
    for (auto name : names)
        if (const json::value* v = o.if_contains(name)) return v;
    return nullptr;
}

// A citizen's text as it may be kept: at most `max` bytes, cut at a character boundary, control
// characters other than a line break made spaces. The JSON parser has checked it is UTF-8.
std::string citizen_text(std::string_view s, std::size_t max) {
    if (s.size() > max) {
        s = s.substr(0, max);
        std::size_t end = s.size();
        // Back off to the start of the last character, and drop it unless it is complete.
        std::size_t lead = end;
        while (lead > 0 && (static_cast<unsigned char>(s[lead - 1]) & 0xC0) == 0x80) --lead;
        if (lead > 0) {
            auto c = static_cast<unsigned char>(s[lead - 1]);
            std::size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (end - (lead - 1) < len) s = s.substr(0, lead - 1);
        }
    }
    std::string out;
    out.reserve(s.size());
    for (char c : s) out.push_back(static_cast<unsigned char>(c) < 0x20 && c != '\n' ? ' ' : c);
    return out;
}

}  // namespace

std::optional<RatingReport> rating_of(const json::object& message) {
    RatingReport r;
    r.provider_message_id = clean(scalar_text(field(message, {"msg_id", "msgId"})), 100);
    r.message_id = clean(scalar_text(field(message, {"tracking_id", "trackingId"})), 100);
    auto submitted = scalar_int(field(message, {"submit_time", "submitDate", "submit_date"}));
    auto rate = scalar_int(message.if_contains("rate"));
    if (r.provider_message_id.empty() || !submitted || *submitted <= 0 || !rate || *rate < 1 ||
        *rate > 5)
        return std::nullopt;
    r.rating = static_cast<int>(*rate);
    r.submitted_ms = *submitted;
    r.answer_id = r.provider_message_id + ":" + std::to_string(r.submitted_ms);
    r.note = citizen_text(scalar_text(message.if_contains("note")), kMaxNoteBytes);
    if (const json::value* f = field(message, {"feedbacks", "feedback"}); f && f->is_array()) {
        for (const json::value& c : f->get_array()) {
            if (r.comments.size() >= kMaxComments) break;
            std::string text = citizen_text(scalar_text(&c), kMaxCommentBytes);
            if (!text.empty()) r.comments.push_back(std::move(text));
        }
    }
    return r;
}

std::optional<CallbackResult> handle_webhook(const std::string& provider_name,
                                             const ZaloConfig& config,
                                             const CallbackRequest& request,
                                             bool& logged_oa_variant, int64_t now_ms) {
    if (config.webhook_secret.empty()) return std::nullopt;
    CallbackResult out;
    auto reject = [&](int status, std::string_view why) {
        CallbackResult r;
        r.status = status;
        json::object e;
        e["error"] = json::object{{"code", why}};
        r.body = json::serialize(e);
        return r;
    };
    if (request.method != "POST") return reject(405, "method_not_allowed");
    std::string signature;
    for (const auto& [k, v] : request.headers)
        if (k == "x-zevent-signature") signature = v;
    if (signature.starts_with("mac=")) signature.erase(0, 4);
    for (char& c : signature) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (signature.empty()) return reject(401, "missing_signature");

    boost::system::error_code ec;
    json::value v = json::parse(request.body, ec);
    const json::object* obj = (!ec && v.is_object()) ? &v.get_object() : nullptr;
    std::string timestamp = obj ? scalar_text(obj->if_contains("timestamp")) : "";
    std::string oa_id;
    if (obj) {
        if (auto* s = obj->if_contains("sender"); s && s->is_object())
            oa_id = scalar_text(s->get_object().if_contains("id"));
        if (oa_id.empty()) oa_id = scalar_text(obj->if_contains("oa_id"));  // user_feedback
    }
    // Zalo documents app id first; community code reports the OA id. Both need the secret.
    bool good = constant_time_equal(
        signature,
        hex_encode(sha256(config.app_id + request.body + timestamp + config.webhook_secret)));
    if (!good && !oa_id.empty()) {
        good = constant_time_equal(signature, hex_encode(sha256(oa_id + request.body + timestamp +
                                                                config.webhook_secret)));
        if (good && !logged_oa_variant) {
            logged_oa_variant = true;
            spdlog::info("zalo_zns {}: webhook signatures use the OA id variant", provider_name);
        }
    }
    if (!good) {
        spdlog::warn("zalo_zns {}: webhook with a bad X-ZEvent-Signature refused", provider_name);
        return reject(401, "bad_signature");
    }
    if (!obj) return reject(400, "invalid_json");
    // The timestamp is inside the signed text, so it cannot be moved without the secret.
    const auto sent_ms = scalar_int(obj->if_contains("timestamp"));
    const int64_t window = config.webhook_window.count();
    if (!sent_ms || *sent_ms < add_saturated(now_ms, -window) ||
        *sent_ms > add_saturated(now_ms, window)) {
        spdlog::warn("zalo_zns {}: webhook timestamp outside the {} s window refused",
                     provider_name, window / 1000);
        return reject(401, "stale_timestamp");
    }

    std::string event = scalar_text(obj->if_contains("event_name"));
    const json::value* m = obj->if_contains("message");
    if (!m || !m->is_object()) return out;
    const json::object& message = m->get_object();
    if (event == "user_feedback") {
        if (auto rating = rating_of(message)) {
            out.ratings.push_back(std::move(*rating));
        } else {
            spdlog::warn(
                "zalo_zns {}: a user_feedback without msg_id, submit_time or a rate of 1 "
                "to 5 was ignored",
                provider_name);
        }
        return out;
    }
    if (event != "user_received_message") return out;
    std::string tracking_id = scalar_text(message.if_contains("tracking_id"));
    // An OA-to-user message uses the same event name without tracking_id/delivery_time.
    if (tracking_id.empty()) return out;
    DeliveryUpdate u;
    u.message_id = clean(tracking_id, 100);
    u.provider_message_id = clean(scalar_text(message.if_contains("msg_id")), 100);
    u.dedupe_key = u.provider_message_id;
    u.state = "delivered";
    if (auto t = scalar_int(message.if_contains("delivery_time")))
        u.detail = "delivered at " + rfc3339_utc(*t);
    out.updates.push_back(std::move(u));
    return out;
}

}  // namespace tinbao::zalo
