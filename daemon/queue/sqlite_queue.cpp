#include "daemon/queue/sqlite_queue.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <unordered_map>
#include <unordered_set>

#include "common/time.hpp"
#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

namespace sqlite_detail {

// A connection with a sticky error: once a statement fails, the following ones do nothing
// until clear(), so an operation is written as straight-line code and checked once at the end.
class Db {
public:
    class Stmt {
    public:
        Stmt(Db& db, sqlite3_stmt* s) : db_(db), s_(s) {}
        Stmt(Stmt&& o) noexcept : db_(o.db_), s_(std::exchange(o.s_, nullptr)) {}
        Stmt(const Stmt&) = delete;
        Stmt& operator=(const Stmt&) = delete;
        ~Stmt() {
            if (s_) {
                sqlite3_reset(s_);
                sqlite3_clear_bindings(s_);
            }
        }
        // Steps once: true while there is a row.
        bool next() {
            if (!s_ || db_.failed()) return false;
            int rc = sqlite3_step(s_);
            if (rc == SQLITE_ROW) return true;
            if (rc != SQLITE_DONE) db_.fail(rc);
            return false;
        }
        void run() {
            while (next()) {
            }
        }
        int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
        bool null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
        std::string text(int col) const {
            auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
            return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)))
                     : std::string();
        }

    private:
        friend class Db;
        template <class T>
        void bind(int i, const T& v) {
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
                check(sqlite3_bind_null(s_, i));
            } else if constexpr (std::is_integral_v<T>) {
                check(sqlite3_bind_int64(s_, i, static_cast<sqlite3_int64>(v)));
            } else {
                std::string_view t(v);
                check(sqlite3_bind_text(s_, i, t.data(), static_cast<int>(t.size()),
                                        SQLITE_TRANSIENT));
            }
        }
        void check(int rc) {
            if (rc != SQLITE_OK) db_.fail(rc);
        }
        Db& db_;
        sqlite3_stmt* s_;
    };

    Db(const std::filesystem::path& file, const char* name) : name_(name) {
        int rc = sqlite3_open_v2(file.c_str(), &h_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
        if (rc != SQLITE_OK) {
            std::string why = h_ ? sqlite3_errmsg(h_) : sqlite3_errstr(rc);
            sqlite3_close(h_);
            h_ = nullptr;
            throw std::runtime_error("cannot open " + file.string() + ": " + why);
        }
        sqlite3_busy_timeout(h_, 5000);
        sqlite3_extended_result_codes(h_, 1);
    }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db() {
        for (auto& [sql, s] : cache_) sqlite3_finalize(s);
        sqlite3_close(h_);
    }

    // A cached prepared statement with its parameters bound (1-based, in order).
    template <class... A>
    Stmt query(std::string_view sql, const A&... args) {
        if (failed_) return Stmt(*this, nullptr);
        sqlite3_stmt* s = nullptr;
        if (auto it = cache_.find(sql); it != cache_.end()) {
            s = it->second;
        } else {
            int rc = sqlite3_prepare_v3(h_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &s, nullptr);
            if (rc != SQLITE_OK) {
                fail(rc);
                return Stmt(*this, nullptr);
            }
            cache_.emplace(sql, s);
        }
        Stmt st(*this, s);
        int i = 0;
        (st.bind(++i, args), ...);
        return st;
    }
    template <class... A>
    void exec(std::string_view sql, const A&... args) {
        query(sql, args...).run();
    }
    // Statements outside the cache (schema, transactions); ignores the sticky error.
    bool raw(const char* sql) {
        char* err = nullptr;
        int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &err);
        if (rc != SQLITE_OK) {
            note(rc);
            error_ = err ? err : sqlite3_errstr(rc);
            sqlite3_free(err);
            return false;
        }
        return true;
    }
    int64_t changes() const { return sqlite3_changes64(h_); }
    int64_t last_rowid() const { return sqlite3_last_insert_rowid(h_); }
    int64_t total_changes() const { return sqlite3_total_changes64(h_); }
    // Whether a statement failed because the database cannot be written (disk full, I/O error,
    // read-only, broken file) since the last call: not the fault of one operation.
    bool take_storage_error() { return std::exchange(storage_error_, false); }

    bool failed() const { return failed_; }
    const std::string& error() const { return error_; }
    void clear() {
        failed_ = false;
        error_.clear();
    }
    void fail(int rc) {
        note(rc);
        if (failed_) return;
        failed_ = true;
        error_ = std::string(sqlite3_errstr(rc)) + ": " + sqlite3_errmsg(h_);
    }
    void fail(const char* why) {
        if (failed_) return;
        failed_ = true;
        error_ = why;
    }
    const char* name() const { return name_; }

private:
    void note(int rc) {
        switch (rc & 0xff) {
            case SQLITE_FULL:
            case SQLITE_IOERR:
            case SQLITE_READONLY:
            case SQLITE_CANTOPEN:
            case SQLITE_CORRUPT:
            case SQLITE_NOTADB:
                storage_error_ = true;
                break;
            default:
                break;
        }
    }
    bool storage_error_ = false;
    const char* name_;
    sqlite3* h_ = nullptr;
    bool failed_ = false;
    std::string error_;
    std::unordered_map<std::string_view, sqlite3_stmt*> cache_;
};

