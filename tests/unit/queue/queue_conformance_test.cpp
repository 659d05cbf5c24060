// The queue conformance suite: the same tests against every backend (a real redis-server on a
// free loopback port, SQLite in a temp dir), so both keep the guarantees of queue.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <memory>
#include <set>

#include "common/time.hpp"
#include "daemon/config/config.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/queue/redis/redis_queue.hpp"
#include "daemon/queue/sqlite/sqlite_queue.hpp"
#include "tests/unit/queue/queue_test_util.hpp"
#include "tests/unit/queue/redis_server.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace tinbao::test {
namespace {

using queue::Claim;
using queue::Entry;

enum class Backend { redis, sqlite };

class QueueConformance : public ::testing::TestWithParam<Backend> {
protected:
    struct Opened {
        std::unique_ptr<queue::Queue> queue;
        StateStore* store = nullptr;
    };

    static void TearDownTestSuite() {
        redis_.reset();
        redis_dir_.reset();
    }

    void SetUp() override {
        std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        prefix_ = "t";
        for (char ch : name)
            if (std::isalnum(static_cast<unsigned char>(ch))) prefix_.push_back(ch);
        main_ = open("c1");
    }

    void TearDown() override { close(main_); }

    Opened open(const std::string& consumer, std::chrono::milliseconds claim_idle = 60s) {
        Opened o;
        if (GetParam() == Backend::redis) {
            if (!redis_) {
                redis_dir_ = std::make_unique<TempDir>();
                redis_ = std::make_unique<RedisServer>(redis_dir_->path());
            }
            QueueSettings s;
            s.backend = "redis";
            s.redis.host = "127.0.0.1";
            s.redis.port = redis_->port();
            s.redis.prefix = prefix_;
            s.dedupe_ttl = 3600s;
            s.claim_idle = claim_idle;
            auto q = std::make_unique<queue::RedisQueue>(io_, s, consumer);
            o.store = q.get();
            o.queue = std::move(q);
        } else {
            auto q = std::make_unique<queue::SqliteQueue>(io_, dir_.path() / "queue.db", 3600s,
                                                          consumer, claim_idle);
            o.store = q.get();
            o.queue = std::move(q);
        }
        o.queue->start();
        auto deadline = std::chrono::steady_clock::now() + 5s;
        io_.restart();
        while (!o.queue->ready() && std::chrono::steady_clock::now() < deadline)
            io_.run_one_for(50ms);
        EXPECT_TRUE(o.queue->ready());
        return o;
    }

    void close(Opened& o) {
        if (o.queue) o.queue->stop();
        o.queue.reset();
        o.store = nullptr;
    }

    // A crash: the queue object goes away without acknowledging anything; a new one opens.
    void restart(const std::string& consumer = "c1") {
        close(main_);
        main_ = open(consumer);
    }

    queue::Queue& q() { return *main_.queue; }
    StateStore& store() { return *main_.store; }

    // read(), retried while a connection is still coming up (nullopt hands nothing out), and a
    // few times when empty: a first read after a start may only finish the backend's look at
    // its own earlier entries.
    std::vector<Entry> read(queue::Queue& from, std::size_t max = 10,
                            std::chrono::milliseconds wait = 50ms) {
        int empty = 0;
        for (int i = 0; i < 50 && empty < 3; ++i) {
            auto got = run(io_, from.read(max, wait));
            if (!got) {
                io_.run_one_for(20ms);
                continue;
            }
            if (!got->empty()) return *got;
            ++empty;
        }
        if (empty == 0) ADD_FAILURE() << "read() kept failing";
        return {};
    }
    std::vector<Entry> read(std::size_t max = 10) { return read(q(), max); }

    // Ingests an event and reads its entry back.
    Entry ingest_and_read(const Event& ev) {
        EXPECT_EQ(outcome_of(run(io_, q().ingest(ev, payload_of(ev)))), IngestOutcome::accepted);
        auto got = read();
        EXPECT_EQ(got.size(), 1u);
        return got.empty() ? Entry{} : got.front();
    }

    json::object event_json(const std::string& id) {
        auto l = lookup(run(io_, q().event_record(id)));
        EXPECT_EQ(l.status, Lookup::Status::found) << id;
        return l.status == Lookup::Status::found ? l.value.as_object() : json::object{};
    }

    std::string message_state(const std::string& id) {
        auto l = lookup(run(io_, q().message_record(id)));
        if (l.status != Lookup::Status::found) return "<" + std::to_string(int(l.status)) + ">";
        return std::string(l.value.as_object().at("state").as_string());
    }

    static inline std::unique_ptr<TempDir> redis_dir_;
    static inline std::unique_ptr<RedisServer> redis_;
    asio::io_context io_;
    TempDir dir_;
    std::string prefix_;
    Opened main_;
};

TEST_P(QueueConformance, IngestAcceptsOnceThenReportsDuplicates) {
    auto a = make_event("ev-a"), b = make_event("ev-b");
    EXPECT_EQ(outcome_of(run(io_, q().ingest(a, payload_of(a)))), IngestOutcome::accepted);
    EXPECT_EQ(outcome_of(run(io_, q().ingest(a, payload_of(a)))), IngestOutcome::duplicate);
    EXPECT_EQ(outcome_of(run(io_, q().ingest(b, payload_of(b)))), IngestOutcome::accepted);
    auto got = read();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, payload_of(a));
    EXPECT_EQ(got[1].payload, payload_of(b));
    EXPECT_EQ(got[0].source, "http");
    EXPECT_NE(got[0].id, got[1].id);
    // The event is known at once, before any processing.
    EXPECT_EQ(event_json("ev-a").at("state").as_string(), "accepted");
}

