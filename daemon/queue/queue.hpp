// The queue seam: what the pipeline and the API need from durable storage, whatever the backend
// (Redis Streams, or SQLite for one node). Nothing Redis-specific crosses this interface.
//
// Guarantees every backend gives:
//  - ingest() succeeds only once the event is durably stored; it fails with Errc::duplicate for
//    an event_id seen within dedupe_ttl, Errc::queue_unavailable when it cannot tell (the caller
//    answers 503).
//  - read() hands each entry to one consumer; an entry not acknowledged (commit with `ack`, ack()
//    or reject()) is handed out again after a restart or when its consumer died.
//  - claim() decides, atomically across instances, whether this entry is the one that notifies for
//    its event_id (else Errc::duplicate), and returns the records a previous attempt already wrote.
//
// Failures: every fallible call answers a Result<T> (boost::system::result) whose error is an
// Errc (daemon/model/error.hpp): queue_unavailable when the backend did not answer or could not
// write (nothing changed), not_found for a lookup of nothing, duplicate as above.
//
// Threading: all methods are awaited on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/model/error.hpp"
#include "daemon/model/event.hpp"
#include "daemon/model/records.hpp"
#include "providers/provider.hpp"

namespace tinbao::queue {

// The failure every backend answers when it did not answer or could not tell.
inline Failure unavailable() { return fail(Errc::queue_unavailable); }

struct Entry {
    std::string id;        // backend's entry id
    std::string payload;   // the event JSON
    std::string source;    // "http" or "stream"
    int64_t created_ms = 0;  // when it was queued (end-to-end latency); 0 when unknown
    // Taken by this instance at its own ingest (Queue::set_handoff), which made the claim too:
    // the event is this entry's, none of its messages has a record yet, and none of its
    // dossier's notices waited then. claim() need not be asked, unless something was
    // scheduled since.
    bool claimed = false;
};

// Entries a backend hands to this instance's consumer as it ingests them (instead of leaving
// them to read()): `room` says how many the consumer takes now, `take` receives them. They are
// this consumer's from then on, like entries read() returned.
struct Handoff {
    std::function<std::size_t()> room;
    std::function<void(std::vector<Entry>)> take;
};

// The entry that notifies for its event (a claim that did not fail with Errc::duplicate).
struct Claim {
    // Per initial message (same order), the record already stored, if any.
    std::vector<std::optional<MessageRecord>> existing;
    // Per-dossier order: an earlier notice of the same dossier waits for a later attempt until
    // then (Unix ms; 0 when none): this event's messages must not overtake it.
    int64_t blocked_until_ms = 0;
};

// A message waiting for a later attempt (a retry, the end of quiet hours, a replay). The payload
// is the pipeline's own (JSON); the queue only keeps it durable and hands it out when due.
struct Job {
    std::string message_id;
    std::string payload;
    int64_t due_ms = 0;
};

// A due job handed to one instance, leased until `lease_until_ms`; the message's current record.
struct DueJob {
    Job job;
    std::optional<MessageRecord> record;
};

// A call-back document (docs/callbacks.md) to API clients, written in the same durable write as
// the change that causes it, so a crash cannot keep the change and lose the call-back.
struct Notice {
    std::string kind;  // message.sent, message.delivered, ..., event.settled
    std::string body;  // the JSON document, sent and signed as is
    // One call-back per client that wants this kind: (client name, webhook-id).
    std::vector<std::pair<std::string, std::string>> to;
    bool stream = false;  // also appended to the status stream ({prefix}:status)
    // event.settled: written only when this write settles the event (its messages were not all
    // settled before, and are after); the event's state replaces kEventStateMark in `body`.
    bool if_settles = false;
    // A change a provider may report again (a citizen's message sent again): written only if no
    // notice with this key was written within `once_ttl_ms` (0: dedupe_ttl); the key is kept
    // with the delivery reports' dedupe keys. Empty: always written.
    std::string once_key;
    int64_t once_ttl_ms = 0;
};
inline constexpr std::string_view kEventStateMark = "@event_state@";

// A queued call-back, as the sender takes it and the dead letters list it.
struct Callback {
    std::string id;  // webhook-id: the same on every attempt
    std::string client;
    std::string kind;
    std::string body;
    int64_t created_ms = 0;
    int attempts = 0;        // attempts made so far
    std::string last_error;  // the last attempt's outcome ("http 500", "timeout", ...)
    int64_t due_ms = 0;      // next attempt; for a dead letter, when it became one
};

// What became of one attempt of a call-back.
struct CallbackOutcome {
    enum class Next { done, retry, dead };
    std::string id;
    std::string client;
    Next next = Next::done;
    int64_t due_ms = 0;  // retry: the next attempt
    int attempts = 0;
    std::string last_error;
};

// The call-backs a delivery report causes: given the record as the report left it. Called on
// whatever thread the backend writes on: it must only read what it captured.
using ReportNotices = std::function<std::vector<Notice>(const MessageRecord& changed)>;

// What an agency spent in one calendar month (local time, "2026-12"): the cost of its messages
// providers accepted, and their SMS segments (budgets, docs/usage.md).
struct Spend {
    std::string month;
    std::string agency;
    int64_t dong = 0;
    int64_t segments = 0;
};

// Everything one step of the pipeline changes, written atomically: message records, the event's
// list of messages and its state (derived from its messages by the backend), scheduled jobs,
// dead letters, the call-backs they cause, and the stream entry's acknowledgement.
struct Commit {
    const Entry* ack = nullptr;           // acknowledge this stream entry
    std::string event_id;
    std::string dossier_code;
    std::string status;
    bool skipped = false;                 // no route covers the status
    std::vector<MessageRecord> messages;  // records to write (new ids join the event's list)
    std::vector<Job> schedule;            // (re)schedule these jobs (no longer dead letters)
    std::vector<std::string> done;        // jobs finished: unscheduled, payload dropped
    std::vector<Job> dead;                // into dead letters, payload kept for a replay
    std::vector<Notice> notices;          // call-backs (and status stream entries) to queue
    std::vector<Spend> spend;             // added to the agencies' spend of the month
};

// What a delivery report found: the message's event and dossier (empty for an unknown
// message), and whether the report changed the record (not a repeat, not backwards).
struct ReportOutcome {
    std::string event_id;
    std::string dossier_code;
    bool applied = false;
};

struct DeadLetterQuery {
    std::string reason;      // empty: any
    std::size_t limit = 100;
};

// The message records a usage report reads: those created in [from_ms, to_ms), each handed to
// `visit` (on any thread: the visitor touches nothing but its own state), at most `limit`.
struct UsageQuery {
    int64_t from_ms = 0;
    int64_t to_ms = 0;
    std::size_t limit = 2000000;
};
struct UsageScan {
    std::size_t records = 0;  // handed to the visitor
    bool truncated = false;   // more records than `limit` in the period
};
using UsageVisitor = std::function<void(const MessageRecord&)>;

class Queue {
public:
    template <class T>
    using Awaitable = boost::asio::awaitable<Result<T>>;