// One operation for a worker: `run` does the work on the worker's connection, `done` is told
// whether it was committed.
struct Task {
    std::function<void(Db&)> run;
    std::function<void(bool)> done;
};

// A thread that owns one connection and runs every queued task in one transaction.
class Worker {
public:
    Worker(std::unique_ptr<Db> db, const char* begin_sql)
        : db_(std::move(db)), begin_(begin_sql), thread_([this] { loop(); }) {}
    ~Worker() {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    void submit(Task t) {
        {
            std::lock_guard lock(mu_);
            if (!stopping_) {
                tasks_.push_back(std::move(t));
                cv_.notify_one();
                return;
            }
        }
        t.done(false);
    }

private:
    void loop() {
        for (;;) {
            std::deque<Task> batch;
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
                if (tasks_.empty()) return;  // stopping, nothing left
                batch.swap(tasks_);
            }
            run_batch(batch);
        }
    }

public:
    // False from a write the database refused (disk full, I/O error) until one that changed
    // something is committed again: /readyz answers what POST would get.
    bool healthy() const { return healthy_; }

private:

    void run_batch(std::deque<Task>& batch) {
        auto& db = *db_;
        const int64_t changes_before = db.total_changes();
        std::vector<char> ok(batch.size(), 0);
        bool began = db.raw(begin_);
        if (!began) spdlog::error("queue: sqlite {}: cannot begin: {}", db.name(), db.error());
        for (size_t i = 0; began && i < batch.size(); ++i) {
            // Each operation in its own savepoint: a failing one leaves the others intact.
            db.clear();
            if (!db.raw("SAVEPOINT op")) break;
            try {
                batch[i].run(db);
            } catch (const std::exception& e) {
                // Out of memory and the like: this operation fails, the thread carries on.
                db.fail(e.what());
            }
            if (db.failed()) {
                spdlog::warn("queue: sqlite {}: {}", db.name(), db.error());
                db.raw("ROLLBACK TO op");
            } else {
                ok[i] = 1;
            }
            db.raw("RELEASE op");
        }
        db.clear();
        bool committed = began && db.raw("COMMIT");
        if (began && !committed) {
            spdlog::error("queue: sqlite {}: commit failed: {}", db.name(), db.error());
            db.raw("ROLLBACK");
        }
        if (db.take_storage_error())
            healthy_ = false;
        else if (committed && db.total_changes() > changes_before)
            healthy_ = true;
        for (size_t i = 0; i < batch.size(); ++i) batch[i].done(committed && ok[i]);
    }

    std::unique_ptr<Db> db_;
    const char* begin_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> tasks_;
    bool stopping_ = false;
    std::atomic<bool> healthy_{true};
    std::thread thread_;
};

}  // namespace sqlite_detail

using sqlite_detail::Db;

namespace {

Failure unavailable() {
    return fail(Errc::queue_unavailable);
}

constexpr int kSchemaVersion = 1;

// Each step takes the schema from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE events (
  event_id TEXT PRIMARY KEY, entry_id TEXT, state TEXT NOT NULL, status TEXT,
  dossier_code TEXT, msgs TEXT, created_at INTEGER, updated_at INTEGER,
  expires_at INTEGER NOT NULL);
CREATE INDEX events_created ON events(created_at);
CREATE INDEX events_expires ON events(expires_at);
CREATE TABLE entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, source TEXT NOT NULL,
  owner TEXT, leased_until INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