// Many callers at once (one script run per batch on Redis, one transaction on SQLite): each
// gets its own answer, duplicates inside one batch included, and each event's records stay its
// own.
TEST_P(QueueConformance, ConcurrentCallsEachGetTheirOwnAnswer) {
    constexpr int kEvents = 300;
    std::vector<Event> events;
    for (int i = 0; i < kEvents; ++i)
        events.push_back(make_event("ev-many-" + std::to_string(i), "D-M" + std::to_string(i % 7)));
    auto all = [&](auto make) -> asio::awaitable<std::vector<int>> {
        // Every call starts before any answer comes back.
        std::vector<int> out(kEvents + kEvents / 3, -1);
        int left = static_cast<int>(out.size());
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer done(ex, std::chrono::steady_clock::time_point::max());
        for (size_t i = 0; i < out.size(); ++i)
            asio::co_spawn(ex, make(i), [&, i](std::exception_ptr, int v) {
                out[i] = v;
                if (--left == 0) done.cancel();
            });
        co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return out;
    };
    // Calls past kEvents repeat an earlier event in the same batch: a duplicate.
    auto ingested = run(io_, all([&](size_t i) -> asio::awaitable<int> {
        auto& ev = events[i % kEvents];
        Result<void> stored = co_await q().ingest(ev, payload_of(ev));
        co_return static_cast<int>(outcome_of(stored));
    }));
    for (size_t i = 0; i < ingested.size(); ++i)
        EXPECT_EQ(ingested[i], static_cast<int>(i < kEvents ? IngestOutcome::accepted
                                                            : IngestOutcome::duplicate))
            << i;

    std::vector<Entry> entries;
    while (entries.size() < kEvents) {
        auto got = read(kEvents);
        if (got.empty()) break;
        entries.insert(entries.end(), got.begin(), got.end());
    }
    ASSERT_EQ(entries.size(), static_cast<size_t>(kEvents));
    std::vector<MessageRecord> records;
    for (int i = 0; i < kEvents; ++i)
        records.push_back(make_record("m-many-" + std::to_string(i), events[i]));
    auto claimed = run(io_, all([&](size_t i) -> asio::awaitable<int> {
        if (i >= kEvents) co_return 0;
        std::vector<MessageRecord> initial{records[i]};
        Result<Claim> c = co_await q().claim(entries[i], events[i], initial);
        co_return c && c->existing.size() == 1 && !c->existing[0] ? 1 : 2;
    }));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(claimed[i], 1) << i;

    // Odd events are sent, even ones wait for a retry.
    auto committed = run(io_, all([&](size_t i) -> asio::awaitable<int> {
        if (i >= kEvents) co_return 1;
        auto m = records[i];
        m.attempts = 1;
        m.state = i % 2 ? state::kSent : state::kQueued;
        std::vector<MessageRecord> msgs{m};
        auto c = make_commit(events[i], std::move(msgs), &entries[i]);
        if (i % 2)
            c.done.push_back(m.id);
        else
            c.schedule.push_back(queue::Job{m.id, "{}", now_ms() + 600000});
        Result<void> ok = co_await q().commit(c);
        co_return ok ? 1 : 0;
    }));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(committed[i], 1) << i;
    EXPECT_TRUE(read().empty());  // every entry acknowledged
    for (int i = 0; i < kEvents; i += 37) {
        EXPECT_EQ(event_json(events[i].event_id).at("state").as_string(),
                  i % 2 ? "done" : "accepted");
        EXPECT_EQ(message_state(records[i].id), i % 2 ? "sent" : "queued");
    }
    // The waiting (even) notices hold their dossiers back; D-M1 has both kinds.
    EXPECT_GT(run(io_, q().dossier_blocked_until("D-M0", now_ms() + 1, "x")).value(), now_ms());
}

TEST_P(QueueConformance, EachEntryGoesToOneConsumer) {
    auto ev = make_event("ev-one");
    ingest_and_read(ev);
    auto other = open("c2");
    EXPECT_TRUE(read(*other.queue).empty());  // leased to c1, which is alive
    EXPECT_TRUE(read().empty());              // and not handed to c1 twice
    close(other);
}

TEST_P(QueueConformance, CommittedEntryIsNotHandedOutAgain) {
    auto ev = make_event("ev-commit");
    auto entry = ingest_and_read(ev);
    auto m = make_record("m-commit", ev);
    auto claim = claimed(run(io_, q().claim(entry, ev, {m})));
    ASSERT_EQ(claim.kind, Claimed::Kind::process);
    ASSERT_EQ(claim.existing.size(), 1u);
    EXPECT_FALSE(claim.existing[0].has_value());
    EXPECT_EQ(claim.blocked_until_ms, 0);
    m.state = state::kSent;
    m.attempts = 1;
    auto c = make_commit(ev, {m}, &entry);
    c.done.push_back(m.id);
    ASSERT_TRUE(run(io_, q().commit(c)));
    EXPECT_TRUE(read().empty());
    restart();
    EXPECT_TRUE(read().empty());  // acknowledged: gone for good
    EXPECT_EQ(message_state("m-commit"), "sent");
    EXPECT_EQ(event_json("ev-commit").at("state").as_string(), "done");
}

TEST_P(QueueConformance, SecondEntryOfAnEventIsADuplicateAndTheFirstKeepsItsRecords) {
    auto ev = make_event("ev-dup");
    auto entry = ingest_and_read(ev);
    auto m = make_record("m-dup", ev);
    ASSERT_EQ(claimed(run(io_, q().claim(entry, ev, {m}))).kind, Claimed::Kind::process);
    Entry copy{"999999999", payload_of(ev), "stream"};
    EXPECT_EQ(claimed(run(io_, q().claim(copy, ev, {make_record("m-other", ev)}))).kind,
              Claimed::Kind::duplicate);
    EXPECT_TRUE(run(io_, q().ack(copy)));
    // The elected entry claims again (after a crash): the record written at the first claim.
    auto again = claimed(run(io_, q().claim(entry, ev, {m})));
    ASSERT_EQ(again.kind, Claimed::Kind::process);
    ASSERT_EQ(again.existing.size(), 1u);
    ASSERT_TRUE(again.existing[0].has_value());
    EXPECT_EQ(again.existing[0]->id, "m-dup");
    EXPECT_EQ(again.existing[0]->state, "queued");
    EXPECT_EQ(lookup(run(io_, q().message_record("m-other"))).status, Lookup::Status::not_found);
}

TEST_P(QueueConformance, UnacknowledgedEntriesComeBackAfterACrash) {
    auto a = make_event("ev-crash-a"), b = make_event("ev-crash-b");
    ASSERT_EQ(outcome_of(run(io_, q().ingest(a, payload_of(a)))), IngestOutcome::accepted);
    ASSERT_EQ(outcome_of(run(io_, q().ingest(b, payload_of(b)))), IngestOutcome::accepted);
    auto got = read();
    ASSERT_EQ(got.size(), 2u);
    // Only the first one is finished before the crash.
    auto c = make_commit(a, {}, &got[0]);
    ASSERT_TRUE(run(io_, q().commit(c)));
    restart();
    auto again = read();
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].id, got[1].id);
    EXPECT_EQ(again[0].payload, payload_of(b));
    ASSERT_TRUE(run(io_, q().ack(again[0])));
    restart();
    EXPECT_TRUE(read().empty());
}

TEST_P(QueueConformance, EntriesOfAConsumerThatStoppedAreTakenOver) {
    close(main_);
    main_ = open("c1", 300ms);
    auto ev = make_event("ev-takeover");
    auto entry = ingest_and_read(ev);
    auto t0 = std::chrono::steady_clock::now();
    auto other = open("c2", 300ms);
    EXPECT_TRUE(read(*other.queue).empty());  // c1's lease is still running
    std::vector<Entry> got;
    while (got.empty() && std::chrono::steady_clock::now() - t0 < 5s)
        got = read(*other.queue, 10, 100ms);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, entry.id);
    close(other);
}

TEST_P(QueueConformance, KeepAliveHoldsAnEntry) {
    close(main_);
    main_ = open("c1", 600ms);
    auto ev = make_event("ev-alive");
    auto entry = ingest_and_read(ev);
    auto other = open("c2", 600ms);
    auto t0 = std::chrono::steady_clock::now();
    // c1 refreshes its hold well within claim_idle for twice claim_idle: c2 never gets it.
    while (std::chrono::steady_clock::now() - t0 < 1200ms) {
        run(io_, q().keep_alive({entry.id}));
        EXPECT_TRUE(read(*other.queue, 10, 30ms).empty());
    }
    close(other);
}

