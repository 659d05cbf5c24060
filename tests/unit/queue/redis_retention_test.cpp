// Retention on the Redis backend: message records (personal data) expire after
// queue.retention, while the event key, the idempotency key, keeps dedupe_ttl.
#include <gtest/gtest.h>

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
    for (int i = 0; i < 20 && entries.empty(); ++i) {
        auto got = run(io, q.read(10, 50ms));
        if (got) entries = *got;
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

}  // namespace
}  // namespace tinbao::test
