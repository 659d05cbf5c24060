// Redis-only behaviour of the queue: retention (message records, personal data, expire after
// queue.retention while the event key, the idempotency key, keeps dedupe_ttl), the trimming of
// acknowledged entries from the input stream, the batches of script calls, and the hand-off of
// entries to this instance's consumer at ingest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "daemon/io/redis.hpp"
#include "daemon/queue/redis/redis_queue.hpp"
#include "tests/unit/queue/queue_test_util.hpp"
#include "tests/unit/queue/redis_server.hpp"

namespace tinbao::test {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// A redis-server of its own, a queue on it and a plain connection to look at the keys.
class RedisQueueTest : public ::testing::Test {
protected:
    void SetUp() override {
        settings_.redis.host = "127.0.0.1";
        settings_.redis.port = server_.port();
        settings_.redis.prefix = "t";
    }
    void TearDown() override {
        if (q_) q_->stop();
        if (probe_) probe_->stop();
    }

    // Opens the queue (and the probe) with the settings as they are now; waits for both.
    queue::RedisQueue& open() {
        q_ = std::make_unique<queue::RedisQueue>(io_, settings_, "c1");
        q_->start();
        if (!probe_) {
            redis::Options o;
            o.port = server_.port();
            probe_ = std::make_unique<redis::Connection>(io_, o);
            probe_->start();
        }
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while ((!q_->ready() || !probe_->ready()) && std::chrono::steady_clock::now() < deadline)
            io_.run_one_for(50ms);
        EXPECT_TRUE(q_->ready() && probe_->ready());
        return *q_;
    }

    redis::Result probe(redis::Args cmd) { return run(io_, probe_->command(std::move(cmd))); }

    // Ingests these events (their payloads kept here: ingest() holds references).
    void ingest_all(queue::RedisQueue& q, const std::vector<Event>& events) {
        for (auto& ev : events) {
            payloads_.push_back(std::make_unique<std::string>(payload_of(ev)));
            ASSERT_EQ(outcome_of(run(io_, q.ingest(ev, *payloads_.back()))), IngestOutcome::accepted);
        }
    }

    // Reads until `n` entries came, waiting while the reading connection comes up.
    std::vector<queue::Entry> read_n(queue::RedisQueue& q, std::size_t n) {
        std::vector<queue::Entry> out;
        for (int i = 0; i < 50 && out.size() < n; ++i) {
            auto got = run(io_, q.read(10, 50ms));
            if (got)
                out.insert(out.end(), got->begin(), got->end());
            else
                io_.run_one_for(20ms);
        }
        EXPECT_EQ(out.size(), n);
        return out;
    }

    // A replica of server_ that has acknowledged a write (so that a WAIT counts it), for
    // queue.redis.min_replicas.
    void attach_replica() {
        replica_dir_ = std::make_unique<TempDir>();
        replica_ = std::make_unique<RedisServer>(replica_dir_->path());
        redis::Options ro;
        ro.port = replica_->port();
        ro.require_master = false;
        to_replica_ = std::make_unique<redis::Connection>(io_, ro);
        to_replica_->start();
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!to_replica_->ready() && std::chrono::steady_clock::now() < deadline)
            io_.run_one_for(50ms);
        ASSERT_TRUE(run(io_, to_replica_->command(
                                 {"REPLICAOF", "127.0.0.1", std::to_string(server_.port())}))
                        .ok);
        auto online = [&] {
            auto r = probe({"INFO", "replication"});
            return r.ok && r.reply.str.find("state=online") != std::string::npos;
        };
        while (!online() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(50ms);
        ASSERT_TRUE(online());
        // "online" can come before the replica's first acknowledgement: wait for one, on a write
        // of the test's own connection.
        ASSERT_TRUE(probe({"SET", "t:test:replicated", "1"}).ok);
        auto acked = probe({"WAIT", "1", "10000"});
        ASSERT_TRUE(acked.ok);
        ASSERT_EQ(acked.reply.integer, 1);
    }

    // Runs the loop until `done` or 10 s.
    template <class F>
    bool until(F done) {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
        return done();
    }

    int64_t pending_of(const std::string& consumer) {
        auto r = probe({"XPENDING", "t:events", "tinbao", "-", "+", "100", consumer});
        return r.ok ? static_cast<int64_t>(r.reply.elements.size()) : -1;
    }

