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
#include <optional>
#include <string>
#include <vector>

#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/records.hpp"

namespace tinbao::queue {

struct Entry {
    std::string id;        // backend's entry id
    std::string payload;   // the event JSON
    std::string source;    // "http" or "stream"
};

enum class IngestOutcome { accepted, duplicate, unavailable };

struct Claim {
    enum class Kind { process, duplicate, unavailable } kind = Kind::unavailable;
    // For `process`: per initial message (same order), the record already stored, if any.
    std::vector<std::optional<MessageRecord>> existing;
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
    // Stores the event record and these messages; with `ack`, acknowledges the entry in the same
    // atomic step. False when it could not be written (the entry stays unacknowledged).
    virtual boost::asio::awaitable<bool> record(const Entry& entry, const EventRecord& event,
                                                const std::vector<MessageRecord>& messages,
                                                bool ack) = 0;
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