TEST_P(QueueConformance, RejectedEntryIsKeptAsideAndNotHandedOutAgain) {
    auto ev = make_event("ev-bad");
    auto entry = ingest_and_read(ev);
    EXPECT_TRUE(run(io_, q().reject(entry, "invalid_event: missing field")));
    restart();
    EXPECT_TRUE(read().empty());
}

TEST_P(QueueConformance, DueJobsAreLeasedThenComeBack) {
    auto ev = make_event("ev-job");
    auto m = make_record("m-job", ev);
    auto c = make_commit(ev, {m});
    c.schedule.push_back(queue::Job{m.id, R"({"k":"payload"})", now_ms() - 60000});
    auto later = make_record("m-later", ev);
    c.messages.push_back(later);
    c.schedule.push_back(queue::Job{later.id, "{}", now_ms() + 3600000});
    EXPECT_EQ(run(io_, q().gauges()).oldest_due_ms, 0);  // no job yet
    ASSERT_TRUE(run(io_, q().commit(c)));
    auto g = run(io_, q().gauges());
    EXPECT_EQ(g.scheduled, 2);
    // The job due a minute ago has waited that long; the one due in an hour does not count.
    EXPECT_GE(g.oldest_due_ms, 60000);
    EXPECT_LT(g.oldest_due_ms, 120000);

    auto t0 = std::chrono::steady_clock::now();
    auto due = run(io_, q().take_due(10, 400ms));
    ASSERT_TRUE(due);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].job.message_id, "m-job");
    EXPECT_EQ((*due)[0].job.payload, R"({"k":"payload"})");
    ASSERT_TRUE((*due)[0].record);
    EXPECT_EQ((*due)[0].record->state, "queued");
    // Leased: not handed out again while the lease runs, then it comes back.
    auto second = run(io_, q().take_due(10, 400ms));
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->empty());
    // Taken: its wait is over (a lease that ran out counts from the lease's end).
    EXPECT_LT(run(io_, q().gauges()).oldest_due_ms, 60000);
    Result<std::vector<queue::DueJob>> back;
    while ((!back || back->empty()) && std::chrono::steady_clock::now() - t0 < 5s) {
        asio::steady_timer t(io_, 50ms);
        run(io_, t.async_wait(asio::use_awaitable));
        back = run(io_, q().take_due(10, 400ms));
    }
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 1u);
    // Done: never handed out again.
    auto done = make_commit(ev, {});
    done.done.push_back("m-job");
    ASSERT_TRUE(run(io_, q().commit(done)));
    EXPECT_EQ(run(io_, q().gauges()).scheduled, 1);
}

TEST_P(QueueConformance, DeadLettersAreListedNewestFirstWithTheirJobs) {
    auto ev = make_event("ev-dead");
    auto a = make_record("m-dead-a", ev, state::kFailed);
    a.last_error_reason = "invalid_phone";
    a.last_error_detail = "not a mobile number";
    auto c1 = make_commit(ev, {a});
    c1.dead.push_back(queue::Job{a.id, "payload-a", 0});
    ASSERT_TRUE(run(io_, q().commit(c1)));
    asio::steady_timer t(io_, 5ms);  // a later dead letter gets a later time
    run(io_, t.async_wait(asio::use_awaitable));
    auto b = make_record("m-dead-b", ev, state::kExpired);
    b.last_error_reason = "provider_unavailable";
    auto c2 = make_commit(ev, {b});
    c2.schedule.push_back(queue::Job{b.id, "payload-b", now_ms() + 100000});
    ASSERT_TRUE(run(io_, q().commit(c2)));
    auto c3 = make_commit(ev, {b});
    c3.dead.push_back(queue::Job{b.id, "payload-b", 0});
    ASSERT_TRUE(run(io_, q().commit(c3)));

    auto g = run(io_, q().gauges());
    EXPECT_EQ(g.dead, 2);
    EXPECT_EQ(g.scheduled, 0);  // a dead letter is no longer scheduled
    auto all = lookup(run(io_, q().dead_letters({})));
    ASSERT_EQ(all.status, Lookup::Status::found);
    auto& list = all.value.as_object().at("dead_letters").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].as_object().at("id").as_string(), "m-dead-b");
    EXPECT_EQ(list[1].as_object().at("id").as_string(), "m-dead-a");
    queue::DeadLetterQuery by_reason;
    by_reason.reason = "invalid_phone";
    auto some = lookup(run(io_, q().dead_letters(by_reason)));
    ASSERT_EQ(some.value.as_object().at("dead_letters").as_array().size(), 1u);
    queue::DeadLetterQuery one;
    one.limit = 1;
    auto limited = lookup(run(io_, q().dead_letters(one)));
    EXPECT_EQ(limited.value.as_object().at("dead_letters").as_array().size(), 1u);

    auto taken = run(io_, q().dead_jobs({"m-dead-a", "m-unknown"}, ""));
    ASSERT_TRUE(taken);
    ASSERT_EQ(taken->size(), 1u);
    EXPECT_EQ((*taken)[0].message_id, "m-dead-a");
    EXPECT_EQ((*taken)[0].payload, "payload-a");
    auto by = run(io_, q().dead_jobs({}, "provider_unavailable"));
    ASSERT_TRUE(by);
    ASSERT_EQ(by->size(), 1u);
    EXPECT_EQ((*by)[0].message_id, "m-dead-b");
    EXPECT_EQ((*by)[0].payload, "payload-b");
    EXPECT_EQ(run(io_, q().gauges()).dead, 2);  // reading their jobs takes nothing out
}

// A replay reads the dead letter's job, then commits the job scheduled again. A crash between
// the two (here: the queue goes away with nothing more written) must leave the dead letter, and
// the replay after the restart must schedule the message once.
TEST_P(QueueConformance, AReplayStoppedBeforeItsCommitLeavesTheDeadLetter) {
    auto ev = make_event("ev-replay");
    auto a = make_record("m-replay", ev, state::kFailed);
    a.last_error_reason = "provider_unavailable";
    auto c = make_commit(ev, {a});
    c.dead.push_back(queue::Job{a.id, "payload-old", 0});
    ASSERT_TRUE(run(io_, q().commit(c)));

    auto jobs = run(io_, q().dead_jobs({a.id}, ""));
    ASSERT_TRUE(jobs);
    ASSERT_EQ(jobs->size(), 1u);
    restart();  // killed before the replay's commit
    auto g = run(io_, q().gauges());
    EXPECT_EQ(g.dead, 1);
    EXPECT_EQ(g.scheduled, 0);
    auto listed = lookup(run(io_, q().dead_letters({})));
    ASSERT_EQ(listed.value.as_object().at("dead_letters").as_array().size(), 1u);

    // The replay again after the restart: the same job, then its commit moves it in one write.
    auto again = run(io_, q().dead_jobs({a.id}, ""));
    ASSERT_TRUE(again);
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ((*again)[0].payload, "payload-old");
    a.state = state::kQueued;
    auto replay = make_commit(ev, {a});
    replay.schedule.push_back(queue::Job{a.id, "payload-new", now_ms()});
    ASSERT_TRUE(run(io_, q().commit(replay)));
    g = run(io_, q().gauges());
    EXPECT_EQ(g.dead, 0);
    EXPECT_EQ(g.scheduled, 1);
    auto none = run(io_, q().dead_jobs({a.id}, ""));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());  // replayed once: a second replay finds nothing

    auto due = run(io_, q().take_due(10, 60s));
    ASSERT_TRUE(due);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].job.message_id, a.id);
    EXPECT_EQ((*due)[0].job.payload, "payload-new");
}

