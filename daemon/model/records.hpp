// Message and event records (docs/api.md): what the API shows and the queue stores.
// Plain values; thread-safe to copy.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"

namespace tinbao {

namespace state {
inline constexpr std::string_view kQueued = "queued";
inline constexpr std::string_view kSending = "sending";
inline constexpr std::string_view kSent = "sent";
inline constexpr std::string_view kDelivered = "delivered";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kExpired = "expired";
inline constexpr std::string_view kSkipped = "skipped";
inline constexpr std::string_view kSuperseded = "superseded";
// event states
inline constexpr std::string_view kAccepted = "accepted";
inline constexpr std::string_view kDone = "done";
}  // namespace state

bool is_settled(std::string_view message_state);
bool is_success(std::string_view message_state);  // sent or delivered

struct MessageRecord {
    std::string id;
    std::string event_id;
    std::string dossier_code;
    std::string channel;
    std::string provider;
    std::string to;
    std::string state{state::kQueued};
    int attempts = 0;
    std::string last_error_reason;
    std::string last_error_detail;
    std::string provider_message_id;
    int64_t created_at_ms = 0;
    int64_t updated_at_ms = 0;
    // sms
    std::string encoding;
    int segments = 0;
    std::string body;
    // email / zalo details kept for the record
    std::string subject;
    std::string template_id;
    // A reminder (config `reminders:`): the rule that scheduled it and when it is due (Unix ms);
    // empty and 0 for the notice of an event.
    std::string reminder;
    int64_t due_at_ms = 0;
    // usage (docs/usage.md): who the message was sent for and what it cost
    std::string agency;           // a configured agency code, or "other"
    std::string procedure;        // dossier.procedure.code as the event gave it (may be empty)
    std::string telco;            // sms: the carrier by the number's prefix
    int64_t cost_dong = 0;        // by the price table, once a provider accepted the message
    int64_t event_at_ms = 0;      // when tinbao accepted the event
    int64_t sent_at_ms = 0;       // when a provider accepted the message (0: not yet)
    int64_t delivered_at_ms = 0;  // when its delivery was reported (0: not reported)

    boost::json::object to_json() const;
    // The same document as serialize(to_json()), written straight into a string (the queue
    // stores one per message, twice per event).
    std::string to_json_text() const;
    static std::optional<MessageRecord> from_json(std::string_view text);
};

struct EventRecord {
    std::string event_id;
    std::string dossier_code;
    std::string status;
    std::string state{state::kAccepted};
    std::vector<std::string> message_ids;
    int64_t created_at_ms = 0;
    int64_t updated_at_ms = 0;
};

// A citizen's answer to a message (docs/api.md "Feedback"): a rating of the service through a
// Zalo ZNS rating template, kept against the message, its event and its dossier.
struct FeedbackRecord {
    std::string id;  // "<provider>:<the provider's id of the answer>": stored once
    std::string kind{"rating"};
    std::string message_id;
    std::string event_id;
    std::string dossier_code;
    std::string channel;
    std::string provider;
    std::string provider_message_id;
    int rating = 0;                     // 1 to 5 stars
    std::vector<std::string> comments;  // the comments the citizen ticked
    std::string note;                   // what the citizen wrote
    int64_t submitted_at_ms = 0;        // when the citizen sent it
    int64_t received_at_ms = 0;         // when tinbao learnt of it

    boost::json::object to_json() const;
};

// Deterministic message id for (event, stream entry, channel): the same after a crash and
// redelivery, so providers deduplicate a resend by it. 26 characters: "m" + 25 base32 chars.
//
// The stream entry is in it on purpose. Without it, an event_id posted again after dedupe_ttl
// (a new notification, docs/api.md) would reuse its first notification's ids: the first one's
// records (kept for `retention`, which may outlast dedupe_ttl: usage, cost, the dossier's
// history), dead letters and delivery reports would be overwritten by or mixed with the new
// one's, the SMPP adapter's state of accepted parts would say it was sent, and a provider that
// deduplicates client ids over a longer window would drop it. An entry claimed before an upgrade
// and resumed after it would change ids too. What the entry costs: a client's retry of an event
// answered 503 is a new entry (a new id) when a failover lost the first; with
// queue.redis.min_replicas nothing is sent from an entry before the replicas have it
// (RedisQueue::read), so such a first copy was never sent.
std::string message_id(std::string_view event_id, std::string_view entry_id, std::string_view channel);

// A reminder's ids, from its rule and its dossier alone, so that a second copy of the event that
// scheduled it (another event id, another instance) finds the same reminder. Both start with
// "r" (message ids with "m"), 26 characters: the reminder's key (the event it is recorded under)
// and the message of one occurrence (1, 2, ...) on one channel.
std::string reminder_key(std::string_view rule, std::string_view dossier_code);
std::string reminder_message_id(std::string_view rule, std::string_view dossier_code,
                                int occurrence, std::string_view channel);
inline bool is_reminder_id(std::string_view id) { return !id.empty() && id.front() == 'r'; }

}  // namespace tinbao
