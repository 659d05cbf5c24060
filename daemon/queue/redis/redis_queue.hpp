// The Redis Streams backend of the queue (docs/redis.md).
//
// Keys, all under the prefix p:
//   p:events            the input stream (field `event`), consumer group "tinbao"; entries
//                       leave it once acknowledged (trim_acknowledged)
//   p:events:invalid    entries that were not valid events, with the reason
//   p:ev:<event_id>     hash: entry (the stream entry that notifies), status, dossier_code,
//                       s:<message id> (each message's state: the event's messages), msgs
//                       (empty: processed without messages; earlier versions listed the ids
//                       here), created_at, updated_at; TTL dedupe_ttl
//   p:msg:<id>          a message record as JSON; TTL dedupe_ttl
//   p:dossier:<code>    sorted set of message ids by creation time
//   p:dwait:<code>      hash: the dossier's messages waiting for a scheduled attempt -> created ms
//   p:dlast:<code>      the dossier's latest claimed stream entry (only with coalescing on)
//   p:sched, p:job:<id> scheduled attempts (zset by due ms) and their payloads; p:dlq dead letters
//   p:wh:<id>, p:whq:<client>, p:whdead   call-backs to API clients (redis/notices.lua)
//   p:status            the status stream (call-back documents), when queue.status_stream is on
// Idempotency: ingest and claim are Lua scripts, so two copies of an event (HTTP, stream, or both,
// on any number of instances) elect exactly one stream entry to notify.
// Hand-off: with a Handoff set, the ingest script also delivers the new entries to this consumer
// (XREADGROUP inside the script, so they are in its pending list like any entry read) and they
// go straight to the processor; their claim was made by the ingest.
//
// With queue.redis.min_replicas N > 0, ingests have a connection of their own, so that the WAIT
// after them holds up no other command, and nothing is processed before N replicas have it: the
// entries of each read (XREADGROUP, XAUTOCLAIM, XCLAIM, all on the reading connection) are
// returned only once a WAIT after them says so, and the entries an ingest took are handed off
// only once the WAIT that answers its 202 says so. Entries whose WAIT fell short stay this
// consumer's pending entries, held back: asked for again at the next read (XCLAIM, so that an
// entry the master lost in a failover is not asked for in vain), else taken over after
// claim_idle. An entry is thus never sent from a stream entry that a failover can lose.
//
// Threading: one io_context thread. Two connections: one for commands, one for the blocking read.
// Ownership: the queue owns both connections and its batchers (redis/batcher.hpp); the caller's
// io_context outlives it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <deque>
#include <memory>

#include "daemon/config/config.hpp"
#include "daemon/io/redis.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/state_store.hpp"

namespace tinbao::queue {

class RedisQueue : public Queue, public StateStore {
  public:
    RedisQueue(boost::asio::io_context& io, const QueueSettings& settings, std::string consumer);
    ~RedisQueue() override;

    void start() override;
    void stop() override;
    bool ready() const override;
    std::string describe() const override;
    void set_handoff(Handoff handoff) override { handoff_ = std::move(handoff); }
    void set_coalescing(bool on) override { coalescing_ = on; }

    Awaitable<void> ingest(const Event& event, const std::string& payload) override;
    Awaitable<std::vector<Entry>> read(std::size_t max, std::chrono::milliseconds wait) override;
    Awaitable<Claim> claim(const Entry& entry, const Event& event,
                           const std::vector<MessageRecord>& initial) override;
    Awaitable<void> commit(const Commit& c) override;
    Awaitable<std::vector<DueJob>> take_due(std::size_t max,
                                            std::chrono::milliseconds lease) override;
    Awaitable<boost::json::value> dead_letters(const DeadLetterQuery& q) override;
    Awaitable<std::vector<Job>> dead_jobs(const std::vector<std::string>& ids,
                                          const std::string& reason) override;
    Awaitable<std::vector<std::string>> discard_dead(const std::vector<std::string>& ids) override;
    Awaitable<int> heartbeat_instances() override;
    Awaitable<int64_t> dossier_blocked_until(const std::string& dossier_code, int64_t created_ms,
                                             const std::string& message_id) override;
    Awaitable<bool> dossier_has_newer(const std::string& dossier_code,
                                      const std::string& entry_id) override;
    boost::asio::awaitable<Gauges> gauges() override;
    Awaitable<std::vector<ReportOutcome>> apply_updates(const std::vector<DeliveryUpdate>& updates,
                                                        const ReportNotices& notices = {}) override;
    Awaitable<void> ack(const Entry& entry) override;
    Awaitable<void> reject(const Entry& entry, const std::string& reason) override;
    boost::asio::awaitable<void> keep_alive(const std::vector<std::string>& entry_ids) override;

    Awaitable<void> enqueue_notices(const std::vector<Notice>& notices) override;
    Awaitable<std::vector<Callback>> take_callbacks(const std::string& client, std::size_t max,
                                                    std::chrono::milliseconds lease) override;
    Awaitable<void> settle_callbacks(const std::vector<CallbackOutcome>& outcomes) override;
    Awaitable<std::vector<Callback>> callback_dead_letters(const std::string& client,
                                                           std::size_t limit) override;
    Awaitable<std::vector<std::string>> replay_callbacks(const std::vector<std::string>& ids,
                                                         const std::string& client) override;