TEST_P(QueueConformance, DiscardedDeadLettersAreGoneForGoodAndKeepTheirRecords) {
    auto ev = make_event("ev-discard");
    auto a = make_record("m-disc-a", ev, state::kFailed);
    a.last_error_reason = "invalid_phone";
    auto b = make_record("m-disc-b", ev, state::kExpired);
    b.last_error_reason = "provider_unavailable";
    auto c = make_commit(ev, {a, b});
    c.dead.push_back(queue::Job{a.id, "payload-a", 0});
    c.dead.push_back(queue::Job{b.id, "payload-b", 0});
    ASSERT_TRUE(run(io_, q().commit(c)));
    ASSERT_EQ(run(io_, q().gauges()).dead, 2);

    auto gone = run(io_, q().discard_dead({"m-disc-a", "m-unknown"}));
    ASSERT_TRUE(gone);
    EXPECT_EQ(*gone, std::vector<std::string>{"m-disc-a"});
    EXPECT_EQ(run(io_, q().gauges()).dead, 1);
    auto again = run(io_, q().discard_dead({"m-disc-a"}));
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());  // discarded once only
    // Neither listed nor replayable any more; its record stays as it ended.
    auto left = lookup(run(io_, q().dead_letters({})));
    auto& list = left.value.as_object().at("dead_letters").as_array();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].as_object().at("id").as_string(), "m-disc-b");
    auto taken = run(io_, q().dead_jobs({"m-disc-a"}, ""));
    ASSERT_TRUE(taken);
    EXPECT_TRUE(taken->empty());
    auto rec = lookup(run(io_, q().message_record("m-disc-a")));
    ASSERT_EQ(rec.status, Lookup::Status::found);
    EXPECT_EQ(rec.value.as_object().at("state").as_string(), "failed");
}

TEST_P(QueueConformance, FeedbackIsStoredOnceAndListedByDossierNewestFirst) {
    auto feedback = [](std::string id, std::string dossier, int rating, int64_t at) {
        FeedbackRecord f;
        f.id = "zalo:" + std::move(id);
        f.message_id = "m-rated";
        f.event_id = "ev-rated";
        f.dossier_code = std::move(dossier);
        f.channel = "zalo";
        f.provider = "zalo";
        f.rating = rating;
        f.comments = {"Nhân viên nhiệt tình"};
        f.note = "Cảm ơn";
        f.submitted_at_ms = at;
        f.received_at_ms = at + 1000;
        return f;
    };
    auto first = run(io_, q().add_feedback(feedback("a", "D-FB", 5, 1000)));
    ASSERT_TRUE(first);
    EXPECT_TRUE(*first);
    auto again = run(io_, q().add_feedback(feedback("a", "D-FB", 1, 1000)));
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);  // the same answer delivered twice is stored once, as it came first
    ASSERT_TRUE(run(io_, q().add_feedback(feedback("b", "D-FB", 3, 2000))));
    ASSERT_TRUE(run(io_, q().add_feedback(feedback("c", "D-OTHER", 4, 3000))));

    auto l = lookup(run(io_, q().dossier_feedback("D-FB")));
    ASSERT_EQ(l.status, Lookup::Status::found);
    EXPECT_EQ(l.value.as_object().at("dossier_code").as_string(), "D-FB");
    auto& list = l.value.as_object().at("feedback").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].as_object().at("id").as_string(), "zalo:b");
    EXPECT_EQ(list[1].as_object().at("id").as_string(), "zalo:a");
    EXPECT_EQ(list[1].as_object().at("rating").as_int64(), 5);
    EXPECT_EQ(list[1].as_object().at("note").as_string(), "Cảm ơn");
    EXPECT_EQ(list[1].as_object().at("comments").as_array().size(), 1u);
    EXPECT_EQ(list[1].as_object().at("message_id").as_string(), "m-rated");

    auto none = lookup(run(io_, q().dossier_feedback("D-NONE")));
    ASSERT_EQ(none.status, Lookup::Status::found);
    EXPECT_TRUE(none.value.as_object().at("feedback").as_array().empty());
}

TEST_P(QueueConformance, DeliveryReportsApplyOnceAndNeverGoBackwards) {
    auto ev = make_event("ev-report");
    auto entry = ingest_and_read(ev);
    auto m = make_record("m-report", ev);
    ASSERT_EQ(claimed(run(io_, q().claim(entry, ev, {m}))).kind, Claimed::Kind::process);
    // A report for a message not yet sent is ignored, and its key is spent.
    DeliveryUpdate early{"m-report", "", "delivered", "", "", "report-1"};
    auto found = run(io_, q().apply_updates({early}));
    ASSERT_TRUE(found);
    ASSERT_EQ(found->size(), 1u);
    // The message's event and dossier, for the log line about the report.
    EXPECT_EQ((*found)[0].event_id, "ev-report");
    EXPECT_EQ((*found)[0].dossier_code, ev.dossier_code);
    EXPECT_FALSE((*found)[0].applied);
    EXPECT_EQ(message_state("m-report"), "queued");
    m.state = state::kSent;
    m.attempts = 1;
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {m}, &entry))));
    EXPECT_EQ(event_json("ev-report").at("state").as_string(), "done");
    ASSERT_TRUE(run(io_, q().apply_updates({early})));  // the same report again: once only
    EXPECT_EQ(message_state("m-report"), "sent");
    DeliveryUpdate fail{"m-report", "", "failed", "rejected_by_carrier", "no", "report-2"};
    DeliveryUpdate delivered{"m-report", "PID-9", "delivered", "", "", "report-3"};
    auto both = run(io_, q().apply_updates({delivered, fail}));
    ASSERT_TRUE(both);
    ASSERT_EQ(both->size(), 2u);
    EXPECT_TRUE((*both)[0].applied);
    EXPECT_FALSE((*both)[1].applied);  // would move it backwards
    EXPECT_EQ((*both)[1].event_id, "ev-report");
    auto rec = lookup(run(io_, q().message_record("m-report")));
    ASSERT_EQ(rec.status, Lookup::Status::found);
    EXPECT_EQ(rec.value.as_object().at("state").as_string(), "delivered");  // not back to failed
    EXPECT_EQ(rec.value.as_object().at("provider_message_id").as_string(), "PID-9");
    EXPECT_EQ(event_json("ev-report").at("state").as_string(), "done");
    // An unknown message is not an error.
    auto nobody = run(io_, q().apply_updates({{"m-nobody", "", "delivered", "", "", ""}}));
    ASSERT_TRUE(nobody);
    ASSERT_EQ(nobody->size(), 1u);
    EXPECT_TRUE((*nobody)[0].event_id.empty());
    EXPECT_FALSE((*nobody)[0].applied);
}