    static std::vector<Event> events(const std::string& prefix, int n) {
        std::vector<Event> out;
        for (int i = 0; i < n; ++i) out.push_back(make_event(prefix + std::to_string(i)));
        return out;
    }

    TempDir dir_;
    RedisServer server_{dir_.path()};
    asio::io_context io_;
    QueueSettings settings_;
    std::unique_ptr<queue::RedisQueue> q_;
    std::unique_ptr<redis::Connection> probe_;
    std::vector<std::unique_ptr<std::string>> payloads_;
    std::unique_ptr<TempDir> replica_dir_;
    std::unique_ptr<RedisServer> replica_;
    std::unique_ptr<redis::Connection> to_replica_;
};

TEST_F(RedisQueueTest, RecordsExpireAfterRetentionEventKeysAfterDedupeTtl) {
    settings_.dedupe_ttl = 3600s;
    settings_.retention = 60s;
    auto& q = open();
    auto evs = events("ev-ret", 1);
    ingest_all(q, evs);
    auto entries = read_n(q, 1);
    ASSERT_EQ(entries.size(), 1u);
    auto pttl = [&](const std::string& key) {
        auto r = probe({"PTTL", key});
        return r.ok ? r.reply.integer : -100;
    };
    auto m = make_record("m-ret", evs[0]);
    ASSERT_EQ(claimed(run(io_, q.claim(entries[0], evs[0], {m}))).kind, Claimed::Kind::process);
    EXPECT_LE(pttl("t:msg:m-ret"), 60000);  // claimed: retention already
    EXPECT_GT(pttl("t:msg:m-ret"), 50000);
    m.state = state::kSent;
    ASSERT_TRUE(run(io_, q.commit(make_commit(evs[0], {m}, &entries[0]))));
    EXPECT_LE(pttl("t:msg:m-ret"), 60000);
    EXPECT_GT(pttl("t:msg:m-ret"), 50000);
    EXPECT_GT(pttl("t:ev:ev-ret0"), 3000000);  // dedupe_ttl: one hour
}

TEST_F(RedisQueueTest, AcknowledgedEntriesLeaveTheStreamPendingOnesStay) {
    auto& q = open();
    auto evs = events("ev-trim-", 6);
    ingest_all(q, evs);
    auto entries = read_n(q, 6);
    ASSERT_EQ(entries.size(), 6u);
    auto xlen = [&] {
        auto r = probe({"XLEN", "t:events"});
        return r.ok ? r.reply.integer : -100;
    };
    EXPECT_EQ(run(io_, q.trim_acknowledged()), 0);  // all six still pending
    EXPECT_EQ(xlen(), 6);

    // Entries 0, 1, 3 and 5 are done; 2 is still being worked on, 4 was never committed.
    for (int i : {0, 1, 3, 5})
        ASSERT_TRUE(run(io_, q.commit(make_commit(evs[i], {}, &entries[i]))));
    EXPECT_EQ(run(io_, q.trim_acknowledged()), 2);  // 0 and 1: below the oldest pending (2)
    EXPECT_EQ(xlen(), 4);

    // After a crash the pending ones are handed out again, payload intact.
    q.stop();
    auto& again = open();
    auto back = read_n(again, 2);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].payload, payload_of(evs[2]));
    EXPECT_EQ(back[1].payload, payload_of(evs[4]));
    ASSERT_TRUE(run(io_, again.commit(make_commit(evs[2], {}, &back[0]))));
    ASSERT_TRUE(run(io_, again.commit(make_commit(evs[4], {}, &back[1]))));
    // Nothing pending: everything below the last delivered entry goes.
    EXPECT_EQ(run(io_, again.trim_acknowledged()), 3);  // 2, 3 and 4
    EXPECT_EQ(xlen(), 1);
}

