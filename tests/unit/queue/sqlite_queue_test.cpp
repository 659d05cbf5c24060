// What only the SQLite backend has: the file's settings and schema, group commit, the wait of
// read() for new entries, and retention.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "daemon/queue/sqlite/sqlite_queue.hpp"
#include "tests/unit/queue/queue_test_util.hpp"
#include "tests/unit/queue/redis_server.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace tinbao::test {
namespace {

using queue::SqliteQueue;

// A value read straight from the file, as another process would see it.
int64_t scalar(const std::filesystem::path& file, const char* sql) {
    sqlite3* db = nullptr;
    int64_t out = -1;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

void exec(const std::filesystem::path& file, const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
}

class SqliteQueueTest : public ::testing::Test {
protected:
    std::unique_ptr<SqliteQueue> open(std::chrono::milliseconds retention = 0ms) {
        auto q = std::make_unique<SqliteQueue>(io_, file_, 3600s, "c1", 60s, retention);
        q->start();
        return q;
    }
    asio::io_context io_;
    TempDir dir_;
    std::filesystem::path file_ = dir_.path() / "state" / "queue.db";
};

TEST_F(SqliteQueueTest, CreatesAWalFileWithItsSchemaVersion) {
    auto q = open();
    EXPECT_TRUE(std::filesystem::exists(file_));
    EXPECT_EQ(scalar(file_, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    EXPECT_EQ(scalar(file_, "SELECT max(version) FROM schema_version"), 4);
    EXPECT_NE(q->describe().find(file_.string()), std::string::npos);
    q.reset();
    auto again = open();  // opening an existing file migrates nothing
    EXPECT_EQ(scalar(file_, "SELECT count(*) FROM schema_version"), 1);
}

mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 07777;
}

// The database holds whole events (names, phone numbers): no one else on the machine reads it,
// whatever umask tinbaod was started with.
TEST_F(SqliteQueueTest, TheFileAndItsWalAndShmAreOwnerOnly) {
    const mode_t old = ::umask(0);
    auto q = open();
    Event ev = make_event("e-private");
    EXPECT_EQ(outcome_of(run(io_, q->ingest(ev, payload_of(ev)))), IngestOutcome::accepted);
    ::umask(old);
    EXPECT_EQ(mode_of(file_.parent_path()), 0700u);
    for (const char* suffix : {"", "-wal", "-shm"}) {
        auto f = file_.string() + suffix;
        ASSERT_TRUE(std::filesystem::exists(f)) << f;
        EXPECT_EQ(mode_of(f), 0600u) << f;
    }
    // A file left readable by an older version is narrowed when opened.
    q.reset();
    ::chmod(file_.c_str(), 0644);
    auto again = open();
    EXPECT_EQ(mode_of(file_), 0600u);
}

// A file of the previous schema (3: before call-backs) is migrated when opened: its events stay,
// and call-backs can be queued and taken.
TEST_F(SqliteQueueTest, MigratesAVersion3FileKeepingItsEvents) {
    {
        auto q = open();
        Event ev = make_event("e-before");
        EXPECT_EQ(outcome_of(run(io_, q->ingest(ev, payload_of(ev)))), IngestOutcome::accepted);
    }
    exec(file_,
         "DROP TABLE webhooks; DELETE FROM schema_version; "
         "INSERT INTO schema_version (version) VALUES (3)");
    auto q = open();
    EXPECT_EQ(scalar(file_, "SELECT max(version) FROM schema_version"), 4);
    Event ev = make_event("e-before");
    EXPECT_EQ(outcome_of(run(io_, q->ingest(ev, payload_of(ev)))), IngestOutcome::duplicate);
    queue::Notice n;
    n.kind = "message.sent";
    n.body = R"({"kind":"message.sent"})";
    n.to = {{"igate", "msg_after_migration"}};
    ASSERT_TRUE(run(io_, q->enqueue_notices({n})));
    auto taken = run(io_, q->take_callbacks("igate", 10, 60s));
    ASSERT_TRUE(taken);
    ASSERT_EQ(taken->size(), 1u);
    EXPECT_EQ((*taken)[0].id, "msg_after_migration");
}

TEST_F(SqliteQueueTest, RefusesAFileFromANewerVersion) {
    open().reset();
    exec(file_, "UPDATE schema_version SET version = 99");
    EXPECT_THROW(open(), std::runtime_error);
}

TEST_F(SqliteQueueTest, ManyConcurrentIngestsAreAllDurable) {
    auto q = open();
    constexpr int kEvents = 400;
    int accepted = 0, finished = 0;
    for (int i = 0; i < kEvents; ++i) {
        asio::co_spawn(
            io_,
            [&, i]() -> asio::awaitable<void> {
                auto ev = make_event("ev-" + std::to_string(i));
                auto out = co_await q->ingest(ev, payload_of(ev));
                if (out) ++accepted;
                ++finished;
            },
            asio::detached);
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (finished < kEvents && std::chrono::steady_clock::now() < deadline)
        io_.run_one_for(50ms);
    EXPECT_EQ(accepted, kEvents);
    // Committed before answering: visible to another connection right away.
    EXPECT_EQ(scalar(file_, "SELECT count(*) FROM entries"), kEvents);
    EXPECT_EQ(scalar(file_, "SELECT count(*) FROM events"), kEvents);
    q.reset();
    q = open();
    auto got = run(io_, q->read(1000, 0ms));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), static_cast<size_t>(kEvents));
    auto dup = make_event("ev-7");
    EXPECT_EQ(outcome_of(run(io_, q->ingest(dup, payload_of(dup)))), IngestOutcome::duplicate);
}

// The database cannot be written (here the file size limit, as a full disk would): ingest
// fails, and ready() says so (/readyz answers 503 like POST) until a write goes through again.
TEST_F(SqliteQueueTest, NotReadyWhileTheDatabaseCannotBeWritten) {
    auto q = open();
    ASSERT_TRUE(q->ready());
    auto small = make_event("ev-small");
    ASSERT_EQ(outcome_of(run(io_, q->ingest(small, payload_of(small)))), IngestOutcome::accepted);
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
    rlimit saved{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
    rlimit tiny = saved;
    tiny.rlim_cur = 64 * 1024;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tiny), 0);
    auto big = make_event("ev-big");
    std::string payload(1024 * 1024, 'x');
    auto refused = outcome_of(run(io_, q->ingest(big, payload)));
    bool ready_while_full = q->ready();
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
    EXPECT_EQ(refused, IngestOutcome::unavailable);
    EXPECT_FALSE(ready_while_full);
    // Room again: the next write goes through and the queue is ready.
    auto after = make_event("ev-after");
    EXPECT_EQ(outcome_of(run(io_, q->ingest(after, payload_of(after)))), IngestOutcome::accepted);
    EXPECT_TRUE(q->ready());
}

TEST_F(SqliteQueueTest, ReadWakesUpWhenAnEventArrives) {
    auto q = open();
    Result<std::vector<queue::Entry>> got;
    bool done = false;
    auto t0 = std::chrono::steady_clock::now();
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
            // Far longer than the test may run: only the wake-up can end this read.
            got = co_await q->read(10, std::chrono::hours(1));
            done = true;
        },
        asio::detached);
    io_.restart();
    io_.run_for(50ms);  // the read is waiting now
    EXPECT_FALSE(done);
    auto ev = make_event("ev-wake");
    EXPECT_EQ(outcome_of(run(io_, q->ingest(ev, payload_of(ev)))), IngestOutcome::accepted);
    while (!done && std::chrono::steady_clock::now() - t0 < 10s) io_.run_one_for(50ms);
    ASSERT_TRUE(done);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
}