    Awaitable<boost::json::value> event_record(const std::string& event_id) override;
    Awaitable<boost::json::value> message_record(const std::string& message_id) override;
    Awaitable<boost::json::value> dossier_messages(const std::string& dossier_code) override;
    Awaitable<bool> add_feedback(const FeedbackRecord& feedback,
                                 const std::vector<Notice>& notices) override;
    Awaitable<boost::json::value> dossier_feedback(const std::string& dossier_code) override;
    Awaitable<boost::json::value> pending_reminders(std::size_t limit) override;
    Awaitable<UsageScan> scan_usage(const UsageQuery& query, UsageVisitor visit) override;
    Awaitable<std::vector<Spend>> month_spend(const std::string& month) override;

    // StateStore: p:state:<key>, locks p:lock:<key> (owned by this consumer's token).
    boost::asio::awaitable<StoreRead> get(std::string key) override;
    boost::asio::awaitable<bool> put(std::string key, std::string value) override;
    boost::asio::awaitable<bool> put_for(std::string key, std::string value,
                                         std::chrono::milliseconds ttl) override;
    boost::asio::awaitable<bool> try_lock(std::string key, std::chrono::milliseconds ttl) override;
    boost::asio::awaitable<void> unlock(std::string key) override;

    const std::string& stream_key() const { return stream_; }
    // Removes the stream's entries that are acknowledged (every one below the oldest pending
    // entry and the group's last delivered id); done by read() every 5 s. How many went; -1
    // when Redis did not answer.
    boost::asio::awaitable<int64_t> trim_acknowledged();

  private:
    boost::asio::awaitable<bool> ensure_group();
    // read() before the replicas' check: held-back entries again, a dead consumer's, or new ones.
    boost::asio::awaitable<Result<std::vector<Entry>>> next_entries(std::size_t max,
                                                                    std::chrono::milliseconds wait);
    // The stored records of these message ids, in order (expired ones left out); nullopt when
    // Redis did not answer.
    boost::asio::awaitable<std::optional<boost::json::array>> fetch_messages(
        std::vector<std::string> ids);
    std::string key(std::string_view kind, std::string_view id) const;
    // The status stream's key ('' when off), max length and max age ms, for write_notices.
    std::vector<std::string> status_stream_args() const;
    std::string record_ttl() const;

    class Batcher;
    boost::asio::io_context& io_;
    QueueSettings settings_;
    std::string consumer_;
    std::string prefix_;
    std::string stream_;
    redis::Connection cmd_;
    redis::Connection reader_;
    std::unique_ptr<redis::Connection> ingest_conn_;  // min_replicas > 0 only
    bool replicas_short_ = false;                     // the last WAIT fell short (logged once)
    // min_replicas > 0: whether that many replicas have this ingest (and, for a duplicate, the
    // first copy, which another connection may have written).
    boost::asio::awaitable<bool> replicated(bool duplicate);
    bool group_ok_ = false;
    // The entries of one read (or of an ingest's hand-off), min_replicas > 0: true once that many
    // replicas have every write `conn` made (a WAIT on it), with `cover_all` every write the
    // master made before (a PUBLISH first). Else the entries are held back.
    boost::asio::awaitable<bool> entries_replicated(redis::Connection& conn, bool cover_all);
    void hold_back(const std::vector<Entry>& entries,
                   std::chrono::steady_clock::time_point read_at);
    // Held-back entries asked for again (XCLAIM), those still young enough that no other
    // consumer can have taken them over.
    boost::asio::awaitable<Result<std::vector<Entry>>> reclaim_held(std::size_t max);
    // `scheduled`: scheduled_ when the ingest took them.
    boost::asio::awaitable<void> hand_off_replicated(std::vector<Entry> taken, uint64_t scheduled);
    uint64_t scheduled_ = 0;  // commits that scheduled a job, not a reminder
    struct Held {
        std::string id;
        std::chrono::steady_clock::time_point read_at;  // when this consumer last got it
    };
    std::deque<Held> held_;
    // Beyond this many (a long outage of the replicas), the takeover alone brings them back.
    static constexpr std::size_t kMaxHeld = 10000;
    std::size_t handing_ = 0;  // entries an ingest took, waiting for their WAIT
    uint64_t held_back_ = 0;   // entries held back so far (a metric)
    bool holding_ = false;     // the last WAIT of a read or hand-off fell short (logged once)
    Handoff handoff_;
    bool coalescing_ = true;  // until told otherwise: the dossier's latest entry is recorded
    // Hands the entries an ingest batch took to the processor (`batch`: the script's reply).
    void hand_off(redis::Reply& batch);
    bool reading_own_pending_ = true;  // after a start, first re-read what we held before
    std::chrono::steady_clock::time_point next_autoclaim_{};
    std::chrono::steady_clock::time_point next_trim_{};
    // Ingests, claims and commits of many events share one script run each (group commit).
    std::unique_ptr<Batcher> ingest_batch_, claim_batch_, commit_batch_;
    // A hand-off waiting for its WAIT may outlive the queue: it checks this first.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tinbao::queue