// Concurrent ingests share script runs (group commit): far fewer runs than events, and each
// caller still gets its own answer.
TEST_F(RedisQueueTest, ConcurrentIngestsShareScriptRuns) {
    auto& q = open();
    auto script_runs = [&] {
        auto r = probe({"INFO", "commandstats"});
        long long n = 0;
        for (std::string_view key : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
            auto at = r.reply.str.find(key);
            if (at != std::string::npos) n += std::stoll(r.reply.str.substr(at + key.size()));
        }
        return n;
    };
    long long before = script_runs();
    auto evs = events("ev-many-", 200);
    std::vector<std::string> payloads;
    for (auto& ev : evs) payloads.push_back(payload_of(ev));
    int accepted = 0, answered = 0;
    for (size_t i = 0; i < evs.size(); ++i)
        asio::co_spawn(io_, q.ingest(evs[i], payloads[i]),
                       [&](std::exception_ptr, Result<void> o) {
                           ++answered;
                           if (o) ++accepted;
                       });
    io_.restart();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (answered < 200 && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
    EXPECT_EQ(accepted, 200);
    long long runs = script_runs() - before;
    EXPECT_GE(runs, 2);   // at most 128 calls per run
    EXPECT_LE(runs, 10);  // one run per event would be 200
}

// A queue stopped and destroyed while a batch of ingests is on its way to Redis: the callers
// still get an answer, and nothing touches the queue after it is gone (ASan in CI).
TEST_F(RedisQueueTest, AQueueDestroyedWithABatchInFlightAnswersItsCallers) {
    auto& q = open();
    // Redis holds every command for a while: the batch is surely still in flight.
    ASSERT_TRUE(probe({"CLIENT", "PAUSE", "1000"}).ok);
    auto evs = events("ev-gone-", 50);
    std::vector<std::string> payloads;
    for (auto& ev : evs) payloads.push_back(payload_of(ev));
    std::vector<int> outcome(evs.size(), -1);
    for (size_t i = 0; i < evs.size(); ++i)
        asio::co_spawn(io_, q.ingest(evs[i], payloads[i]),
                       [&outcome, i](std::exception_ptr, Result<void> o) {
                           outcome[i] = static_cast<int>(outcome_of(o));
                       });
    // Until the batch has been written to Redis, then the queue goes away.
    for (int i = 0; i < 10; ++i) io_.poll();
    q_->stop();
    q_.reset();
    io_.restart();
    io_.run_for(500ms);
    for (size_t i = 0; i < outcome.size(); ++i)
        EXPECT_EQ(outcome[i], static_cast<int>(IngestOutcome::unavailable)) << i;
}

// A call that makes the script fail (here a key of the wrong type, as an operator's mistake
// could leave) fails alone: the other calls of its batch are answered as if it were not there.
TEST_F(RedisQueueTest, ABadCallFailsAloneNotItsWholeBatch) {
    auto& q = open();
    auto evs = events("ev-b", 8);
    ingest_all(q, evs);
    auto entries = read_n(q, 8);
    ASSERT_EQ(entries.size(), 8u);
    // Event 3's key is no longer a hash.
    ASSERT_TRUE(probe({"DEL", "t:ev:ev-b3"}).ok);
    ASSERT_TRUE(probe({"SET", "t:ev:ev-b3", "not a hash"}).ok);

    std::vector<MessageRecord> records;
    for (int i = 0; i < 8; ++i) records.push_back(make_record("m-b" + std::to_string(i), evs[i]));
    std::vector<int> kinds(8, -1);
    for (int i = 0; i < 8; ++i)
        asio::co_spawn(
            io_,
            [&, i]() -> asio::awaitable<void> {
                std::vector<MessageRecord> initial{records[i]};
                Result<queue::Claim> c = co_await q.claim(entries[i], evs[i], initial);
                kinds[i] = static_cast<int>(claimed(std::move(c)).kind);
            },
            asio::detached);
    io_.restart();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::count(kinds.begin(), kinds.end(), -1) > 0 &&
           std::chrono::steady_clock::now() < deadline)
        io_.run_one_for(20ms);
    for (int i = 0; i < 8; ++i)
        EXPECT_EQ(kinds[i], static_cast<int>(i == 3 ? Claimed::Kind::unavailable
                                                    : Claimed::Kind::process))
            << i;
}