CREATE INDEX entries_pending ON entries(owner, id) WHERE acked = 0;
CREATE INDEX entries_lease ON entries(leased_until) WHERE acked = 0 AND owner IS NOT NULL;
CREATE INDEX entries_acked ON entries(created_at) WHERE acked = 1;
CREATE TABLE messages (
  id TEXT PRIMARY KEY, event_id TEXT, dossier_code TEXT NOT NULL, state TEXT NOT NULL,
  created_at INTEGER NOT NULL, json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX messages_dossier ON messages(dossier_code, created_at);
CREATE INDEX messages_created ON messages(created_at);
CREATE INDEX messages_expires ON messages(expires_at);
CREATE TABLE jobs (message_id TEXT PRIMARY KEY, due_ms INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX jobs_due ON jobs(due_ms);
CREATE TABLE dead (
  message_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, reason TEXT NOT NULL,
  payload TEXT NOT NULL);
CREATE INDEX dead_at ON dead(at_ms);
CREATE TABLE invalid (
  id INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT, payload TEXT, reason TEXT,
  at_ms INTEGER NOT NULL);
CREATE TABLE callbacks (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

void configure(Db& db, bool writer) {
    // WAL: readers never block the writer. FULL: see the header (power cuts).
    if (writer && !db.raw("PRAGMA journal_mode=WAL"))
        throw std::runtime_error("cannot enable WAL: " + db.error());
    if (!db.raw("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF"))
        throw std::runtime_error("cannot configure the database: " + db.error());
    if (!writer && !db.raw("PRAGMA query_only=1"))
        throw std::runtime_error("cannot configure the read connection: " + db.error());
}

void migrate(Db& db) {
    if (!db.raw("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        throw std::runtime_error("cannot create schema_version: " + db.error());
    int64_t version = 0;
    {
        auto st = db.query("SELECT max(version) FROM schema_version");
        if (st.next() && !st.null(0)) version = st.i64(0);
    }
    if (db.failed()) throw std::runtime_error("cannot read schema_version: " + db.error());
    if (version > kSchemaVersion)
        throw std::runtime_error("the database has schema version " + std::to_string(version) +
                                 ", newer than this build's " + std::to_string(kSchemaVersion));
    for (int64_t v = version; v < kSchemaVersion; ++v) {
        bool ok = db.raw("BEGIN IMMEDIATE") && db.raw(kMigrations[v]);
        if (ok) {
            db.exec("DELETE FROM schema_version");
            db.exec("INSERT INTO schema_version (version) VALUES (?)", v + 1);
            ok = !db.failed() && db.raw("COMMIT");
        }
        if (!ok) {
            std::string why = db.error();
            db.raw("ROLLBACK");
            throw std::runtime_error("cannot migrate the schema to version " +
                                     std::to_string(v + 1) + ": " + why);
        }
    }
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        auto pos = s.find(sep, start);
        if (pos == std::string_view::npos) pos = s.size();
        if (pos > start) out.emplace_back(s.substr(start, pos - start));
        start = pos + 1;
    }
    return out;
}

std::optional<int64_t> entry_number(std::string_view id) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc() || p != id.data() + id.size()) return std::nullopt;
    return n;
}

// The stored record of a message still within its TTL.
std::optional<std::string> message_json(Db& db, const std::string& id, int64_t now) {
    auto st = db.query("SELECT json FROM messages WHERE id = ? AND expires_at > ?", id, now);
    if (st.next()) return st.text(0);
    return std::nullopt;
}

// The event's state from the states of its messages still kept (the rule: model/rules.hpp).
std::string stored_event_state(Db& db, const std::string& msgs, int64_t now) {
    std::vector<std::string> states;
    for (auto& id : split(msgs, ',')) {
        auto st = db.query("SELECT state FROM messages WHERE id = ? AND expires_at > ?", id, now);
        if (st.next()) states.push_back(st.text(0));
    }
    std::vector<std::string_view> views(states.begin(), states.end());
    return std::string(event_state(views));
}

// The dossier's notices that wait for a scheduled attempt (queued, with a job).
std::vector<WaitingNotice> waiting_of(Db& db, const std::string& dossier, int64_t now) {
    std::vector<WaitingNotice> out;
    auto st = db.query("SELECT m.id, m.created_at, j.due_ms FROM messages m"
                       " JOIN jobs j ON j.message_id = m.id"
                       " WHERE m.dossier_code = ? AND m.state = 'queued' AND m.expires_at > ?",
                       dossier, now);
    while (st.next()) out.push_back(WaitingNotice{st.text(0), st.i64(1), st.i64(2)});
    return out;
}

// Stored records of these ids in order; expired or missing ones left out.
json::array fetch_messages(Db& db, const std::vector<std::string>& ids, int64_t now) {
    json::array list;
    for (auto& id : ids) {
        auto raw = message_json(db, id, now);
        if (!raw) continue;
        boost::system::error_code ec;
        auto v = json::parse(*raw, ec);
        if (!ec) list.push_back(std::move(v));
    }
    return list;
}

std::string last_error_reason(const std::string& record_json) {
    auto rec = MessageRecord::from_json(record_json);
    return rec ? rec->last_error_reason : std::string();
}

}  // namespace

SqliteQueue::SqliteQueue(asio::io_context& io, std::filesystem::path db_file, Millis dedupe_ttl,
                         std::string consumer, Millis claim_idle, Millis retention)
    : io_(io),
      path_(std::move(db_file)),
      dedupe_ttl_(dedupe_ttl),
      consumer_(std::move(consumer)),
      claim_idle_(claim_idle),
      retention_(retention),
      purge_timer_(io) {
    if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
    auto wdb = std::make_unique<Db>(path_, "writer");
    configure(*wdb, true);
    migrate(*wdb);
    auto rdb = std::make_unique<Db>(path_, "reader");
    configure(*rdb, false);
    writer_ = std::make_unique<sqlite_detail::Worker>(std::move(wdb), "BEGIN IMMEDIATE");
    reader_ = std::make_unique<sqlite_detail::Worker>(std::move(rdb), "BEGIN");
}

SqliteQueue::~SqliteQueue() {
    // Joins both threads after they finish what was queued.
    writer_.reset();
    reader_.reset();
}

void SqliteQueue::start() {
    stopped_ = false;
    arm_purge();
}

void SqliteQueue::stop() {
    stopped_ = true;
    purge_timer_.cancel();
    wake_readers();
}

bool SqliteQueue::ready() const {
    return !stopped_ && writer_->healthy();
}

std::string SqliteQueue::describe() const {
    return "sqlite " + path_.string() + " consumer " + consumer_;
}

void SqliteQueue::arm_purge() {
    purge_timer_.expires_after(std::chrono::hours(1));
    purge_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        asio::co_spawn(
            io_,
            [this]() -> asio::awaitable<void> {
                bool ok = co_await purge(retention_.count());
                if (!ok) spdlog::warn("queue: the hourly purge failed; retried in an hour");
            },
            asio::detached);
        arm_purge();
    });
}

void SqliteQueue::wake_readers() {
    for (auto& t : read_waiters_) t->cancel();
    read_waiters_.clear();
}