TEST_P(QueueConformance, FailedReportMakesTheEventFailed) {
    auto ev = make_event("ev-report-fail");
    auto m = make_record("m-report-fail", ev, state::kSent);
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {m}))));
    EXPECT_EQ(event_json("ev-report-fail").at("state").as_string(), "done");
    DeliveryUpdate fail{m.id, "", "failed", "rejected_by_carrier", "blocked", ""};
    ASSERT_TRUE(run(io_, q().apply_updates({fail})));
    auto rec = lookup(run(io_, q().message_record(m.id))).value.as_object();
    EXPECT_EQ(rec.at("state").as_string(), "failed");
    EXPECT_EQ(rec.at("last_error").as_object().at("reason").as_string(), "rejected_by_carrier");
    EXPECT_EQ(event_json(ev.event_id).at("state").as_string(), "failed");
}

TEST_P(QueueConformance, EventStateFollowsItsMessages) {
    auto ev = make_event("ev-state");
    auto sms = make_record("m-state-sms", ev, state::kQueued);
    auto mail = make_record("m-state-mail", ev, state::kFailed);
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {sms, mail}))));
    EXPECT_EQ(event_json("ev-state").at("state").as_string(), "accepted");  // one still waits
    sms.state = state::kFailed;
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {sms}))));
    EXPECT_EQ(event_json("ev-state").at("state").as_string(), "failed");  // none succeeded
    sms.state = state::kSent;
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {sms}))));
    auto rec = event_json("ev-state");
    EXPECT_EQ(rec.at("state").as_string(), "done");  // one success is enough
    EXPECT_EQ(rec.at("messages").as_array().size(), 2u);  // each id once, in order
    EXPECT_EQ(rec.at("messages").as_array()[0].as_object().at("id").as_string(), "m-state-sms");

    auto unrouted = make_event("ev-state-skip");
    auto c = make_commit(unrouted, {});
    c.skipped = true;
    ASSERT_TRUE(run(io_, q().commit(c)));
    EXPECT_EQ(event_json("ev-state-skip").at("state").as_string(), "skipped");
}

// A delivery report moves the record's `updated_at` with its `updated_at_ms`: the record is
// written again from MessageRecord, not edited field by field (which left `updated_at` behind).
TEST_P(QueueConformance, ADeliveryReportMovesUpdatedAt) {
    auto ev = make_event("ev-report-time");
    auto m = make_record("m-report-time", ev, state::kSent, now_ms() - 60000);
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {m}))));
    DeliveryUpdate delivered{m.id, "", "delivered", "", "", ""};
    ASSERT_TRUE(run(io_, q().apply_updates({delivered})));
    auto rec = lookup(run(io_, q().message_record(m.id))).value.as_object();
    EXPECT_EQ(rec.at("state").as_string(), "delivered");
    auto moved = rec.at("updated_at_ms").as_int64();
    EXPECT_GT(moved, m.updated_at_ms);
    EXPECT_EQ(rec.at("updated_at").as_string(), rfc3339_utc(moved));
    EXPECT_EQ(rec.at("created_at").as_string(), rfc3339_utc(m.created_at_ms));
}

// A notice coalesced into a newer event of its dossier (superseded, not sent by choice) leaves
// its event `skipped`, not `failed`.
TEST_P(QueueConformance, ACoalescedEventIsNotFailed) {
    auto ev = make_event("ev-coalesced");
    auto m = make_record("m-coalesced", ev, state::kSuperseded);
    m.last_error_reason = "coalesced";
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {m}))));
    EXPECT_EQ(event_json("ev-coalesced").at("state").as_string(), "skipped");
}

// Every backend shows the event state of the one rule (model/rules.hpp) for every combination of
// one or two message states.
TEST_P(QueueConformance, EventStateIsTheModelRuleForEveryCombination) {
    const std::vector<std::string_view> states{
        state::kQueued, state::kSending, state::kSent,    state::kDelivered,
        state::kFailed, state::kExpired, state::kSkipped, state::kSuperseded};
    std::vector<std::vector<std::string_view>> cases;
    for (auto a : states) {
        cases.push_back({a});
        for (auto b : states) cases.push_back({a, b});
    }
    int n = 0;
    for (auto& c : cases) {
        auto ev = make_event("ev-combo-" + std::to_string(n++));
        std::vector<MessageRecord> msgs;
        for (size_t i = 0; i < c.size(); ++i)
            msgs.push_back(make_record(ev.event_id + "-m" + std::to_string(i), ev, c[i]));
        ASSERT_TRUE(run(io_, q().commit(make_commit(ev, msgs))));
        EXPECT_EQ(event_json(ev.event_id).at("state").as_string(), event_state(c))
            << c.front() << (c.size() > 1 ? std::string(", ") + std::string(c.back()) : "");
    }
}

TEST_P(QueueConformance, AnOlderWaitingNoticeBlocksTheDossier) {
    auto older = make_event("ev-old", "D-ORDER");
    auto t_old = now_ms() - 10000;
    auto waiting = make_record("m-old", older, state::kQueued, t_old);
    auto due = now_ms() + 60000;
    auto c = make_commit(older, {waiting});
    c.schedule.push_back(queue::Job{waiting.id, "{}", due});
    ASSERT_TRUE(run(io_, q().commit(c)));

    auto t_new = now_ms();
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-ORDER", t_new, "m-new")).value(), due);
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-ORDER", t_old, "m-new")).value(), 0);  // not older
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-ORDER", t_new, "m-old")).value(), 0);  // itself
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-OTHER", t_new, "m-new")).value(), 0);

    auto newer = make_event("ev-new", "D-ORDER");
    auto entry = ingest_and_read(newer);
    auto claim = claimed(run(io_, q().claim(entry, newer, {make_record("m-new", newer)})));
    ASSERT_EQ(claim.kind, Claimed::Kind::process);
    EXPECT_EQ(claim.blocked_until_ms, due);

    // Once the older notice is sent, nothing waits any more.
    waiting.state = state::kSent;
    auto sent = make_commit(older, {waiting});
    sent.done.push_back(waiting.id);
    ASSERT_TRUE(run(io_, q().commit(sent)));
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-ORDER", now_ms() + 1, "m-new")).value(), 0);
    auto other = make_event("ev-newer", "D-ORDER");
    Entry e2{"888888888", payload_of(other), "stream"};
    EXPECT_EQ(claimed(run(io_, q().claim(e2, other, {}))).blocked_until_ms, 0);
}

