#include "daemon/pipeline/feedback.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "daemon/pipeline/client_callbacks.hpp"

namespace json = boost::json;

namespace tinbao::feedback {

std::string_view to_string(Outcome o) {
    switch (o) {
        case Outcome::stored:
            return "stored";
        case Outcome::repeat:
            return "repeat";
        case Outcome::unknown_message:
            return "unknown_message";
        case Outcome::unavailable:
            return "unavailable";
    }
    return "unavailable";
}

namespace {

std::string text_of(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::optional<FeedbackRecord> record_of(std::string_view provider, Channel channel,
                                        const RatingReport& report, const json::object& message,
                                        int64_t now) {
    FeedbackRecord f;
    f.message_id = text_of(message, "id");
    f.event_id = text_of(message, "event_id");
    f.dossier_code = text_of(message, "dossier_code");
    f.channel = text_of(message, "channel");
    if (f.message_id != report.message_id || f.dossier_code.empty() ||
        f.channel != tinbao::to_string(channel))
        return std::nullopt;
    f.id = std::string(provider) + ":" + report.answer_id;
    f.provider = std::string(provider);
    // The provider's id of the copy the citizen rated (a resend has another).
    f.provider_message_id = report.provider_message_id;
    f.rating = report.rating;
    f.comments = report.comments;
    f.note = report.note;
    f.submitted_at_ms = report.submitted_ms;
    f.received_at_ms = now;
    return f;
}

std::optional<queue::Notice> notice_of(const Config& cfg, const FeedbackRecord& f) {
    json::object data;
    data["feedback_id"] = f.id;
    data["event_id"] = f.event_id;
    data["dossier_code"] = f.dossier_code;
    data["message_id"] = f.message_id;
    data["channel"] = f.channel;
    data["provider"] = f.provider;
    data["provider_message_id"] =
        f.provider_message_id.empty() ? json::value(nullptr) : json::value(f.provider_message_id);
    data["rating"] = f.rating;
    json::array comments;
    for (const auto& c : f.comments) comments.emplace_back(c);
    data["comments"] = std::move(comments);
    data["note"] = f.note;
    data["submitted_at"] = rfc3339_utc(f.submitted_at_ms);
    data["received_at"] = rfc3339_utc(f.received_at_ms);
    return callbacks::make_notice(cfg, "feedback.received", f.id, std::move(data),
                                  f.received_at_ms);
}

boost::asio::awaitable<Outcome> record(queue::Queue& queue, const Config& cfg, std::string provider,
                                       Channel channel, RatingReport report) {
    if (report.message_id.empty()) co_return Outcome::unknown_message;
    Result<json::value> found = co_await queue.message_record(report.message_id);
    if (!found) {
        co_return found.error() == Errc::not_found ? Outcome::unknown_message
                                                   : Outcome::unavailable;
    }
    if (!found->is_object()) co_return Outcome::unknown_message;
    auto f = record_of(provider, channel, report, found->get_object(), now_ms());
    if (!f) co_return Outcome::unknown_message;
    std::vector<queue::Notice> notices;
    if (auto n = notice_of(cfg, *f)) notices.push_back(std::move(*n));
    Result<bool> added = co_await queue.add_feedback(*f, notices);
    if (!added) co_return Outcome::unavailable;
    co_return *added ? Outcome::stored : Outcome::repeat;
}

}  // namespace tinbao::feedback