    virtual ~Queue() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    // Whether the queue can take events now (/readyz).
    virtual bool ready() const = 0;
    virtual std::string describe() const = 0;  // for logs, no secrets
    // Optional speed-ups a backend may ignore. Hand-off: see Handoff. Coalescing: whether
    // claims must record each dossier's latest entry for dossier_has_newer (coalesce_window is
    // on); a backend may record it always.
    virtual void set_handoff(Handoff handoff) { (void)handoff; }
    virtual void set_coalescing(bool on) { (void)on; }

    // Errc::duplicate: the event_id was seen within dedupe_ttl.
    virtual Awaitable<void> ingest(const Event& event, const std::string& payload) = 0;
    // Up to `max` entries; waits at most `wait` when there are none.
    virtual Awaitable<std::vector<Entry>> read(std::size_t max,
                                               std::chrono::milliseconds wait) = 0;
    // Errc::duplicate: another entry notifies for this event.
    virtual Awaitable<Claim> claim(const Entry& entry, const Event& event,
                                   const std::vector<MessageRecord>& initial) = 0;
    // Writes a Commit atomically. On failure nothing changed (an entry stays unacknowledged, a
    // leased job comes back when its lease ends).
    virtual Awaitable<void> commit(const Commit& c) = 0;
    // Jobs due now (at most `max`), leased to this instance for `lease`.
    virtual Awaitable<std::vector<DueJob>> take_due(std::size_t max,
                                                    std::chrono::milliseconds lease) = 0;
    // Dead letters, newest first: {"dead_letters": [message records]}.
    virtual Awaitable<boost::json::value> dead_letters(const DeadLetterQuery& q) = 0;
    // The jobs of dead letters (by id, or every one matching `reason`), so the pipeline can
    // schedule them again. They stay dead letters: a commit that schedules a job takes its dead
    // letter out in the same write, so a crash before that commit leaves the dead letter in place.
    virtual Awaitable<std::vector<Job>> dead_jobs(const std::vector<std::string>& ids,
                                                  const std::string& reason) = 0;
    // Removes dead letters for good, with their kept payloads (an operator's decision that they
    // are not to be sent); their message records stay as they ended. Returns the ids that were
    // dead letters.
    virtual Awaitable<std::vector<std::string>> discard_dead(
        const std::vector<std::string>& ids) = 0;
    // Per-dossier order: the latest next attempt among the dossier's notices created before
    // `created_ms` that still wait, other than `message_id` (0: none).
    virtual Awaitable<int64_t> dossier_blocked_until(const std::string& dossier_code,
                                                     int64_t created_ms,
                                                     const std::string& message_id) = 0;
    // Coalescing: has an event of this dossier been claimed from an entry queued after
    // `entry_id`?
    virtual Awaitable<bool> dossier_has_newer(const std::string& dossier_code,
                                              const std::string& entry_id) = 0;
    // Live instances sharing this queue (for dividing rate limits); registers this one.
    virtual Awaitable<int> heartbeat_instances() = 0;
    // Delivery reports from providers (call-backs): applied once each (by dedupe_key), never
    // moving a message backwards; the event's state follows. One outcome per update, in order.
    // `notices` (when set) gives the call-backs of each applied change, written with it.
    virtual Awaitable<std::vector<ReportOutcome>> apply_updates(
        const std::vector<DeliveryUpdate>& updates, const ReportNotices& notices = {}) = 0;
    // Gauges for /metrics: stream backlog, scheduled jobs, dead letters, and how long the
    // oldest job that is due has waited to be taken, in ms (0 when none is due). -1 when
    // unknown.
    struct Gauges {
        int64_t backlog = -1, scheduled = -1, dead = -1, oldest_due_ms = -1;
        // Entries taken but held back so far, because the replicas a backend waits for did not
        // have them yet (Redis, min_replicas); -1 for a backend that never holds back.
        int64_t held_back = -1;
    };
    virtual boost::asio::awaitable<Gauges> gauges() = 0;
    // Acknowledges an entry that needs nothing more (a duplicate copy of an event).
    virtual Awaitable<void> ack(const Entry& entry) = 0;
    // An entry that is not a valid event: kept aside with the reason, and acknowledged.
    virtual Awaitable<void> reject(const Entry& entry, const std::string& reason) = 0;
    // Tells the backend these entries are still being worked on (so nobody takes them over).
    // Best effort: a failure shows as a takeover later, which the claim makes harmless.
    virtual boost::asio::awaitable<void> keep_alive(const std::vector<std::string>& entry_ids) = 0;

