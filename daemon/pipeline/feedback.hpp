// Citizens' ratings of the service (docs/api.md "Feedback", docs/callbacks.md
// `feedback.received`): a provider's RatingReport matched to the message it answers (by
// tinbao's message id, which Zalo echoes as tracking_id), stored once with its
// feedback.received call-backs in the same durable write (Queue::add_feedback).
//
// A rating of a message tinbao does not know (another system's message through the same OA, or
// one whose record has expired) is counted and logged, not stored: it belongs to no dossier.
//
// record_of() and notice_of() are pure; record() runs on the queue's executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/config/config.hpp"
#include "daemon/model/records.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/provider.hpp"

namespace tinbao::feedback {

enum class Outcome {
    stored,           // new: kept, and its call-backs queued
    repeat,           // the same answer seen before (a call-back retried): nothing new
    unknown_message,  // no such message (or not one of this channel): not kept
    unavailable,      // the queue could not be read or written: the provider is to send it again
};
std::string_view to_string(Outcome o);

// The record of `report` (from provider `provider`, on `channel`) answering the message whose
// record, as the API shows it, is `message`; received at `now_ms`. nullopt when `message` is not
// a message of that channel.
std::optional<FeedbackRecord> record_of(std::string_view provider, Channel channel,
                                        const RatingReport& report,
                                        const boost::json::object& message, int64_t now_ms);

// The feedback.received notice of `f` (nullopt: no client wants the kind and the status stream
// is off). Its webhook-id's subject is the feedback id: the same answer is one call-back.
std::optional<queue::Notice> notice_of(const Config& cfg, const FeedbackRecord& f);

// Matches `report` to its message, and stores it with its notice.
boost::asio::awaitable<Outcome> record(queue::Queue& queue, const Config& cfg, std::string provider,
                                       Channel channel, RatingReport report);

}  // namespace tinbao::feedback
