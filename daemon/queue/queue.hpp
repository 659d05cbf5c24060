// The queue seam: what the pipeline and the API need from durable storage, whatever the backend
// (Redis Streams now; SQLite for one node later). Nothing Redis-specific crosses this interface.
//
// Guarantees every backend gives:
//  - ingest() answers `accepted` only once the event is durably stored, `duplicate` for an
//    event_id seen within dedupe_ttl, `unavailable` when it cannot tell (the caller answers 503).
//  - read() hands each entry to one consumer; an entry not acknowledged (record(..., ack=true) or
//    reject()) is handed out again after a restart or when its consumer died.
//  - claim() decides, atomically across instances, whether this entry is the one that notifies for
//    its event_id, and returns the records a previous attempt already wrote.
//
// Threading: all methods are awaited on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/records.hpp"
#include "providers/provider.hpp"

namespace tinbao::queue {

struct Entry {
    std::string id;        // backend's entry id
    std::string payload;   // the event JSON
    std::string source;    // "http" or "stream"
    int64_t created_ms = 0;  // when it was queued (end-to-end latency); 0 when unknown
};

enum class IngestOutcome { accepted, duplicate, unavailable };

struct Claim {
    enum class Kind { process, duplicate, unavailable } kind = Kind::unavailable;
    // For `process`: per initial message (same order), the record already stored, if any.
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

// Everything one step of the pipeline changes, written atomically: message records, the event's
// list of messages and its state (derived from its messages by the backend), scheduled jobs,
// dead letters, and the stream entry's acknowledgement.
struct Commit {
    const Entry* ack = nullptr;           // acknowledge this stream entry
    std::string event_id;
    std::string dossier_code;
    std::string status;
    bool skipped = false;                 // no route covers the status
    std::vector<MessageRecord> messages;  // records to write (new ids join the event's list)
    std::vector<Job> schedule;            // (re)schedule these jobs
    std::vector<std::string> done;        // jobs finished: unscheduled, payload dropped
    std::vector<Job> dead;                // into dead letters, payload kept for a replay
};

struct DeadLetterQuery {
    std::string reason;      // empty: any
    std::size_t limit = 100;
};

struct Lookup {
    enum class Status { found, not_found, unavailable } status = Status::not_found;
    boost::json::value value;
};

class Queue {
public:
    virtual ~Queue() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    virtual bool ready() const = 0;
    virtual std::string describe() const = 0;  // for logs, no secrets

    virtual boost::asio::awaitable<IngestOutcome> ingest(const Event& event,
                                                         const std::string& payload) = 0;
    // Up to `max` entries; waits at most `wait` when there are none. nullopt: backend error.
    virtual boost::asio::awaitable<std::optional<std::vector<Entry>>> read(
        std::size_t max, std::chrono::milliseconds wait) = 0;
    virtual boost::asio::awaitable<Claim> claim(const Entry& entry, const Event& event,
                                                const std::vector<MessageRecord>& initial) = 0;
    // Writes a Commit atomically. False when it could not be written (nothing changed; an
    // entry stays unacknowledged, a leased job comes back when its lease ends).
    virtual boost::asio::awaitable<bool> commit(const Commit& c) = 0;
    // Jobs due now (at most `max`), leased to this instance for `lease`.
    virtual boost::asio::awaitable<std::optional<std::vector<DueJob>>> take_due(
        std::size_t max, std::chrono::milliseconds lease) = 0;
    // Dead letters, newest first: {"dead_letters": [message records]}.
    virtual boost::asio::awaitable<Lookup> dead_letters(const DeadLetterQuery& q) = 0;
    // Takes dead letters out (by id, or every one matching `reason`), returning their jobs so the
    // pipeline can schedule them again. nullopt: backend error.
    virtual boost::asio::awaitable<std::optional<std::vector<Job>>> take_dead(
        const std::vector<std::string>& ids, const std::string& reason) = 0;
    // Per-dossier order: the latest next attempt among the dossier's notices created before
    // `created_ms` that still wait, other than `message_id` (0: none; -1: no answer).
    virtual boost::asio::awaitable<int64_t> dossier_blocked_until(
        const std::string& dossier_code, int64_t created_ms, const std::string& message_id) = 0;
    // Coalescing: has an event of this dossier been claimed from an entry queued after
    // `entry_id`? nullopt: no answer.
    virtual boost::asio::awaitable<std::optional<bool>> dossier_has_newer(
        const std::string& dossier_code, const std::string& entry_id) = 0;
    // Live instances sharing this queue (for dividing rate limits); registers this one.
    // -1 when the queue did not answer.
    virtual boost::asio::awaitable<int> heartbeat_instances() = 0;
    // Delivery reports from providers (call-backs): applied once each (by dedupe_key), never
    // moving a message backwards; the event's state follows.
    virtual boost::asio::awaitable<bool> apply_updates(
        const std::vector<DeliveryUpdate>& updates) = 0;
    // Gauges for /metrics: stream backlog, scheduled jobs, dead letters (-1 when unknown).
    struct Gauges {
        int64_t backlog = -1, scheduled = -1, dead = -1;
    };
    virtual boost::asio::awaitable<Gauges> gauges() = 0;
    // Acknowledges an entry that needs nothing more (a duplicate copy of an event).
    virtual boost::asio::awaitable<bool> ack(const Entry& entry) = 0;
    // An entry that is not a valid event: kept aside with the reason, and acknowledged.
    virtual boost::asio::awaitable<bool> reject(const Entry& entry, const std::string& reason) = 0;
    // Tells the backend these entries are still being worked on (so nobody takes them over).
    virtual boost::asio::awaitable<void> keep_alive(const std::vector<std::string>& entry_ids) = 0;

    virtual boost::asio::awaitable<Lookup> event_record(const std::string& event_id) = 0;
    virtual boost::asio::awaitable<Lookup> message_record(const std::string& message_id) = 0;
    virtual boost::asio::awaitable<Lookup> dossier_messages(const std::string& dossier_code) = 0;
};

}  // namespace tinbao::queue
