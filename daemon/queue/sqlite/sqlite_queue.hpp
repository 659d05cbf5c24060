// The embedded SQLite backend of the queue: one node, no Redis, the same guarantees as
// RedisQueue (whose Lua scripts define the semantics mirrored here).
//
// One database file, WAL mode. Tables (schema_version records the layout):
//   events     one row per event_id: the entry that notifies, state, status, dossier, msgs
//              (comma-separated message ids), times; expires_at = last write + dedupe_ttl
//   entries    the input "stream": payload, source, owner (consumer), leased_until, acked
//   messages   message records as JSON (with state and dossier for queries); expire like events
//   jobs       scheduled attempts (due time, pipeline payload); dead: dead letters with payload
//   invalid    entries that were not valid events, with the reason
//   callbacks  delivery-report dedupe keys; state / locks: the StateStore
//   webhooks   call-backs to API clients (docs/callbacks.md), due or dead
//
// Durability: `synchronous=FULL`. In WAL mode FULL syncs the write-ahead log at every commit, so
// a committed transaction (an event answered 202) survives a power cut or an OS crash. With
// NORMAL the log is synced only at checkpoints: the database stays consistent, but the last
// transactions before a power cut may be lost (a crash of tinbaod alone, even kill -9, loses
// nothing in either mode). FULL costs one fsync per group commit, shared by all its operations.
//
// Threading: SQLite never runs on the io_context. One writer thread owns the write connection
// and commits everything queued in one transaction (group commit), each operation in its own
// savepoint; one reader thread owns a read connection for lookups. Every public method is
// called and awaited on the io_context; its result is posted back there. The constructor opens
// the file and creates or migrates the schema (it throws std::runtime_error on failure: startup).
// Ownership: the queue owns both worker threads and their connections (sqlite/writer.hpp,
// sqlite/connection.hpp); its destructor lets them finish what was queued, then joins them.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "daemon/queue/queue.hpp"
#include "providers/state_store.hpp"

namespace tinbao::queue {

namespace sqlite_detail {
class Db;
class Worker;
}  // namespace sqlite_detail

class SqliteQueue : public Queue, public StateStore {
  public:
    using Millis = std::chrono::milliseconds;

    // `claim_idle`: entries leased to a consumer that stopped refreshing them are taken over
    // after this long. `retention`: records, bodies, events, acknowledged and invalid entries
    // and dead letters older than this are purged every hour (0: kept until they expire).
    SqliteQueue(boost::asio::io_context& io, std::filesystem::path db_file, Millis dedupe_ttl,
                std::string consumer, Millis claim_idle = Millis(60000),
                Millis retention = Millis(0));
    ~SqliteQueue() override;

    void start() override;
    void stop() override;
    bool ready() const override;
    std::string describe() const override;

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

    // StateStore: table `state`; locks in `locks`, held by this consumer until `ttl`.
    boost::asio::awaitable<StoreRead> get(std::string key) override;
    boost::asio::awaitable<bool> put(std::string key, std::string value) override;
    boost::asio::awaitable<bool> put_for(std::string key, std::string value,
                                         std::chrono::milliseconds ttl) override;
    boost::asio::awaitable<bool> try_lock(std::string key, std::chrono::milliseconds ttl) override;
    boost::asio::awaitable<void> unlock(std::string key) override;

    // Retention: deletes message records and bodies, events, acknowledged entries, invalid
    // entries and dead letters older than `older_than_ms` (<= 0: none by age), and rows whose
    // dedupe_ttl ran out. False when the database could not be written.
    boost::asio::awaitable<bool> purge(int64_t older_than_ms);

    const std::filesystem::path& path() const { return path_; }

  private:
    template <class R>
    boost::asio::awaitable<R> on_writer(std::function<R(sqlite_detail::Db&)> fn, R fail);
    template <class R>
    boost::asio::awaitable<R> on_reader(std::function<R(sqlite_detail::Db&)> fn, R fail);
    void wake_readers();
    void arm_purge();

    boost::asio::io_context& io_;
    std::filesystem::path path_;
    Millis dedupe_ttl_;
    std::string consumer_;
    Millis claim_idle_;
    Millis retention_;
    std::unique_ptr<sqlite_detail::Worker> writer_;
    std::unique_ptr<sqlite_detail::Worker> reader_;
    std::atomic<bool> stopped_{false};
    // After a start, this consumer's own unacknowledged entries come first (ids above the cursor).
    bool reading_own_pending_ = true;
    int64_t own_cursor_ = 0;
    uint64_t ingest_generation_ = 0;  // bumped on every accepted ingest; read() waits on it
    std::vector<std::shared_ptr<boost::asio::steady_timer>> read_waiters_;
    boost::asio::steady_timer purge_timer_;
};

}  // namespace tinbao::queue