TEST_P(QueueConformance, StateStorePutGetAndLock) {
    auto missing = run(io_, store().get("zalo:oa1"));
    EXPECT_TRUE(missing.ok);
    EXPECT_FALSE(missing.value);
    ASSERT_TRUE(run(io_, store().put("zalo:oa1", R"({"access":"a1"})")));
    ASSERT_TRUE(run(io_, store().put("zalo:oa1", R"({"access":"a2"})")));
    auto got = run(io_, store().get("zalo:oa1"));
    ASSERT_TRUE(got.ok);
    EXPECT_EQ(got.value, R"({"access":"a2"})");

    EXPECT_TRUE(run(io_, store().try_lock("refresh", 60s)));
    EXPECT_FALSE(run(io_, store().try_lock("refresh", 60s)));  // held, also against itself
    auto other = open("c2");
    EXPECT_FALSE(run(io_, other.store->try_lock("refresh", 60s)));
    run(io_, other.store->unlock("refresh"));  // not its lock: nothing happens
    EXPECT_FALSE(run(io_, other.store->try_lock("refresh", 60s)));
    run(io_, store().unlock("refresh"));
    EXPECT_TRUE(run(io_, other.store->try_lock("refresh", 60s)));
    // A lock ends with its ttl.
    EXPECT_TRUE(run(io_, other.store->try_lock("short", 100ms)));
    auto t0 = std::chrono::steady_clock::now();
    bool taken = false;
    while (!taken && std::chrono::steady_clock::now() - t0 < 3s)
        taken = run(io_, store().try_lock("short", 60s));
    EXPECT_TRUE(taken);
    close(other);
    restart();
    EXPECT_EQ(run(io_, store().get("zalo:oa1")).value, R"({"access":"a2"})");  // durable
}

TEST_P(QueueConformance, StateStoreValuesForAWhileExpire) {
    ASSERT_TRUE(run(io_, store().put_for("fpt:sms:1", "m1", 1h)));
    ASSERT_TRUE(run(io_, store().put_for("fpt:sms:2", "m2", 50ms)));
    EXPECT_EQ(run(io_, store().get("fpt:sms:1")).value, "m1");
    auto t0 = std::chrono::steady_clock::now();
    std::optional<std::string> gone = "m2";
    while (gone && std::chrono::steady_clock::now() - t0 < 3s)
        gone = run(io_, store().get("fpt:sms:2")).value;
    EXPECT_FALSE(gone);
    // A plain put() over an expiring value keeps it.
    ASSERT_TRUE(run(io_, store().put_for("k", "a", 50ms)));
    ASSERT_TRUE(run(io_, store().put("k", "b")));
    restart();
    EXPECT_EQ(run(io_, store().get("fpt:sms:1")).value, "m1");  // durable
    EXPECT_EQ(run(io_, store().get("k")).value, "b");
}

TEST_P(QueueConformance, LookupsHaveTheApiShapes) {
    EXPECT_EQ(lookup(run(io_, q().event_record("ev-none"))).status, Lookup::Status::not_found);
    EXPECT_EQ(lookup(run(io_, q().message_record("m-none"))).status, Lookup::Status::not_found);
    auto empty = lookup(run(io_, q().dossier_messages("D-NONE")));
    ASSERT_EQ(empty.status, Lookup::Status::found);
    EXPECT_TRUE(empty.value.as_object().at("messages").as_array().empty());

    auto ev = make_event("ev-shape", "D-SHAPE", "approved");
    auto entry = ingest_and_read(ev);
    auto first = make_record("m-shape-1", ev, state::kQueued, now_ms() - 2000);
    ASSERT_EQ(claimed(run(io_, q().claim(entry, ev, {first}))).kind, Claimed::Kind::process);
    first.state = state::kSent;
    first.attempts = 1;
    first.provider_message_id = "P-1";
    auto second = make_record("m-shape-2", ev, state::kFailed, now_ms() + 2000);
    second.channel = "email";
    second.last_error_reason = "no_contact";
    second.last_error_detail = "no address";
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {first, second}, &entry))));

    auto rec = event_json("ev-shape");
    std::set<std::string> keys;
    for (auto& kv : rec) keys.insert(std::string(kv.key()));
    EXPECT_EQ(keys, (std::set<std::string>{"event_id", "state", "dossier_code", "status",
                                           "created_at", "updated_at", "messages"}));
    EXPECT_EQ(rec.at("event_id").as_string(), "ev-shape");
    EXPECT_EQ(rec.at("dossier_code").as_string(), "D-SHAPE");
    EXPECT_EQ(rec.at("status").as_string(), "approved");
    EXPECT_EQ(rec.at("state").as_string(), "done");
    EXPECT_TRUE(valid_rfc3339(rec.at("created_at").as_string()));
    auto& msgs = rec.at("messages").as_array();
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(msgs[0], json::value(first.to_json()));  // the record exactly as written
    EXPECT_EQ(msgs[1], json::value(second.to_json()));

    auto m = lookup(run(io_, q().message_record("m-shape-2")));
    ASSERT_EQ(m.status, Lookup::Status::found);
    EXPECT_EQ(m.value, json::value(second.to_json()));

    auto d = lookup(run(io_, q().dossier_messages("D-SHAPE")));
    ASSERT_EQ(d.status, Lookup::Status::found);
    EXPECT_EQ(d.value.as_object().at("dossier_code").as_string(), "D-SHAPE");
    auto& dm = d.value.as_object().at("messages").as_array();
    ASSERT_EQ(dm.size(), 2u);
    // Newest first. The first message's place was fixed when it was claimed (now), the second
    // by its own creation time (later).
    EXPECT_EQ(dm[0].as_object().at("id").as_string(), "m-shape-2");
    EXPECT_EQ(dm[1].as_object().at("id").as_string(), "m-shape-1");
}

