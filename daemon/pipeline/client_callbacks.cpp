#include "daemon/pipeline/client_callbacks.hpp"

#include <boost/json/serialize.hpp>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/redact.hpp"
#include "common/time.hpp"

namespace json = boost::json;

namespace tinbao::callbacks {

bool enabled(const Config& cfg) {
    if (cfg.queue.status_stream) return true;
    for (auto& c : cfg.http.clients)
        if (c.callbacks) return true;
    return false;
}

std::string webhook_id(std::string_view client, std::string_view kind, std::string_view subject) {
    std::string key;
    key.append(client).push_back('\n');
    key.append(kind).push_back('\n');
    key.append(subject);
    return "msg_" + hex_encode(sha256(key)).substr(0, 32);
}

std::optional<queue::Notice> make_notice(const Config& cfg, std::string_view kind,
                                         std::string_view subject, json::object data,
                                         int64_t timestamp_ms, std::string_view only_client) {
    queue::Notice n;
    n.kind = std::string(kind);
    n.stream = cfg.queue.status_stream && only_client.empty();
    for (auto& c : cfg.http.clients) {
        if (!c.callbacks || !c.callbacks->wants(kind)) continue;
        if (!only_client.empty() && c.name != only_client) continue;
        n.to.emplace_back(c.name, webhook_id(c.name, kind, subject));
    }
    if (n.to.empty() && !n.stream) return std::nullopt;
    json::object doc;
    doc["kind"] = n.kind;
    for (auto& kv : data) doc[kv.key()] = std::move(kv.value());
    if (!doc.contains("at")) doc["at"] = rfc3339_utc(timestamp_ms > 0 ? timestamp_ms : now_ms());
    n.body = json::serialize(doc);
    return n;
}

boost::asio::awaitable<Result<void>> emit(queue::Queue& queue, const Config& cfg,
                                          std::string_view kind, std::string_view subject,
                                          json::object data, std::string_view only_client) {
    auto n = make_notice(cfg, kind, subject, std::move(data), 0, only_client);
    if (!n) co_return Result<void>();
    std::vector<queue::Notice> notices;
    notices.push_back(std::move(*n));
    Result<void> written = co_await queue.enqueue_notices(notices);
    co_return written;
}

namespace {

// Increases with every change of the message that makes a call-back: the receiver keeps the
// document with the highest. An attempt's outcome, then a delivery report of that attempt; a
// replay makes more attempts.
int64_t sequence(const MessageRecord& rec, bool from_report) {
    return int64_t{rec.attempts} * 4 + (from_report ? 2 : 1);
}

std::string_view message_kind(std::string_view st) {
    if (st == state::kSent) return "message.sent";
    if (st == state::kDelivered) return "message.delivered";
    if (st == state::kFailed) return "message.failed";
    if (st == state::kExpired) return "message.expired";
    return {};
}

}  // namespace

std::optional<queue::Notice> message_notice(const Config& cfg, const MessageRecord& rec,
                                            bool from_report) {
    std::string_view kind = message_kind(rec.state);
    if (kind.empty()) return std::nullopt;
    const int64_t seq = sequence(rec, from_report);
    json::object data;
    data["event_id"] = rec.event_id;
    data["dossier_code"] = rec.dossier_code;
    data["message_id"] = rec.id;
    data["channel"] = rec.channel;
    data["provider"] = rec.provider.empty() ? json::value(nullptr) : json::value(rec.provider);
    data["to"] = mask_address(rec.to);
    data["state"] = rec.state;
    data["reason"] =
        rec.last_error_reason.empty() ? json::value(nullptr) : json::value(rec.last_error_reason);
    if (rec.channel == "sms") data["segments"] = rec.segments;
    data["attempts"] = rec.attempts;
    data["sequence"] = seq;
    data["created_at"] = rfc3339_utc(rec.created_at_ms);
    data["updated_at"] = rfc3339_utc(rec.updated_at_ms);
    std::string subject = rec.id + "/" + std::to_string(seq);
    return make_notice(cfg, kind, subject, std::move(data), rec.updated_at_ms);
}

void add_commit_notices(const Config& cfg, queue::Commit& c) {
    if (!enabled(cfg)) return;
    bool any_settled = c.skipped;
    for (auto& m : c.messages) {
        if (is_settled(m.state)) any_settled = true;
        if (auto n = message_notice(cfg, m, false)) c.notices.push_back(std::move(*n));
    }
    if (!any_settled || c.event_id.empty()) return;
    json::object data;
    data["event_id"] = c.event_id;
    data["dossier_code"] = c.dossier_code;
    data["status"] = c.status;
    data["state"] = queue::kEventStateMark;  // the queue writes the state the commit leaves
    if (auto n = make_notice(cfg, "event.settled", c.event_id, std::move(data))) {
        n->if_settles = true;
        c.notices.push_back(std::move(*n));
    }
}

queue::ReportNotices report_notices(std::shared_ptr<const Config> cfg) {
    if (!cfg || !enabled(*cfg)) return {};
    return [cfg](const MessageRecord& rec) {
        std::vector<queue::Notice> out;
        if (auto n = message_notice(*cfg, rec, true)) out.push_back(std::move(*n));
        return out;
    };
}

std::string signature_header(const std::vector<std::string>& secrets, std::string_view id,
                             int64_t timestamp_s, std::string_view body) {
    std::string signed_text;
    signed_text.append(id).push_back('.');
    signed_text.append(std::to_string(timestamp_s)).push_back('.');
    signed_text.append(body);
    std::string out;
    for (auto& secret : secrets) {
        constexpr std::string_view kPrefix = "whsec_";
        std::string_view b64 = secret;
        if (b64.substr(0, kPrefix.size()) == kPrefix) b64.remove_prefix(kPrefix.size());
        auto key = base64_decode(b64);
        if (!key) continue;  // the config loader accepts none such
        if (!out.empty()) out.push_back(' ');
        out += "v1," + base64_encode(hmac_sha256(*key, signed_text));
    }
    return out;
}

}  // namespace tinbao::callbacks