// With a hand-off set, the ingest delivers the new entries to this consumer (they are its
// pending entries, read() does not hand them out again) with their claim made; not when the
// consumer has no room (read() gets them), and not claimed when a job of their dossier is
// scheduled (it may wait) or coalescing is on. A job of another dossier, or a reminder (days
// ahead, it holds nothing back), leaves the claim made.
TEST_F(RedisQueueTest, IngestHandsNewEntriesToTheConsumer) {
    auto& q = open();
    ASSERT_TRUE(run(io_, q.read(10, 10ms)));  // creates the consumer group
    std::size_t room = 10;
    std::vector<queue::Entry> taken;
    q.set_handoff(
        {[&] { return room; },
         [&](std::vector<queue::Entry> e) { taken.insert(taken.end(), e.begin(), e.end()); }});
    q.set_coalescing(false);
    auto pending = [&] {
        auto r = probe({"XPENDING", "t:events", "tinbao"});
        return r.ok && !r.reply.elements.empty() ? r.reply.elements[0].integer : -1;
    };

    auto evs = events("ev-h", 5);
    ingest_all(q, {evs[0], evs[1], evs[2]});
    ASSERT_EQ(taken.size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(taken[i].payload, payload_of(evs[i]));
        EXPECT_EQ(taken[i].source, "http");
        EXPECT_TRUE(taken[i].claimed) << i;
    }
    EXPECT_EQ(pending(), 3);
    auto again = run(io_, q.read(10, 10ms));
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
    // The claim made at ingest is the one claim() would make.
    auto m = make_record("m-h0", evs[0]);
    EXPECT_EQ(claimed(run(io_, q.claim(taken[0], evs[0], {m}))).kind, Claimed::Kind::process);

    // No room: the entry waits for read(), which claims as usual.
    room = 0;
    ingest_all(q, {evs[3]});
    EXPECT_EQ(taken.size(), 3u);
    auto read = read_n(q, 1);
    ASSERT_EQ(read.size(), 1u);
    EXPECT_FALSE(read[0].claimed);

    // A job is scheduled: taken, but its claim is asked (the dossier may wait).
    auto job = make_commit(evs[0], {m}, &taken[0]);
    job.schedule.push_back({"m-h0", "{}", now_ms() + 60000});
    ASSERT_TRUE(run(io_, q.commit(job)));
    room = 10;
    ingest_all(q, {evs[4]});
    ASSERT_EQ(taken.size(), 4u);
    EXPECT_FALSE(taken[3].claimed);
    // The claim asked then is the one that tells the dossier waits.
    auto held = claimed(run(io_, q.claim(taken[3], evs[4], {make_record("m-h4", evs[4])})));
    EXPECT_EQ(held.kind, Claimed::Kind::process);
    EXPECT_GT(held.blocked_until_ms, 0);

    // Another dossier: nothing of it waits, the claim is made at ingest.
    auto other = make_event("ev-h-other", "D-2");
    ingest_all(q, {other});
    ASSERT_EQ(taken.size(), 5u);
    EXPECT_TRUE(taken[4].claimed);

    // A reminder scheduled for a dossier does not make its new entries wait.
    auto remind = make_event("ev-h-remind", "D-3");
    ingest_all(q, {remind});
    ASSERT_EQ(taken.size(), 6u);
    auto rc = make_commit(remind, {}, &taken[5]);
    rc.schedule.push_back({"r-h-remind", "{}", now_ms() + 86400000});
    ASSERT_TRUE(run(io_, q.commit(rc)));
    auto later = make_event("ev-h-remind-later", "D-3");
    ingest_all(q, {later});
    ASSERT_EQ(taken.size(), 7u);
    EXPECT_TRUE(taken[6].claimed);
    EXPECT_EQ(claimed(run(io_, q.claim(taken[6], later, {make_record("m-h-later", later)})))
                  .blocked_until_ms,
              0);

    // After set_handoff({}) nothing more is taken.
    q.set_handoff({});
    auto more = events("ev-h-more", 1);
    ingest_all(q, more);
    EXPECT_EQ(taken.size(), 7u);
    EXPECT_EQ(read_n(q, 1).size(), 1u);
}

