// Retention on the Redis backend: message records (personal data) expire after
// queue.retention, while the event key, the idempotency key, keeps dedupe_ttl; acknowledged
// entries leave the input stream.
#include <gtest/gtest.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "daemon/io/redis.hpp"
#include "daemon/queue/redis_queue.hpp"
#include "tests/unit/queue/queue_test_util.hpp"
#include "tests/unit/queue/redis_server.hpp"

namespace tinbao::test {
namespace {

using namespace std::chrono_literals;

long long pttl(boost::asio::io_context& io, redis::Connection& c, const std::string& key) {
    auto r = run(io, c.command({"PTTL", key}));
    return r.ok ? r.reply.integer : -100;
}

TEST(RedisRetention, RecordsExpireAfterRetentionEventKeysAfterDedupeTtl) {
    TempDir dir;
    RedisServer server(dir.path());
    boost::asio::io_context io;
    QueueSettings s;
    s.redis.host = "127.0.0.1";
    s.redis.port = server.port();
    s.redis.prefix = "ret";
    s.dedupe_ttl = 3600s;
    s.retention = 60s;
    queue::RedisQueue q(io, s, "c1");
    redis::Options o;
    o.port = server.port();
    redis::Connection probe(io, o);
    q.start();
    probe.start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((!q.ready() || !probe.ready()) && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(50ms);
    ASSERT_TRUE(q.ready() && probe.ready());

    auto ev = make_event("ev-ret");
    ASSERT_EQ(run(io, q.ingest(ev, payload_of(ev))), queue::IngestOutcome::accepted);
    std::vector<queue::Entry> entries;
    for (int i = 0; i < 50 && entries.empty(); ++i) {
        auto got = run(io, q.read(10, 50ms));
        if (got) entries = *got;
        else io.run_one_for(20ms);  // the reading connection may still be coming up
    }
    ASSERT_EQ(entries.size(), 1u);
    auto m = make_record("m-ret", ev);
    ASSERT_EQ(run(io, q.claim(entries[0], ev, {m})).kind, queue::Claim::Kind::process);
    EXPECT_LE(pttl(io, probe, "ret:msg:m-ret"), 60000);   // claimed: retention already
    EXPECT_GT(pttl(io, probe, "ret:msg:m-ret"), 50000);
    m.state = state::kSent;
    ASSERT_TRUE(run(io, q.commit(make_commit(ev, {m}, &entries[0]))));
    EXPECT_LE(pttl(io, probe, "ret:msg:m-ret"), 60000);
    EXPECT_GT(pttl(io, probe, "ret:msg:m-ret"), 50000);
    EXPECT_GT(pttl(io, probe, "ret:ev:ev-ret"), 3000000);  // dedupe_ttl: one hour
}

long long xlen(boost::asio::io_context& io, redis::Connection& c, const std::string& key) {
    auto r = run(io, c.command({"XLEN", key}));
    return r.ok ? r.reply.integer : -100;
}

TEST(RedisRetention, AcknowledgedEntriesLeaveTheStreamPendingOnesStay) {
    TempDir dir;
    RedisServer server(dir.path());
    boost::asio::io_context io;
    QueueSettings s;
    s.redis.host = "127.0.0.1";
    s.redis.port = server.port();
    s.redis.prefix = "trim";
    queue::RedisQueue q(io, s, "c1");
    redis::Options o;
    o.port = server.port();
    redis::Connection probe(io, o);
    q.start();
    probe.start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((!q.ready() || !probe.ready()) && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(50ms);
    ASSERT_TRUE(q.ready() && probe.ready());

    std::vector<Event> events;
    for (int i = 0; i < 6; ++i) {
        events.push_back(make_event("ev-trim-" + std::to_string(i)));
        ASSERT_EQ(run(io, q.ingest(events.back(), payload_of(events.back()))),
                  queue::IngestOutcome::accepted);
    }
    std::vector<queue::Entry> entries;
    for (int i = 0; i < 50 && entries.size() < 6; ++i) {
        auto got = run(io, q.read(10, 50ms));
        if (got) entries.insert(entries.end(), got->begin(), got->end());
        else io.run_one_for(20ms);  // the reading connection may still be coming up
    }
    ASSERT_EQ(entries.size(), 6u);
    EXPECT_EQ(run(io, q.trim_acknowledged()), 0);  // all six still pending
    EXPECT_EQ(xlen(io, probe, "trim:events"), 6);

    // Entries 0, 1, 3 and 5 are done; 2 is still being worked on, 4 was never committed.
    for (int i : {0, 1, 3, 5})
        ASSERT_TRUE(run(io, q.commit(make_commit(events[i], {}, &entries[i]))));
    EXPECT_EQ(run(io, q.trim_acknowledged()), 2);  // 0 and 1: below the oldest pending (2)
    EXPECT_EQ(xlen(io, probe, "trim:events"), 4);

    // After a crash the pending ones are handed out again, payload intact.
    queue::RedisQueue again(io, s, "c1");
    again.start();
    deadline = std::chrono::steady_clock::now() + 5s;
    while (!again.ready() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
    std::vector<queue::Entry> back;
    for (int i = 0; i < 50 && back.size() < 2; ++i) {
        auto got = run(io, again.read(10, 50ms));
        if (got) back.insert(back.end(), got->begin(), got->end());
        else io.run_one_for(20ms);
    }
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].payload, payload_of(events[2]));
    EXPECT_EQ(back[1].payload, payload_of(events[4]));
    for (int i : {2, 4})
        ASSERT_TRUE(run(io, again.commit(make_commit(events[i], {}, &back[i == 2 ? 0 : 1]))));
    // Nothing pending: everything below the last delivered entry goes.
    EXPECT_EQ(run(io, again.trim_acknowledged()), 3);  // 2, 3 and 4
    EXPECT_EQ(xlen(io, probe, "trim:events"), 1);
    again.stop();
}

// A queue stopped and destroyed while a batch of ingests is on its way to Redis: the callers
// still get an answer, and nothing touches the queue after it is gone (ASan in CI).
TEST(RedisBatches, AQueueDestroyedWithABatchInFlightAnswersItsCallers) {
    TempDir dir;
    RedisServer server(dir.path());
    boost::asio::io_context io;
    QueueSettings s;
    s.redis.host = "127.0.0.1";
    s.redis.port = server.port();
    s.redis.prefix = "gone";
    auto q = std::make_unique<queue::RedisQueue>(io, s, "c1");
    q->start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!q->ready() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
    ASSERT_TRUE(q->ready());
    // Redis holds every command for a while: the batch is surely still in flight.
    redis::Options o;
    o.port = server.port();
    redis::Connection probe(io, o);
    probe.start();
    while (!probe.ready() && std::chrono::steady_clock::now() < deadline) io.run_one_for(50ms);
    ASSERT_TRUE(run(io, probe.command({"CLIENT", "PAUSE", "1000"})).ok);

    std::vector<Event> events;
    for (int i = 0; i < 50; ++i) events.push_back(make_event("ev-gone-" + std::to_string(i)));
    std::vector<std::string> payloads;  // ingest() keeps references: they must outlive it
    for (auto& ev : events) payloads.push_back(payload_of(ev));
    std::vector<int> outcome(events.size(), -1);
    for (size_t i = 0; i < events.size(); ++i)
        boost::asio::co_spawn(
            io, q->ingest(events[i], payloads[i]),
            [&outcome, i](std::exception_ptr, queue::IngestOutcome o) {
                outcome[i] = static_cast<int>(o);
            });
    // Until the batch has been written to Redis, then the queue goes away.
    for (int i = 0; i < 10; ++i) io.poll();
    q->stop();
    q.reset();
    io.restart();
    io.run_for(500ms);
    for (size_t i = 0; i < outcome.size(); ++i)
        EXPECT_EQ(outcome[i], static_cast<int>(queue::IngestOutcome::unavailable)) << i;
    probe.stop();
}

// A call that makes the script fail (here a key of the wrong type, as an operator's mistake
// could leave) fails alone: the other calls of its batch are answered as if it were not there.
TEST(RedisBatches, ABadCallFailsAloneNotItsWholeBatch) {
    TempDir dir;
    RedisServer server(dir.path());
    boost::asio::io_context io;
    QueueSettings s;
    s.redis.host = "127.0.0.1";
    s.redis.port = server.port();
    s.redis.prefix = "bad";
    queue::RedisQueue q(io, s, "c1");
    redis::Options o;
    o.port = server.port();
    redis::Connection probe(io, o);
    q.start();
    probe.start();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((!q.ready() || !probe.ready()) && std::chrono::steady_clock::now() < deadline)
        io.run_one_for(50ms);
    ASSERT_TRUE(q.ready() && probe.ready());

    std::vector<Event> events;
    std::vector<std::string> payloads;
    for (int i = 0; i < 8; ++i) {
        events.push_back(make_event("ev-b" + std::to_string(i)));
        payloads.push_back(payload_of(events.back()));
        ASSERT_EQ(run(io, q.ingest(events.back(), payloads.back())),
                  queue::IngestOutcome::accepted);
    }
    std::vector<queue::Entry> entries;
    for (int i = 0; i < 50 && entries.size() < 8; ++i) {
        auto got = run(io, q.read(10, 50ms));
        if (got) entries.insert(entries.end(), got->begin(), got->end());
        else io.run_one_for(20ms);
    }
    ASSERT_EQ(entries.size(), 8u);
    // Event 3's key is no longer a hash.
    ASSERT_TRUE(run(io, probe.command({"DEL", "bad:ev:ev-b3"})).ok);
    ASSERT_TRUE(run(io, probe.command({"SET", "bad:ev:ev-b3", "not a hash"})).ok);

    std::vector<MessageRecord> records;
    for (int i = 0; i < 8; ++i) records.push_back(make_record("m-b" + std::to_string(i), events[i]));
    std::vector<int> kinds(8, -1);
    for (int i = 0; i < 8; ++i)
        boost::asio::co_spawn(
            io,
            [&, i]() -> boost::asio::awaitable<void> {
                std::vector<MessageRecord> initial{records[i]};
                queue::Claim c = co_await q.claim(entries[i], events[i], initial);
                kinds[i] = static_cast<int>(c.kind);
            },
            boost::asio::detached);
    io.restart();
    deadline = std::chrono::steady_clock::now() + 5s;
    while (std::count(kinds.begin(), kinds.end(), -1) > 0 &&
           std::chrono::steady_clock::now() < deadline)
        io.run_one_for(20ms);
    for (int i = 0; i < 8; ++i)
        EXPECT_EQ(kinds[i], static_cast<int>(i == 3 ? queue::Claim::Kind::unavailable
                                                    : queue::Claim::Kind::process))
            << i;
    q.stop();
    probe.stop();
}

}  // namespace
}  // namespace tinbao::test