TEST_P(QueueConformance, PendingRemindersAreListedSoonestFirstUntilDone) {
    auto ev = make_event("ev-rem", "D-REM");
    const int64_t now = now_ms();
    auto reminder = [&](const std::string& rule, int64_t due) {
        auto r = make_record(reminder_message_id(rule, "D-REM", 1, "sms"), ev);
        r.reminder = rule;
        r.due_at_ms = r.created_at_ms = due;
        return r;
    };
    auto later = reminder("later", now + 7200000), sooner = reminder("sooner", now + 3600000);
    auto retry = make_record("m-rem-retry", ev);  // a retry: scheduled, not a reminder
    auto c = make_commit(ev, {later, sooner, retry});
    c.schedule.push_back(queue::Job{later.id, "{}", later.due_at_ms});
    c.schedule.push_back(queue::Job{sooner.id, "{}", sooner.due_at_ms});
    c.schedule.push_back(queue::Job{retry.id, "{}", now + 60000});
    ASSERT_TRUE(run(io_, q().commit(c)));

    auto listed = [&](std::size_t limit) {
        std::vector<std::string> ids;
        auto l = lookup(run(io_, q().pending_reminders(limit)));
        EXPECT_EQ(l.status, Lookup::Status::found);
        if (l.status != Lookup::Status::found) return ids;
        for (auto& m : l.value.as_object().at("reminders").as_array()) {
            ids.emplace_back(m.as_object().at("id").as_string());
            EXPECT_EQ(m.as_object().at("due_at_ms").as_int64(),
                      ids.back() == sooner.id ? sooner.due_at_ms : later.due_at_ms);
        }
        return ids;
    };
    EXPECT_EQ(listed(10), (std::vector<std::string>{sooner.id, later.id}));
    EXPECT_EQ(listed(1), (std::vector<std::string>{sooner.id}));
    // The record keeps the rule and the due time.
    auto m = lookup(run(io_, q().message_record(sooner.id)));
    ASSERT_EQ(m.status, Lookup::Status::found);
    EXPECT_EQ(m.value.as_object().at("reminder").as_string(), "sooner");
    EXPECT_EQ(MessageRecord::from_json(json::serialize(m.value))->due_at_ms, sooner.due_at_ms);

    // A reminder created when it comes due holds none of the dossier's notices back before then.
    EXPECT_EQ(run(io_, q().dossier_blocked_until("D-REM", now + 1000, "")).value(),
              now + 60000);  // only the retry

    queue::Commit cancel;
    cancel.event_id = "ev-rem";
    cancel.dossier_code = "D-REM";
    cancel.status = "result_ready";
    sooner.state = state::kSuperseded;
    cancel.messages.push_back(sooner);
    cancel.done.push_back(sooner.id);
    ASSERT_TRUE(run(io_, q().commit(cancel)));
    EXPECT_EQ(listed(10), (std::vector<std::string>{later.id}));
}

TEST_P(QueueConformance, OneInstanceCountsItself) {
    EXPECT_EQ(run(io_, q().heartbeat_instances()).value(), 1);
}

// Call-backs to API clients (docs/callbacks.md).

queue::Notice notice(std::string kind, std::string body,
                     std::vector<std::pair<std::string, std::string>> to, bool if_settles = false) {
    queue::Notice n;
    n.kind = std::move(kind);
    n.body = std::move(body);
    n.to = std::move(to);
    n.if_settles = if_settles;
    return n;
}

TEST_P(QueueConformance, CallBacksAreWrittenWithTheCommitAndLeasedToTheirClient) {
    auto ev = make_event("ev-cb");
    auto m = make_record("m-cb", ev, state::kSent);
    auto c = make_commit(ev, {m});
    c.notices.push_back(
        notice("message.sent", R"({"type":"message.sent"})", {{"a", "msg_a1"}, {"b", "msg_b1"}}));
    c.notices.push_back(notice("event.settled",
                               R"({"type":"event.settled","state":"@event_state@"})",
                               {{"a", "msg_a2"}}, true));
    ASSERT_TRUE(run(io_, q().commit(c)));
    auto a = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(a);
    ASSERT_EQ(a->size(), 2u);
    std::map<std::string, queue::Callback> by_id;
    for (auto& cb : *a) by_id[cb.id] = cb;
    ASSERT_TRUE(by_id.count("msg_a1") && by_id.count("msg_a2"));
    EXPECT_EQ(by_id["msg_a1"].kind, "message.sent");
    EXPECT_EQ(by_id["msg_a1"].client, "a");
    EXPECT_EQ(by_id["msg_a1"].attempts, 0);
    // The event's state, as the commit left it, in the event.settled document.
    EXPECT_EQ(by_id["msg_a2"].body, R"({"type":"event.settled","state":"done"})");
    // Leased: not handed out again meanwhile; the other client's are its own.
    EXPECT_TRUE(run(io_, q().take_callbacks("a", 10, 60s))->empty());
    auto b = run(io_, q().take_callbacks("b", 10, 60s));
    ASSERT_TRUE(b);
    ASSERT_EQ(b->size(), 1u);
    EXPECT_EQ((*b)[0].id, "msg_b1");
    // The same commit written again (after a crash) queues nothing twice.
    ASSERT_TRUE(run(io_, q().commit(c)));
    EXPECT_TRUE(run(io_, q().take_callbacks("a", 10, 60s))->empty());

    using Next = queue::CallbackOutcome::Next;
    // Delivered: gone. Retry: back when due, attempts kept. Dead: listed, then replayed.
    ASSERT_TRUE(
        run(io_, q().settle_callbacks({{"msg_a1", "a", Next::done, 0, 1, ""},
                                       {"msg_a2", "a", Next::retry, now_ms() - 1, 1, "http 500"},
                                       {"msg_b1", "b", Next::dead, 0, 3, "http 400"}})));
    auto again = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(again);
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ((*again)[0].id, "msg_a2");
    EXPECT_EQ((*again)[0].attempts, 1);
    EXPECT_EQ((*again)[0].last_error, "http 500");
    auto dead = run(io_, q().callback_dead_letters("", 10));
    ASSERT_TRUE(dead);
    ASSERT_EQ(dead->size(), 1u);
    EXPECT_EQ((*dead)[0].id, "msg_b1");
    EXPECT_EQ((*dead)[0].client, "b");
    EXPECT_EQ((*dead)[0].attempts, 3);
    EXPECT_EQ((*dead)[0].last_error, "http 400");
    EXPECT_TRUE(run(io_, q().callback_dead_letters("a", 10))->empty());
    EXPECT_TRUE(run(io_, q().take_callbacks("b", 10, 60s))->empty());  // dead: not taken
    auto none = run(io_, q().replay_callbacks({"msg_a1", "nobody"}, ""));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());  // neither is a dead call-back
    auto replayed = run(io_, q().replay_callbacks({}, "b"));
    ASSERT_TRUE(replayed);
    EXPECT_EQ(*replayed, std::vector<std::string>{"msg_b1"});
    EXPECT_TRUE(run(io_, q().callback_dead_letters("", 10))->empty());
    auto back = run(io_, q().take_callbacks("b", 10, 60s));
    ASSERT_TRUE(back);
    ASSERT_EQ(back->size(), 1u);
    EXPECT_EQ((*back)[0].id, "msg_b1");
    EXPECT_EQ((*back)[0].attempts, 0);
}

TEST_P(QueueConformance, EventSettledIsWrittenOnlyByTheCommitThatSettlesTheEvent) {
    auto ev = make_event("ev-cb-settle");
    auto sms = make_record("m-cb-settle-1", ev, state::kSent);
    auto mail = make_record("m-cb-settle-2", ev, state::kQueued);
    auto settled = [&](const std::string& id) {
        return notice("event.settled", R"({"state":"@event_state@"})", {{"a", id}}, true);
    };
    auto c = make_commit(ev, {sms, mail});
    c.notices.push_back(settled("msg_s1"));
    ASSERT_TRUE(run(io_, q().commit(c)));  // the mail still waits
    EXPECT_TRUE(run(io_, q().take_callbacks("a", 10, 60s))->empty());
    mail.state = state::kFailed;
    auto c2 = make_commit(ev, {mail});
    c2.notices.push_back(settled("msg_s2"));
    ASSERT_TRUE(run(io_, q().commit(c2)));
    auto got = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].id, "msg_s2");
    EXPECT_EQ((*got)[0].body, R"({"state":"done"})");
    // Settled already: a later commit of the event (a record written again) does not settle it.
    auto c3 = make_commit(ev, {mail});
    c3.notices.push_back(settled("msg_s3"));
    ASSERT_TRUE(run(io_, q().commit(c3)));
    EXPECT_TRUE(run(io_, q().take_callbacks("a", 10, 60s))->empty());
}