// An entry handed over at ingest skips the claim: its commit writes the records, the messages'
// states in the event hash and the dossier's index; an event without messages shows as
// processed.
TEST_F(RedisQueueTest, AHandedEntrysCommitWritesItsRecordsAndTheEventListsThem) {
    auto& q = open();
    ASSERT_TRUE(run(io_, q.read(10, 10ms)));  // creates the consumer group
    std::vector<queue::Entry> taken;
    q.set_handoff(
        {[] { return std::size_t{10}; },
         [&](std::vector<queue::Entry> e) { taken.insert(taken.end(), e.begin(), e.end()); }});
    q.set_coalescing(false);
    auto evs = events("ev-c", 2);
    ingest_all(q, evs);
    ASSERT_EQ(taken.size(), 2u);
    ASSERT_TRUE(taken[0].claimed && taken[1].claimed);
    EXPECT_EQ(lookup(run(io_, q.event_record("ev-c0"))).value.at("state"), "accepted");
    auto m = make_record("m-c0", evs[0], state::kSent);
    ASSERT_TRUE(run(io_, q.commit(make_commit(evs[0], {m}, &taken[0]))));
    auto after = lookup(run(io_, q.event_record("ev-c0")));
    EXPECT_EQ(after.value.at("state"), "done");
    ASSERT_EQ(after.value.at("messages").as_array().size(), 1u);
    EXPECT_EQ(after.value.at("messages").as_array()[0].at("id"), "m-c0");
    EXPECT_FALSE(probe({"ZSCORE", "t:dossier:" + evs[0].dossier_code, "m-c0"}).reply.is_nil());
    EXPECT_GT(probe({"PTTL", "t:dossier:" + evs[0].dossier_code}).reply.integer, 0);
    EXPECT_GT(probe({"PTTL", "t:ev:ev-c0"}).reply.integer, 0);

    ASSERT_TRUE(run(io_, q.commit(make_commit(evs[1], {}, &taken[1]))));
    auto none = lookup(run(io_, q.event_record("ev-c1")));
    EXPECT_NE(none.value.at("state"), "accepted");
    EXPECT_TRUE(none.value.at("messages").as_array().empty());
    auto pending = probe({"XPENDING", "t:events", "tinbao"});
    EXPECT_EQ(pending.reply.elements[0].integer, 0);  // both acknowledged
}

// queue.redis.min_replicas: no 202 before a replica has the event. Without a replica the event
// is written but answered unavailable, and so is a retry of it (a duplicate); once a replica
// follows, the retry is answered duplicate (the first copy is replicated) and a new event is
// accepted.
TEST_F(RedisQueueTest, MinReplicasAnswersOnlyOnceAReplicaHasTheEvent) {
    settings_.redis.min_replicas = 1;
    // Long enough for a replica on a loaded machine to acknowledge: the outcome, not the speed,
    // is under test.
    settings_.redis.min_replicas_timeout = 1500ms;
    auto& q = open();
    auto evs = events("ev-rep", 2);
    std::string p0 = payload_of(evs[0]), p1 = payload_of(evs[1]);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[0], p0))), IngestOutcome::unavailable);
    EXPECT_EQ(probe({"EXISTS", "t:ev:ev-rep0"}).reply.integer, 1);  // written, not acknowledged
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[0], p0))), IngestOutcome::unavailable);

    attach_replica();
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[0], p0))), IngestOutcome::duplicate);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[1], p1))), IngestOutcome::accepted);
    auto on_replica = run(io_, to_replica_->command({"EXISTS", "t:ev:ev-rep0", "t:ev:ev-rep1"}));
    EXPECT_EQ(on_replica.reply.integer, 2);
    to_replica_->stop();
}

// queue.redis.min_replicas: nothing is processed before a replica has it, so that a failover
// cannot lose an entry that was sent (and the client's retry of its 503 send it again). An
// entry read while no replica acknowledges is held back (read() answers unavailable): it stays
// this consumer's pending entry, is asked for again at each read, and is returned once a
// replica has it.
TEST_F(RedisQueueTest, MinReplicasReadHoldsBackEntriesUntilAReplicaHasThem) {
    settings_.redis.min_replicas = 1;
    // Long enough for a replica on a loaded machine; with none at first, each WAIT lasts this.
    settings_.redis.min_replicas_timeout = 1500ms;
    auto& q = open();
    ASSERT_TRUE(run(io_, q.read(10, 10ms)));  // creates the consumer group (nothing to wait for)
    auto evs = events("ev-hold", 2);
    std::string p0 = payload_of(evs[0]);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[0], p0))), IngestOutcome::unavailable);

    auto got = run(io_, q.read(10, 10ms));
    EXPECT_FALSE(got);               // read, not returned
    EXPECT_EQ(pending_of("c1"), 1);  // this consumer's, pending
    EXPECT_EQ(run(io_, q.gauges()).held_back, 1);
    EXPECT_FALSE(run(io_, q.read(10, 10ms)));  // asked for again: still no replica
    EXPECT_EQ(run(io_, q.gauges()).held_back, 2);

    attach_replica();
    auto again = read_n(q, 1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].payload, p0);
    EXPECT_FALSE(again[0].claimed);
    EXPECT_EQ(pending_of("c1"), 1);
    // With the replica, what is read is returned at once; nothing is held back any more.
    std::string p1 = payload_of(evs[1]);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[1], p1))), IngestOutcome::accepted);
    auto next = read_n(q, 1);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].payload, p1);
    EXPECT_EQ(run(io_, q.gauges()).held_back, 2);
}