template <class R>
asio::awaitable<R> run_on(asio::io_context& io, sqlite_detail::Worker& worker,
                          std::function<R(Db&)> fn, R fail) {
    // The initiation captures plain pointers and the handler is shared: see the g++ 12 note in
    // the README.
    asio::io_context* iop = &io;
    sqlite_detail::Worker* w = &worker;
    auto init = [iop, w, &fn, &fail](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto result = std::make_shared<std::optional<R>>();
        sqlite_detail::Task t;
        t.run = [fn = std::move(fn), result](Db& db) { *result = fn(db); };
        t.done = [iop, h, result, fail = std::move(fail)](bool ok) {
            R r = ok && *result ? std::move(**result) : fail;
            asio::post(*iop, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
        w->submit(std::move(t));
    };
    R r = co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
        init, asio::use_awaitable);
    co_return r;
}

template <class R>
asio::awaitable<R> SqliteQueue::on_writer(std::function<R(Db&)> fn, R fail) {
    R r = co_await run_on<R>(io_, *writer_, std::move(fn), std::move(fail));
    co_return r;
}

template <class R>
asio::awaitable<R> SqliteQueue::on_reader(std::function<R(Db&)> fn, R fail) {
    R r = co_await run_on<R>(io_, *reader_, std::move(fn), std::move(fail));
    co_return r;
}

asio::awaitable<Result<void>> SqliteQueue::ingest(const Event& event,
                                                  const std::string& payload) {
    auto ttl = dedupe_ttl_.count();
    std::function<Result<void>(Db&)> fn = [event_id = event.event_id,
                                            dossier = event.dossier_code, status = event.status,
                                            payload, ttl](Db& db) {
        auto now = now_ms();
        {
            auto st = db.query("SELECT 1 FROM events WHERE event_id = ? AND expires_at > ?",
                               event_id, now);
            if (st.next()) return Result<void>(fail(Errc::duplicate));
        }
        db.exec("INSERT INTO entries (payload, source, created_at) VALUES (?, 'http', ?)",
                payload, now);
        auto entry = std::to_string(db.last_rowid());
        db.exec("INSERT OR REPLACE INTO events (event_id, entry_id, state, status, dossier_code,"
                " msgs, created_at, updated_at, expires_at)"
                " VALUES (?, ?, 'accepted', ?, ?, NULL, ?, ?, ?)",
                event_id, entry, status, dossier, now, now, now + ttl);
        return Result<void>();
    };
    auto out = co_await on_writer<Result<void>>(std::move(fn), unavailable());
    if (out) {
        ++ingest_generation_;
        wake_readers();
    } else if (out.error() == Errc::queue_unavailable) {
        spdlog::warn("queue: ingest of event {} failed", event.event_id);
    }
    co_return out;
}

namespace {
struct ReadResult {
    std::vector<Entry> entries;
    bool own_done = false;
    int64_t cursor = 0;
};
}  // namespace

asio::awaitable<Result<std::vector<Entry>>> SqliteQueue::read(std::size_t max,
                                                             std::chrono::milliseconds wait) {
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        auto generation = ingest_generation_;
        using Out = std::optional<ReadResult>;
        std::function<Out(Db&)> fn = [consumer = consumer_, own = reading_own_pending_,
                                      cursor = own_cursor_, lease = claim_idle_.count(),
                                      max](Db& db) -> Out {
            ReadResult r;
            r.cursor = cursor;
            auto now = now_ms();
            std::unordered_set<int64_t> seen;
            auto collect = [&](Db::Stmt& st) {
                while (r.entries.size() < max && st.next()) {
                    auto id = st.i64(0);
                    if (!seen.insert(id).second) continue;
                    r.entries.push_back(Entry{std::to_string(id), st.text(1), st.text(2), st.i64(3)});
                }
            };
            // After a start: what this consumer held before (a crash) comes first.
            if (own) {
                auto st = db.query("SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                                   "owner = ? AND id > ? ORDER BY id LIMIT ?",
                                   consumer, cursor, max);
                collect(st);
                if (r.entries.empty()) r.own_done = true;
                else r.cursor = std::stoll(r.entries.back().id);
            }
            // Entries of a consumer that stopped refreshing its lease are taken over.
            if (r.entries.size() < max) {
                auto st = db.query("SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                                   "owner IS NOT NULL AND leased_until <= ? ORDER BY id LIMIT ?",
                                   now, max);
                auto before = r.entries.size();
                collect(st);
                if (r.entries.size() > before)
                    spdlog::info("queue: took over {} entries from a consumer that stopped",
                                 r.entries.size() - before);
            }
            if (r.entries.size() < max) {
                auto st = db.query("SELECT id, payload, source, created_at FROM entries WHERE acked = 0 AND "
                                   "owner IS NULL ORDER BY id LIMIT ?",
                                   max - r.entries.size());
                collect(st);
            }
            for (auto& e : r.entries)
                db.exec("UPDATE entries SET owner = ?, leased_until = ? WHERE id = ?", consumer,
                        now + lease, std::stoll(e.id));
            return r;
        };
        Out got = co_await on_writer<Out>(std::move(fn), std::nullopt);
        if (!got) co_return unavailable();
        if (reading_own_pending_) {
            own_cursor_ = got->cursor;
            if (got->own_done) reading_own_pending_ = false;
        }
        if (!got->entries.empty() || stopped_ ||
            std::chrono::steady_clock::now() >= deadline)
            co_return std::move(got->entries);
        if (generation != ingest_generation_) continue;  // something arrived meanwhile
        auto timer = std::make_shared<asio::steady_timer>(io_, deadline);
        read_waiters_.push_back(timer);
        co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(read_waiters_, timer);
    }
}