TEST_P(QueueConformance, ADeliveryReportWritesItsCallBacksOnce) {
    auto ev = make_event("ev-cb-report");
    auto m = make_record("m-cb-report", ev, state::kSent);
    ASSERT_TRUE(run(io_, q().commit(make_commit(ev, {m}))));
    int calls = 0;
    queue::ReportNotices hook = [&calls](const MessageRecord& rec) {
        ++calls;
        std::vector<queue::Notice> out;
        out.push_back(notice("message." + rec.state, "{\"state\":\"" + rec.state + "\"}",
                             {{"a", "msg_r_" + rec.state}}));
        return out;
    };
    DeliveryUpdate delivered{m.id, "", "delivered", "", "", "rep-1"};
    ASSERT_TRUE(run(io_, q().apply_updates({delivered}, hook)));
    ASSERT_TRUE(run(io_, q().apply_updates({delivered}, hook)));  // the same report: nothing
    auto got = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].id, "msg_r_delivered");
    EXPECT_EQ((*got)[0].body, R"({"state":"delivered"})");
    EXPECT_EQ(calls, 1);
}

TEST_P(QueueConformance, ALeasedCallBackComesBackWithItsIdWhenTheLeaseEnds) {
    ASSERT_TRUE(
        run(io_, q().enqueue_notices({notice("feedback.received", "{}", {{"a", "msg_lease"}})})));
    auto first = run(io_, q().take_callbacks("a", 10, 1ms));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->size(), 1u);
    // A crash while it was in flight: nothing settles it; once the lease ends it is due again.
    restart();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    Result<std::vector<queue::Callback>> again = std::vector<queue::Callback>{};
    while (std::chrono::steady_clock::now() < deadline) {
        again = run(io_, q().take_callbacks("a", 10, 60s));
        if (again && !again->empty()) break;
        io_.run_one_for(5ms);
    }
    ASSERT_TRUE(again);
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ((*again)[0].id, "msg_lease");
    EXPECT_EQ((*again)[0].kind, "feedback.received");
}

TEST_P(QueueConformance, FeedbackAndItsCallBackAreWrittenTogetherOnce) {
    FeedbackRecord f;
    f.id = "zalo:zmsg-1:1795749302114";
    f.message_id = "m-fb";
    f.event_id = "ev-fb";
    f.dossier_code = "D-FB-CB";
    f.channel = "zalo";
    f.provider = "zalo";
    f.rating = 4;
    f.submitted_at_ms = 1795749302114;
    f.received_at_ms = 1795749303000;
    const std::vector<queue::Notice> notices{
        notice("feedback.received", R"({"kind":"feedback.received"})", {{"a", "msg_fb"}})};
    auto first = run(io_, q().add_feedback(f, notices));
    ASSERT_TRUE(first);
    EXPECT_TRUE(*first);
    auto taken = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(taken);
    ASSERT_EQ(taken->size(), 1u);
    EXPECT_EQ((*taken)[0].id, "msg_fb");
    EXPECT_EQ((*taken)[0].kind, "feedback.received");
    ASSERT_TRUE(run(io_, q().settle_callbacks(
                             {{"msg_fb", "a", queue::CallbackOutcome::Next::done, 0, 1, ""}})));
    // The same answer again (a webhook retried): not stored again, no second call-back.
    auto again = run(io_, q().add_feedback(f, notices));
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
    auto none = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    auto l = lookup(run(io_, q().dossier_feedback("D-FB-CB")));
    ASSERT_EQ(l.status, Lookup::Status::found);
    EXPECT_EQ(l.value.as_object().at("feedback").as_array().size(), 1u);
}

TEST_P(QueueConformance, ANoticeWrittenOnceIsSkippedWhenItComesAgainWithinItsWindow) {
    using Next = queue::CallbackOutcome::Next;
    // A citizen's message, then the provider sending it again after its call-back was delivered
    // (its record gone), under another webhook-id: nothing new is queued while the key is kept.
    auto first = notice("inbound.received", R"({"n":1})", {{"a", "msg_in1"}});
    first.once_key = "in:smsc:k1";
    ASSERT_TRUE(run(io_, q().enqueue_notices({first})));
    auto taken = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(taken);
    ASSERT_EQ(taken->size(), 1u);
    ASSERT_TRUE(run(io_, q().settle_callbacks({{"msg_in1", "a", Next::done, 0, 1, ""}})));
    auto again = notice("inbound.received", R"({"n":2})", {{"a", "msg_in2"}});
    again.once_key = "in:smsc:k1";
    ASSERT_TRUE(run(io_, q().enqueue_notices({again})));
    restart();  // kept durably
    ASSERT_TRUE(run(io_, q().enqueue_notices({again})));
    auto none = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    // Another key is another message; a key whose window ran out counts as new.
    auto other = notice("inbound.received", R"({"n":3})", {{"a", "msg_in3"}});
    other.once_key = "in:smsc:k2";
    other.once_ttl_ms = 50;
    ASSERT_TRUE(run(io_, q().enqueue_notices({other})));
    auto third = run(io_, q().take_callbacks("a", 10, 60s));
    ASSERT_TRUE(third);
    ASSERT_EQ(third->size(), 1u);
    EXPECT_EQ((*third)[0].id, "msg_in3");
    ASSERT_TRUE(run(io_, q().settle_callbacks({{"msg_in3", "a", Next::done, 0, 1, ""}})));
    auto later = notice("inbound.received", R"({"n":4})", {{"a", "msg_in4"}});
    later.once_key = "in:smsc:k2";
    later.once_ttl_ms = 50;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    Result<std::vector<queue::Callback>> fourth = std::vector<queue::Callback>{};
    while (std::chrono::steady_clock::now() < deadline) {
        ASSERT_TRUE(run(io_, q().enqueue_notices({later})));
        fourth = run(io_, q().take_callbacks("a", 10, 60s));
        if (fourth && !fourth->empty()) break;
        io_.run_one_for(5ms);
    }
    ASSERT_TRUE(fourth);
    ASSERT_EQ(fourth->size(), 1u);
    EXPECT_EQ((*fourth)[0].id, "msg_in4");
}

INSTANTIATE_TEST_SUITE_P(Backends, QueueConformance,
                         ::testing::Values(Backend::redis, Backend::sqlite),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return info.param == Backend::redis ? "Redis" : "Sqlite";
                         });

}  // namespace
}  // namespace tinbao::test