TEST_F(SqliteQueueTest, PurgeDeletesWhatIsOlderThanTheRetention) {
    auto q = open(24h);
    auto old_ev = make_event("ev-old", "D-PURGE");
    auto ten_days = int64_t(10) * 24 * 3600 * 1000;
    auto old_msg = make_record("m-old", old_ev, state::kFailed, now_ms() - ten_days);
    old_msg.last_error_reason = "invalid_phone";
    auto c = make_commit(old_ev, {old_msg});
    c.dead.push_back(queue::Job{old_msg.id, "{}", 0});
    ASSERT_TRUE(run(io_, q->commit(c)));
    auto recent_ev = make_event("ev-recent", "D-PURGE");
    auto recent = make_record("m-recent", recent_ev, state::kSent);
    ASSERT_TRUE(run(io_, q->commit(make_commit(recent_ev, {recent}))));
    ASSERT_EQ(outcome_of(run(io_, q->ingest(recent_ev, payload_of(recent_ev)))), IngestOutcome::duplicate);
    auto bad = make_event("ev-bad");
    ASSERT_EQ(outcome_of(run(io_, q->ingest(bad, payload_of(bad)))), IngestOutcome::accepted);
    auto entries = run(io_, q->read(10, 0ms));
    ASSERT_TRUE(entries && entries->size() == 1u);
    ASSERT_TRUE(run(io_, q->reject(entries->front(), "invalid_event")));
    // Age the event, the dead letter, the invalid and acknowledged entries as if ten days old.
    exec(file_, ("UPDATE events SET created_at = created_at - " + std::to_string(ten_days) +
                 " WHERE event_id IN ('ev-old', 'ev-bad');"
                 " UPDATE dead SET at_ms = at_ms - " + std::to_string(ten_days) + ";"
                 " UPDATE invalid SET at_ms = at_ms - " + std::to_string(ten_days) + ";"
                 " UPDATE entries SET created_at = created_at - " + std::to_string(ten_days))
                    .c_str());

    ASSERT_TRUE(run(io_, q->purge(24LL * 3600 * 1000)));
    EXPECT_EQ(lookup(run(io_, q->message_record("m-old"))).status, Lookup::Status::not_found);
    EXPECT_EQ(lookup(run(io_, q->event_record("ev-old"))).status, Lookup::Status::not_found);
    EXPECT_EQ(run(io_, q->gauges()).dead, 0);
    EXPECT_EQ(scalar(file_, "SELECT count(*) FROM invalid"), 0);
    EXPECT_EQ(scalar(file_, "SELECT count(*) FROM entries"), 0);
    // What is recent stays.
    EXPECT_EQ(lookup(run(io_, q->message_record("m-recent"))).status, Lookup::Status::found);
    EXPECT_EQ(lookup(run(io_, q->event_record("ev-recent"))).status, Lookup::Status::found);
    auto d = lookup(run(io_, q->dossier_messages("D-PURGE")));
    EXPECT_EQ(d.value.as_object().at("messages").as_array().size(), 1u);
}

TEST_F(SqliteQueueTest, NoPurgeByAgeWithoutARetention) {
    auto q = open();
    auto ev = make_event("ev-keep");
    auto old = make_record("m-keep", ev, state::kSent, now_ms() - 1000000);
    ASSERT_TRUE(run(io_, q->commit(make_commit(ev, {old}))));
    ASSERT_TRUE(run(io_, q->purge(0)));
    EXPECT_EQ(lookup(run(io_, q->message_record("m-keep"))).status, Lookup::Status::found);
}

}  // namespace
}  // namespace tinbao::test