asio::awaitable<Result<Claim>> SqliteQueue::claim(const Entry& entry, const Event& event,
                                                  const std::vector<MessageRecord>& initial) {
    std::vector<std::pair<std::string, std::string>> msgs;  // id, json
    for (auto& m : initial) msgs.emplace_back(m.id, m.to_json_text());
    std::function<Result<Claim>(Db&)> fn = [entry_id = entry.id, event_id = event.event_id,
                                    dossier = event.dossier_code, status = event.status,
                                    msgs = std::move(msgs), states = [&] {
                                        std::vector<std::string> s;
                                        for (auto& m : initial) s.push_back(m.state);
                                        return s;
                                    }(),
                                    ttl = dedupe_ttl_.count()](Db& db) -> Result<Claim> {
        Claim c;
        auto now = now_ms();
        std::optional<std::string> owner;
        bool has_msgs = false, exists = false;
        {
            auto st = db.query("SELECT entry_id, msgs FROM events WHERE event_id = ? AND "
                               "expires_at > ?",
                               event_id, now);
            if (st.next()) {
                exists = true;
                if (!st.null(0)) owner = st.text(0);
                has_msgs = !st.null(1);
            }
        }
        if (owner && *owner != entry_id) return fail(Errc::duplicate);
        if (!exists) {
            db.exec("INSERT OR REPLACE INTO events (event_id, entry_id, state, status,"
                    " dossier_code, msgs, created_at, updated_at, expires_at)"
                    " VALUES (?, ?, 'accepted', ?, ?, NULL, ?, ?, ?)",
                    event_id, entry_id, status, dossier, now, now, now + ttl);
        } else if (!owner) {
            // A row written by a commit after the election had expired: this entry owns it now.
            db.exec("UPDATE events SET entry_id = ?, state = 'accepted', dossier_code = ?,"
                    " status = ?, created_at = ?, updated_at = ? WHERE event_id = ?",
                    entry_id, dossier, status, now, now, event_id);
        }
        if (!has_msgs && !msgs.empty()) {
            std::string list;
            for (auto& [id, j] : msgs) list += (list.empty() ? "" : ",") + id;
            db.exec("UPDATE events SET msgs = ? WHERE event_id = ?", list, event_id);
        }
        // Per-dossier order: an earlier notice of this dossier still waiting (a retry, quiet
        // hours) holds the new ones back until its own next attempt.
        c.blocked_until_ms =
            tinbao::dossier_blocked_until(waiting_of(db, dossier, now), std::nullopt, "");
        for (size_t i = 0; i < msgs.size(); ++i) {
            auto& [id, j] = msgs[i];
            if (auto cur = message_json(db, id, now)) {
                c.existing.push_back(MessageRecord::from_json(*cur));
            } else {
                // The dossier's order is fixed at first sight (the Redis backend's ZADD NX).
                int64_t created = now;
                {
                    auto st = db.query("SELECT created_at FROM messages WHERE id = ?", id);
                    if (st.next()) created = st.i64(0);
                }
                db.exec("INSERT OR REPLACE INTO messages (id, event_id, dossier_code, state,"
                        " created_at, json, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        id, event_id, dossier, states[i], created, j, now + ttl);
                c.existing.push_back(std::nullopt);
            }
        }
        return c;
    };
    Result<Claim> c = co_await on_writer<Result<Claim>>(std::move(fn), unavailable());
    if (!c) {
        if (c.error() == Errc::queue_unavailable)
            spdlog::warn("queue: claim of event {} failed", event.event_id);
        co_return c;
    }
    c->existing.resize(initial.size());
    co_return c;
}

asio::awaitable<Result<void>> SqliteQueue::commit(const Commit& c) {
    struct Msg {
        std::string id, state, json, reason;
        int64_t created;
    };
    std::vector<Msg> msgs;
    for (auto& m : c.messages)
        msgs.push_back(Msg{m.id, m.state, m.to_json_text(), m.last_error_reason,
                           m.created_at_ms});
    std::optional<int64_t> ack;
    if (c.ack) {
        ack = entry_number(c.ack->id);
        if (!ack) spdlog::warn("queue: commit names an unknown entry {}", c.ack->id);
    }
    std::function<bool(Db&)> fn = [msgs = std::move(msgs), schedule = c.schedule, done = c.done,
                                   dead = c.dead, event_id = c.event_id,
                                   dossier = c.dossier_code, status = c.status, ack,
                                   ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        std::string list;
        bool exists = false;
        if (!event_id.empty()) {
            auto st = db.query("SELECT msgs FROM events WHERE event_id = ? AND expires_at > ?",
                               event_id, now);
            if (st.next()) {
                exists = true;
                list = st.text(0);
            }
        }
        std::unordered_map<std::string, std::string> reasons;
        for (auto& m : msgs) {
            reasons[m.id] = m.reason;
            int64_t created = m.created;
            {
                auto st = db.query("SELECT created_at FROM messages WHERE id = ?", m.id);
                if (st.next()) created = st.i64(0);
            }
            db.exec("INSERT OR REPLACE INTO messages (id, event_id, dossier_code, state,"
                    " created_at, json, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    m.id, event_id, dossier, m.state, created, m.json, now + ttl);
            if (("," + list + ",").find("," + m.id + ",") == std::string::npos)
                list += (list.empty() ? "" : ",") + m.id;
        }
        for (auto& j : schedule)
            db.exec("INSERT OR REPLACE INTO jobs (message_id, due_ms, payload) VALUES (?, ?, ?)",
                    j.message_id, j.due_ms, j.payload);
        for (auto& id : done) db.exec("DELETE FROM jobs WHERE message_id = ?", id);
        for (auto& j : dead) {
            db.exec("DELETE FROM jobs WHERE message_id = ?", j.message_id);
            std::string reason;
            if (auto it = reasons.find(j.message_id); it != reasons.end()) {
                reason = it->second;
            } else if (auto cur = message_json(db, j.message_id, now)) {
                reason = last_error_reason(*cur);
            }
            db.exec("INSERT OR REPLACE INTO dead (message_id, at_ms, reason, payload)"
                    " VALUES (?, ?, ?, ?)",
                    j.message_id, now, reason, j.payload);
        }
        if (!event_id.empty()) {
            if (exists) {
                db.exec("UPDATE events SET msgs = ?, status = ?, dossier_code = ?,"
                        " updated_at = ?, created_at = coalesce(created_at, ?) WHERE event_id = ?",
                        list, status, dossier, now, now, event_id);
            } else {
                db.exec("INSERT OR REPLACE INTO events (event_id, entry_id, state, status,"
                        " dossier_code, msgs, created_at, updated_at, expires_at)"
                        " VALUES (?, NULL, 'accepted', ?, ?, ?, ?, ?, ?)",
                        event_id, status, dossier, list, now, now, now + ttl);
            }
            db.exec("UPDATE events SET state = ?, expires_at = ? WHERE event_id = ?",
                    stored_event_state(db, list, now), now + ttl, event_id);
        }
        if (ack) db.exec("UPDATE entries SET acked = 1 WHERE id = ?", *ack);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) {
        spdlog::warn("queue: commit for event {} failed", c.event_id);
        co_return unavailable();
    }
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<DueJob>>> SqliteQueue::take_due(
    std::size_t max, std::chrono::milliseconds lease) {
    using Out = std::optional<std::vector<DueJob>>;
    std::function<Out(Db&)> fn = [max, lease = lease.count()](Db& db) -> Out {
        auto now = now_ms();
        std::vector<DueJob> out;
        {
            auto st = db.query("SELECT message_id, payload FROM jobs WHERE due_ms <= ?"
                               " ORDER BY due_ms, message_id LIMIT ?",
                               now, max);
            while (st.next()) {
                DueJob d;
                d.job.message_id = st.text(0);
                d.job.payload = st.text(1);
                d.job.due_ms = now;
                out.push_back(std::move(d));
            }
        }
        // Leased by moving the due time to the lease's end: nobody else takes it before.
        for (auto& d : out) {
            db.exec("UPDATE jobs SET due_ms = ? WHERE message_id = ?", now + lease,
                    d.job.message_id);
            if (auto raw = message_json(db, d.job.message_id, now))
                d.record = MessageRecord::from_json(*raw);
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<json::value>> SqliteQueue::dead_letters(const DeadLetterQuery& q) {
    std::function<Result<json::value>(Db&)> fn = [q](Db& db) -> Result<json::value> {
        auto now = now_ms();
        std::vector<std::string> ids;
        {
            auto st = db.query("SELECT message_id FROM dead WHERE (? = '' OR reason = ?)"
                               " ORDER BY at_ms DESC, message_id DESC LIMIT ?",
                               q.reason, q.reason, limits::kDeadLetters);
            while (st.next()) ids.push_back(st.text(0));
        }
        json::array list = fetch_messages(db, ids, now);
        if (list.size() > q.limit) list.resize(q.limit);
        return json::value(json::object{{"dead_letters", std::move(list)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<std::vector<Job>>> SqliteQueue::take_dead(
    const std::vector<std::string>& ids, const std::string& reason) {
    using Out = std::optional<std::vector<Job>>;
    std::function<Out(Db&)> fn = [ids, reason](Db& db) -> Out {
        auto now = now_ms();
        std::vector<std::string> chosen = ids;
        if (chosen.empty() && !reason.empty()) {
            // As the listing does: only letters whose record is still kept.
            auto st = db.query("SELECT message_id FROM dead WHERE reason = ?"
                               " ORDER BY at_ms DESC, message_id DESC LIMIT ?",
                               reason, limits::kDeadLetters);
            while (st.next()) chosen.push_back(st.text(0));
            std::erase_if(chosen, [&](const std::string& id) {
                return !message_json(db, id, now).has_value();
            });
        }
        std::vector<Job> out;
        for (auto& id : chosen) {
            std::optional<std::string> payload;
            {
                auto st = db.query("SELECT payload FROM dead WHERE message_id = ?", id);
                if (st.next()) payload = st.text(0);
            }
            if (!payload) continue;
            db.exec("DELETE FROM dead WHERE message_id = ?", id);
            Job j;
            j.message_id = id;
            j.payload = std::move(*payload);
            out.push_back(std::move(j));
        }
        return out;
    };
    Out out = co_await on_writer<Out>(std::move(fn), std::nullopt);
    if (!out) co_return unavailable();
    co_return std::move(*out);
}

asio::awaitable<Result<int>> SqliteQueue::heartbeat_instances() {
    // One node: this instance alone shares the providers' limits.
    co_return 1;
}

asio::awaitable<Result<int64_t>> SqliteQueue::dossier_blocked_until(
    const std::string& dossier_code, int64_t created_ms, const std::string& message_id) {
    std::function<Result<int64_t>(Db&)> fn = [dossier_code, created_ms, message_id](Db& db) {
        auto waiting = waiting_of(db, dossier_code, now_ms());
        return Result<int64_t>(tinbao::dossier_blocked_until(waiting, created_ms, message_id));
    };
    Result<int64_t> out = co_await on_reader<Result<int64_t>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<bool>> SqliteQueue::dossier_has_newer(const std::string& dossier_code,
                                                            const std::string& entry_id) {
    std::function<Result<bool>(Db&)> fn = [dossier_code, entry_id](Db& db) {
        // Entry ids are the entries table's increasing row ids.
        auto st = db.query("SELECT 1 FROM events WHERE dossier_code = ?"
                           " AND CAST(entry_id AS INTEGER) > ? LIMIT 1",
                           dossier_code, static_cast<int64_t>(std::strtoll(entry_id.c_str(), nullptr, 10)));
        return Result<bool>(st.next());
    };
    Result<bool> out = co_await on_reader<Result<bool>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Queue::Gauges> SqliteQueue::gauges() {
    std::function<Gauges(Db&)> fn = [](Db& db) {
        Gauges g;
        auto count = [&](std::string_view sql) -> int64_t {
            auto st = db.query(sql);
            return st.next() ? st.i64(0) : -1;
        };
        g.backlog = count("SELECT count(*) FROM entries WHERE acked = 0");
        g.scheduled = count("SELECT count(*) FROM jobs");
        g.dead = count("SELECT count(*) FROM dead");
        return g;
    };
    Gauges out = co_await on_reader<Gauges>(std::move(fn), Gauges{});
    co_return out;
}

asio::awaitable<Result<void>> SqliteQueue::apply_updates(const std::vector<DeliveryUpdate>& updates) {
    std::function<bool(Db&)> fn = [updates, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        for (auto& u : updates) {
            // Once per report: the key is spent even when the message is unknown.
            if (!u.dedupe_key.empty()) {
                db.exec("DELETE FROM callbacks WHERE key = ? AND expires_at <= ?", u.dedupe_key,
                        now);
                db.exec("INSERT OR IGNORE INTO callbacks (key, expires_at) VALUES (?, ?)",
                        u.dedupe_key, now + ttl);
                if (db.changes() == 0) continue;
            }
            auto raw = message_json(db, u.message_id, now);
            std::optional<MessageRecord> rec;
            if (raw) rec = MessageRecord::from_json(*raw);
            if (!rec || !apply_delivery_report(*rec, u, now)) continue;
            db.exec("UPDATE messages SET json = ?, state = ? WHERE id = ?", rec->to_json_text(),
                    rec->state, u.message_id);
            const std::string& event_id = rec->event_id;
            std::optional<std::string> list;
            {
                auto q = db.query("SELECT msgs FROM events WHERE event_id = ? AND expires_at > ?",
                                  event_id, now);
                if (q.next()) list = q.text(0);
            }
            if (list)
                db.exec("UPDATE events SET state = ?, updated_at = ? WHERE event_id = ?",
                        stored_event_state(db, *list, now), now, event_id);
        }
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) {
        spdlog::warn("queue: {} delivery update(s) could not be applied", updates.size());
        co_return unavailable();
    }
    co_return Result<void>();
}

asio::awaitable<Result<void>> SqliteQueue::ack(const Entry& entry) {
    auto id = entry_number(entry.id);
    if (!id) co_return fail(Errc::not_found);
    std::function<bool(Db&)> fn = [id = *id](Db& db) {
        db.exec("UPDATE entries SET acked = 1 WHERE id = ?", id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<void>> SqliteQueue::reject(const Entry& entry, const std::string& reason) {
    std::function<bool(Db&)> fn = [entry, reason](Db& db) {
        auto now = now_ms();
        db.exec("INSERT INTO invalid (entry_id, payload, reason, at_ms) VALUES (?, ?, ?, ?)",
                entry.id, entry.payload, reason, now);
        // At most about 100,000 kept, as the Redis backend's MAXLEN.
        db.exec("DELETE FROM invalid WHERE id <= (SELECT max(id) FROM invalid) - ?",
                limits::kInvalidEntriesKept);
        if (auto id = entry_number(entry.id))
            db.exec("UPDATE entries SET acked = 1 WHERE id = ?", *id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    if (!ok) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<void> SqliteQueue::keep_alive(const std::vector<std::string>& entry_ids) {
    if (entry_ids.empty()) co_return;
    std::vector<int64_t> ids;
    for (auto& s : entry_ids)
        if (auto n = entry_number(s)) ids.push_back(*n);
    std::function<bool(Db&)> fn = [ids, consumer = consumer_,
                                   lease = claim_idle_.count()](Db& db) {
        auto until = now_ms() + lease;
        for (auto id : ids)
            db.exec("UPDATE entries SET owner = ?, leased_until = ? WHERE id = ? AND acked = 0",
                    consumer, until, id);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    (void)ok;
}

asio::awaitable<Result<json::value>> SqliteQueue::event_record(const std::string& event_id) {
    std::function<Result<json::value>(Db&)> fn = [event_id](Db& db) -> Result<json::value> {
        auto now = now_ms();
        json::object rec;
        std::string msgs;
        {
            auto st = db.query("SELECT state, dossier_code, status, created_at, updated_at, msgs"
                               " FROM events WHERE event_id = ? AND expires_at > ?",
                               event_id, now);
            if (!st.next()) return fail(Errc::not_found);
            rec["event_id"] = event_id;
            rec["state"] = st.text(0);
            if (!st.null(1)) rec["dossier_code"] = st.text(1);
            if (!st.null(2)) rec["status"] = st.text(2);
            if (!st.null(3)) rec["created_at"] = rfc3339_utc(st.i64(3));
            if (!st.null(4)) rec["updated_at"] = rfc3339_utc(st.i64(4));
            msgs = st.text(5);
        }
        rec["messages"] = fetch_messages(db, split(msgs, ','), now);
        return json::value(std::move(rec));
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::message_record(const std::string& message_id) {
    std::function<Result<json::value>(Db&)> fn = [message_id](Db& db) -> Result<json::value> {
        auto raw = message_json(db, message_id, now_ms());
        if (!raw) return fail(Errc::not_found);
        boost::system::error_code ec;
        json::value v = json::parse(*raw, ec);
        if (ec) return unavailable();
        return v;
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<Result<json::value>> SqliteQueue::dossier_messages(const std::string& dossier_code) {
    std::function<Result<json::value>(Db&)> fn = [dossier_code](Db& db) -> Result<json::value> {
        auto now = now_ms();
        std::vector<std::string> ids;
        {
            auto st = db.query("SELECT id FROM messages WHERE dossier_code = ?"
                               " ORDER BY created_at DESC, id DESC LIMIT ?",
                               dossier_code, limits::kDossierMessages);
            while (st.next()) ids.push_back(st.text(0));
        }
        return json::value(json::object{{"dossier_code", dossier_code},
                                        {"messages", fetch_messages(db, ids, now)}});
    };
    Result<json::value> out = co_await on_reader<Result<json::value>>(std::move(fn), unavailable());
    co_return out;
}

asio::awaitable<StoreRead> SqliteQueue::get(std::string key) {
    std::function<StoreRead(Db&)> fn = [key = std::move(key)](Db& db) {
        StoreRead out;
        out.ok = true;
        auto st = db.query("SELECT value FROM state WHERE key = ?", key);
        if (st.next()) out.value = st.text(0);
        return out;
    };
    StoreRead out = co_await on_reader<StoreRead>(std::move(fn), StoreRead{});
    co_return out;
}

asio::awaitable<bool> SqliteQueue::put(std::string key, std::string value) {
    std::function<bool(Db&)> fn = [key = std::move(key), value = std::move(value)](Db& db) {
        db.exec("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", key, value);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

asio::awaitable<bool> SqliteQueue::try_lock(std::string key, std::chrono::milliseconds ttl) {
    std::function<bool(Db&)> fn = [key = std::move(key), owner = consumer_,
                                   ttl = ttl.count()](Db& db) {
        auto now = now_ms();
        db.exec("DELETE FROM locks WHERE key = ? AND until_ms <= ?", key, now);
        db.exec("INSERT OR IGNORE INTO locks (key, owner, until_ms) VALUES (?, ?, ?)", key, owner,
                now + ttl);
        return db.changes() == 1;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

asio::awaitable<void> SqliteQueue::unlock(std::string key) {
    std::function<bool(Db&)> fn = [key = std::move(key), owner = consumer_](Db& db) {
        db.exec("DELETE FROM locks WHERE key = ? AND owner = ?", key, owner);
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    (void)ok;
}

asio::awaitable<bool> SqliteQueue::purge(int64_t older_than_ms) {
    std::function<bool(Db&)> fn = [older_than_ms, ttl = dedupe_ttl_.count()](Db& db) {
        auto now = now_ms();
        // Past dedupe_ttl these are invisible already (the Redis keys would have expired).
        db.exec("DELETE FROM events WHERE expires_at <= ?", now);
        db.exec("DELETE FROM messages WHERE expires_at <= ?", now);
        db.exec("DELETE FROM callbacks WHERE expires_at <= ?", now);
        db.exec("DELETE FROM locks WHERE until_ms <= ?", now);
        db.exec("DELETE FROM entries WHERE acked = 1 AND created_at < ?", now - ttl);
        if (older_than_ms > 0) {
            auto cutoff = now - older_than_ms;
            db.exec("DELETE FROM messages WHERE created_at < ?", cutoff);
            db.exec("DELETE FROM events WHERE created_at < ?", cutoff);
            db.exec("DELETE FROM entries WHERE acked = 1 AND created_at < ?", cutoff);
            db.exec("DELETE FROM invalid WHERE at_ms < ?", cutoff);
            db.exec("DELETE FROM dead WHERE at_ms < ?", cutoff);
        }
        return true;
    };
    bool ok = co_await on_writer<bool>(std::move(fn), false);
    co_return ok;
}

}  // namespace tinbao::queue