    // Call-backs to API clients (docs/callbacks.md). Each is kept until its client answered 2xx
    // (settle_callbacks with done), or it became a dead letter.
    //
    // Queues notices on their own (a change that has no other write: feedback, inbound SMS).
    virtual Awaitable<void> enqueue_notices(const std::vector<Notice>& notices) = 0;
    // The client's call-backs due now (at most `max`), leased for `lease`: one not settled by
    // then is handed out again (after a crash too), with the same webhook-id.
    virtual Awaitable<std::vector<Callback>> take_callbacks(const std::string& client,
                                                            std::size_t max,
                                                            std::chrono::milliseconds lease) = 0;
    virtual Awaitable<void> settle_callbacks(const std::vector<CallbackOutcome>& outcomes) = 0;
    // Dead call-backs, newest first (`client` empty: every client's).
    virtual Awaitable<std::vector<Callback>> callback_dead_letters(const std::string& client,
                                                                   std::size_t limit) = 0;
    // Dead call-backs back in the schedule, due now, attempts from zero (by id, or every one of
    // `client` when `ids` is empty). Returns the ids replayed.
    virtual Awaitable<std::vector<std::string>> replay_callbacks(
        const std::vector<std::string>& ids, const std::string& client) = 0;

    // The API's views; Errc::not_found when there is no such record.
    virtual Awaitable<boost::json::value> event_record(const std::string& event_id) = 0;
    virtual Awaitable<boost::json::value> message_record(const std::string& message_id) = 0;
    virtual Awaitable<boost::json::value> dossier_messages(const std::string& dossier_code) = 0;

    // Citizens' feedback (docs/api.md "Feedback"), kept as long as message records. Stored once
    // per id: true when it is new, false when that id was stored already. `notices` (its
    // feedback.received call-backs) are queued in the same write, only when it is new.
    virtual Awaitable<bool> add_feedback(const FeedbackRecord& feedback,
                                         const std::vector<Notice>& notices = {}) {
        (void)feedback;
        (void)notices;
        co_return fail(Errc::queue_unavailable);
    }
    // {"dossier_code": ..., "feedback": [...]}, newest first (by submitted_at), at most
    // limits::kDossierFeedback; an empty list for a dossier without any.
    virtual Awaitable<boost::json::value> dossier_feedback(const std::string& dossier_code) {
        (void)dossier_code;
        co_return fail(Errc::queue_unavailable);
    }
    // Reminders waiting in the schedule (jobs whose id starts with "r", daemon/model/records.hpp),
    // soonest due first, at most `limit`: {"reminders": [message records]}.
    virtual Awaitable<boost::json::value> pending_reminders(std::size_t limit) = 0;
    // Usage reports (docs/usage.md): the message records of a period, as far back as the
    // records are kept (queue.retention).
    virtual Awaitable<UsageScan> scan_usage(const UsageQuery& query, UsageVisitor visit) = 0;
    // Every agency's spend in `month` ("2026-12"), as Commit::spend added it up.
    virtual Awaitable<std::vector<Spend>> month_spend(const std::string& month) = 0;
};

}  // namespace tinbao::queue