// queue.redis.min_replicas with a hand-off: the entries an ingest took reach the processor only
// once the WAIT that answers their 202 says a replica has them; those answered 503 are held
// back and returned by a later read (with their claim to be asked), once a replica has them.
TEST_F(RedisQueueTest, MinReplicasHandsOffOnlyWhatAReplicaHas) {
    settings_.redis.min_replicas = 1;
    settings_.redis.min_replicas_timeout = 1500ms;
    auto& q = open();
    ASSERT_TRUE(run(io_, q.read(10, 10ms)));  // creates the consumer group
    std::vector<queue::Entry> taken;
    q.set_handoff(
        {[] { return std::size_t{10}; },
         [&](std::vector<queue::Entry> e) { taken.insert(taken.end(), e.begin(), e.end()); }});
    q.set_coalescing(false);
    auto evs = events("ev-hand", 2);
    std::string p0 = payload_of(evs[0]);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[0], p0))), IngestOutcome::unavailable);
    EXPECT_TRUE(until([&] { return run(io_, q.gauges()).held_back == 1; }));
    EXPECT_TRUE(taken.empty());
    EXPECT_EQ(pending_of("c1"), 1);  // taken by the ingest: this consumer's

    attach_replica();
    std::string p1 = payload_of(evs[1]);
    EXPECT_EQ(outcome_of(run(io_, q.ingest(evs[1], p1))), IngestOutcome::accepted);
    EXPECT_TRUE(until([&] { return !taken.empty(); }));
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].payload, p1);
    EXPECT_TRUE(taken[0].claimed);
    // The held-back one comes from read(), its claim asked as for any entry read.
    auto again = read_n(q, 1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].payload, p0);
    EXPECT_FALSE(again[0].claimed);
    EXPECT_EQ(taken.size(), 1u);
}

// A connection never writes to a replica: ROLE is checked before it is ready.
TEST_F(RedisQueueTest, AConnectionRefusesAReplica) {
    TempDir replica_dir;
    RedisServer replica(replica_dir.path());
    redis::Options plain;
    plain.port = replica.port();
    plain.require_master = false;
    redis::Connection admin(io_, plain);
    admin.start();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!admin.ready() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(50ms);
    ASSERT_TRUE(admin.ready());
    // A replica of a master that does not answer: it stays a replica.
    ASSERT_TRUE(run(io_, admin.command({"REPLICAOF", "127.0.0.1", "1"})).ok);

    redis::Options o = plain;
    o.require_master = true;
    o.max_backoff = 100ms;
    redis::Connection writer(io_, o);
    int handshakes = 0;
    writer.start();
    // Each refused handshake is one connection the replica saw: wait for a few.
    auto connections = [&] {
        auto r = run(io_, admin.command({"INFO", "stats"}));
        auto at = r.reply.str.find("total_connections_received:");
        return at == std::string::npos ? 0 : std::atoi(r.reply.str.c_str() + at + 27);
    };
    int before = connections();
    while (connections() < before + 3 && std::chrono::steady_clock::now() < deadline)
        io_.run_one_for(50ms);
    handshakes = connections() - before;
    EXPECT_GE(handshakes, 3);
    EXPECT_FALSE(writer.ready());
    auto r = run(io_, writer.command({"SET", "k", "v"}));
    EXPECT_FALSE(r.ok);
    writer.stop();
    admin.stop();
}

}  // namespace
}  // namespace tinbao::test
