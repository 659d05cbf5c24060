// The pipeline end to end on the SQLite queue: retries, failover, fallback, quiet hours, order
// and coalescing, and the faults the measurements found (each named in its test).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "daemon/pipeline/planner.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/pipeline/pipeline_fixture.hpp"

namespace tinbao::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(PipelineTest, SendsAtOnceWhenTheProviderAccepts) {
    auto& sms = add_provider("sms-a", Channel::sms);
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    ASSERT_EQ(sms.requests.size(), 1u);
    EXPECT_EQ(sms.requests[0].to, "84912345678");
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].provider, "sms-a");
    EXPECT_TRUE(scheduled().empty());
    EXPECT_EQ(processor().stats().messages_sent, 1u);
}

TEST_F(PipelineTest, RetriesWithBackoffAndHonoursRetryAfter) {
    auto& sms = add_provider("sms-a", Channel::sms);
    auto throttled = retryable(std::string(reason::kThrottled));
    throttled.retry_after = std::chrono::seconds(30);
    sms.script = {retryable(), throttled, retryable()};
    cfg_.retry.max_attempts = 5;
    const int64_t t0 = clock_.now_ms();
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    auto jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].due_ms, t0 + 2000);  // the first backoff's cap (the jitter draws it)
    ASSERT_TRUE(run_next_job());
    jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].due_ms, t0 + 2000 + 30000);  // Retry-After beats the 4 s backoff
    ASSERT_TRUE(run_next_job());
    jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].due_ms, t0 + 32000 + 8000);  // the backoff doubles
    ASSERT_TRUE(run_next_job());
    EXPECT_TRUE(scheduled().empty());
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].attempts, 4);
    EXPECT_EQ(sms.requests.size(), 4u);
    EXPECT_EQ(processor().stats().retries, 3u);
}

TEST_F(PipelineTest, FailsOverToTheNextProviderAfterItsAttempts) {
    auto& a = add_provider("sms-a", Channel::sms);
    auto& b = add_provider("sms-b", Channel::sms);
    cfg_.retry.max_attempts = 2;
    a.script = {retryable(), retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_EQ(run_jobs(), 1);
    EXPECT_EQ(a.requests.size(), 2u);
    EXPECT_EQ(b.requests.size(), 1u);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].provider, "sms-b");
}

TEST_F(PipelineTest, ExpiresWhenTheNextAttemptWouldComeAfterGiveUp) {
    auto& a = add_provider("sms-a", Channel::sms);
    cfg_.routes[0].channels = {Channel::sms};
    cfg_.retry.give_up_after = 5s;
    cfg_.retry.max_attempts = 10;
    a.script = {retryable(), retryable(), retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    run_jobs();
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kExpired);
    EXPECT_EQ(recs[0].attempts, 2);  // at 0 s and 2 s; the next would come at 6 s
    EXPECT_EQ(processor().stats().messages_expired, 1u);
    EXPECT_EQ(processor().stats().messages_failed, 1u);
}

// eSMS 101 "Authorize Failed": the account, not the message. Without failover the message was
// dead-lettered with the channel's second provider never tried.
TEST_F(PipelineTest, AccountFailureFailsOverAndCountsAgainstTheCircuit) {
    BreakerSettings one;
    one.consecutive_failures = 1;
    auto& a = add_provider("sms-a", Channel::sms, one);
    auto& b = add_provider("sms-b", Channel::sms);
    a.script = {permanent(std::string(reason::kAuthFailed))};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_EQ(a.requests.size(), 1u);
    EXPECT_EQ(b.requests.size(), 1u);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
    EXPECT_EQ(recs[0].provider, "sms-b");
    EXPECT_EQ(slot(0).breaker.state(clock_.steady_now()), CircuitBreaker::State::open);
}

TEST_F(PipelineTest, FallsBackToTheNextChannelAndCountsEachFailedMessageOnce) {
    auto& sms = add_provider("sms-a", Channel::sms);
    auto& mail = add_provider("mail", Channel::email);
    // Three events: two fail on both channels, one fails on SMS and is sent by email.
    sms.script = {permanent(std::string(reason::kRejectedContent)),
                  permanent(std::string(reason::kRejectedContent)),
                  permanent(std::string(reason::kRejectedContent))};
    mail.script = {permanent(std::string(reason::kRejectedContent)),
                   permanent(std::string(reason::kRejectedContent))};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    ASSERT_TRUE(post(event_json("ev-2", "D-2")));
    ASSERT_TRUE(post(event_json("ev-3", "D-3")));
    int failed = 0, superseded = 0, sent = 0;
    for (auto id : {"ev-1", "ev-2", "ev-3"})
        for (auto& r : records_of(id)) {
            failed += r.state == state::kFailed;
            superseded += r.state == state::kSuperseded;
            sent += r.state == state::kSent;
        }
    EXPECT_EQ(failed, 2);
    EXPECT_EQ(superseded, 3);
    EXPECT_EQ(sent, 1);
    EXPECT_EQ(processor().stats().messages_failed, 2u);  // was 5: superseded ones counted too
    EXPECT_EQ(processor().stats().fallbacks, 3u);
    EXPECT_EQ(
        metric(
            R"(tinbao_messages_total{channel="email",provider="mail",outcome="failed",reason="rejected_content"})"),
        2);
}

// Quiet hours for SMS from now on, for two hours.
void quiet_for_two_hours(Config& cfg, int64_t now_ms) {
    QuietHours q;
    q.channels = {Channel::sms};
    const int local_minute = local_minute_of_day(now_ms);
    q.from_minute = local_minute;
    q.to_minute = (local_minute + 120) % 1440;
    cfg.quiet_hours.push_back(q);
}

TEST_F(PipelineTest, QuietHoursHoldTheMessageUntilTheirEnd) {
    auto& sms = add_provider("sms-a", Channel::sms);
    add_provider("mail", Channel::email);
    cfg_.retry.give_up_after = 3h;
    quiet_for_two_hours(cfg_, clock_.now_ms());
    const int64_t minute_start = clock_.now_ms() - clock_.now_ms() % 60000;
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_TRUE(sms.requests.empty());
    auto jobs = scheduled();
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].due_ms, minute_start + 120 * 60000);
    EXPECT_EQ(run_jobs(), 1);
    EXPECT_EQ(sms.requests.size(), 1u);
    EXPECT_EQ(processor().stats().deferred_quiet, 1u);
}

// Quiet hours that outlast give_up_after: the SMS expires (the metrics said `superseded` with no
// reason), and the email goes out.
TEST_F(PipelineTest, QuietHoursPastGiveUpExpireWithTheirReason) {
    auto& sms = add_provider("sms-a", Channel::sms);
    auto& mail = add_provider("mail", Channel::email);
    cfg_.retry.give_up_after = 1h;
    quiet_for_two_hours(cfg_, clock_.now_ms());
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_TRUE(sms.requests.empty());
    EXPECT_EQ(mail.requests.size(), 1u);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 2u);
    auto& s = recs[0].channel == "sms" ? recs[0] : recs[1];
    EXPECT_EQ(s.state, state::kSuperseded);  // the email was sent instead
    EXPECT_EQ(s.last_error_reason, kQuietHoursReason);
    EXPECT_EQ(
        metric(
            R"(tinbao_messages_total{channel="sms",provider="",outcome="expired",reason="quiet_hours"})"),
        1);
    EXPECT_EQ(processor().stats().messages_expired, 1u);
    EXPECT_EQ(processor().stats().messages_failed, 1u);
}

// Without another channel, the expired message is a dead letter with its reason.
TEST_F(PipelineTest, QuietHoursPastGiveUpWithNoOtherChannel) {
    auto& sms = add_provider("sms-a", Channel::sms);
    cfg_.routes[0].channels = {Channel::sms};
    cfg_.retry.give_up_after = 1h;
    quiet_for_two_hours(cfg_, clock_.now_ms());
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    EXPECT_TRUE(sms.requests.empty());
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kExpired);
    EXPECT_EQ(recs[0].last_error_reason, kQuietHoursReason);
    EXPECT_EQ(
        metric(
            R"(tinbao_messages_total{channel="sms",provider="",outcome="expired",reason="quiet_hours"})"),
        1);
}

TEST_F(PipelineTest, ALaterNoticeOfTheDossierWaitsForTheEarlierOne) {
    auto& sms = add_provider("sms-a", Channel::sms);
    sms.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    clock_.advance(100ms);
    ASSERT_TRUE(post(event_json("ev-2", "D-1")));
    ASSERT_EQ(sms.requests.size(), 1u);  // the second waits behind the first's retry
    EXPECT_EQ(run_jobs(), 2);
    ASSERT_EQ(sms.requests.size(), 3u);
    EXPECT_EQ(sms.requests[1].event_id, "ev-1");
    EXPECT_EQ(sms.requests[2].event_id, "ev-2");
}

TEST_F(PipelineTest, ANewerStatusWithinTheCoalesceWindowReplacesTheOlder) {
    auto& sms = add_provider("sms-a", Channel::sms);
    cfg_.coalesce_window = 10s;
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    clock_.advance(1s);
    ASSERT_TRUE(post(event_json("ev-2", "D-1")));
    EXPECT_TRUE(sms.requests.empty());
    run_jobs();
    ASSERT_EQ(sms.requests.size(), 1u);
    EXPECT_EQ(sms.requests[0].event_id, "ev-2");
    auto first = records_of("ev-1");
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].state, state::kSuperseded);
    EXPECT_EQ(first[0].last_error_reason, "coalesced");
}

// A circuit's changes were neither logged nor counted: an operator saw messages move to the
// next provider without a word. Each change is now logged once and counted by the state entered.
TEST_F(PipelineTest, CircuitChangesAreLoggedOnceAndCounted) {
    auto captured = std::make_shared<std::ostringstream>();
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(*captured)));
    BreakerSettings b;
    b.consecutive_failures = 1;
    b.cooldown = 10s;
    auto& sms = add_provider("sms-a", Channel::sms, b);
    cfg_.routes[0].channels = {Channel::sms};
    cfg_.retry.max_attempts = 5;
    sms.script = {retryable(), retryable()};
    ASSERT_TRUE(post(event_json("ev-0", "D-0")));  // fails: open
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));  // every circuit open: no change
    run_jobs();  // the first probe fails (half open, open), the second succeeds
    spdlog::set_default_logger(previous);
    EXPECT_EQ(sms.requests.size(), 4u);
    EXPECT_EQ(metric(R"(tinbao_circuit_transitions_total{provider="sms-a",to="open"})"), 2);
    EXPECT_EQ(metric(R"(tinbao_circuit_transitions_total{provider="sms-a",to="half_open"})"), 2);
    EXPECT_EQ(metric(R"(tinbao_circuit_transitions_total{provider="sms-a",to="closed"})"), 1);
    auto log = captured->str();
    auto count = [&](std::string_view what) {
        int n = 0;
        for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
    };
    EXPECT_EQ(count("circuit of sms-a opened"), 1) << log;
    EXPECT_EQ(count("circuit of sms-a: the probe failed"), 1) << log;
    EXPECT_EQ(count("circuit of sms-a: half open"), 2) << log;
    EXPECT_EQ(count("circuit of sms-a closed: the probe succeeded"), 1) << log;
}

// While a half-open probe hung, every other message was put back in the schedule every
// 100-250 ms with a negative wait. They wait for the probe's outcome instead.
TEST_F(PipelineTest, MessagesWaitForTheHalfOpenProbe) {
    BreakerSettings b;
    b.consecutive_failures = 1;
    b.cooldown = 10s;
    auto& sms = add_provider("sms-a", Channel::sms, b);
    cfg_.routes[0].channels = {Channel::sms};
    sms.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-0", "D-0")));  // opens the circuit
    ASSERT_EQ(scheduled().size(), 1u);
    clock_.advance(10s);
    sms.hold = 1;
    start_post(event_json("ev-1", "D-1"));  // the probe, held
    ASSERT_EQ(sms.held(), 1u);
    bool done[3] = {false, false, false};
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(
            io_,
            [this, i, &done]() -> asio::awaitable<void> {
                co_await post_async(
                    event_json("ev-" + std::to_string(i + 2), "D-" + std::to_string(i + 2)));
                done[i] = true;
            },
            asio::detached);
    settle();
    EXPECT_FALSE(done[0] || done[1] || done[2]);  // waiting, not rescheduled
    EXPECT_EQ(scheduled().size(), 1u);            // only ev-0's retry
    EXPECT_EQ(sms.requests.size(), 2u);
    sms.answer(SendResult::success("p"));
    settle([&] { return done[0] && done[1] && done[2]; });
    EXPECT_TRUE(done[0] && done[1] && done[2]);
    EXPECT_EQ(sms.requests.size(), 5u);
    for (int i = 1; i <= 4; ++i) {
        auto recs = records_of("ev-" + std::to_string(i));
        ASSERT_EQ(recs.size(), 1u);
        EXPECT_EQ(recs[0].state, state::kSent) << i;
    }
}

TEST_F(PipelineTest, AFailedProbePutsTheWaitingMessagesBackUntilTheNextProbe) {
    BreakerSettings b;
    b.consecutive_failures = 1;
    b.cooldown = 10s;
    auto& sms = add_provider("sms-a", Channel::sms, b);
    cfg_.routes[0].channels = {Channel::sms};
    sms.script = {retryable()};
    ASSERT_TRUE(post(event_json("ev-0", "D-0")));
    clock_.advance(10s);
    sms.hold = 1;
    start_post(event_json("ev-1", "D-1"));
    bool done = false;
    asio::co_spawn(
        io_,
        [this, &done]() -> asio::awaitable<void> {
            co_await post_async(event_json("ev-2", "D-2"));
            done = true;
        },
        asio::detached);
    settle();
    EXPECT_FALSE(done);
    const int64_t failed_at = clock_.now_ms();
    sms.answer(retryable());
    settle([&] { return done; });
    ASSERT_TRUE(done);
    auto recs = records_of("ev-2");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kQueued);
    for (auto& j : scheduled()) {
        if (j.message_id == recs[0].id) {
            EXPECT_EQ(j.due_ms, failed_at + 10000);  // the next probe
        }
    }
}

// 505 requests went to a stopped provider after its circuit opened: those already waiting for
// a connection slot went ahead. They check the circuit again once they have the slot.
TEST_F(PipelineTest, AnOpenCircuitStopsMessagesWaitingForASlot) {
    BreakerSettings b;
    b.consecutive_failures = 1;
    auto& a = add_provider("sms-a", Channel::sms, b, /*max_in_flight=*/1);
    auto& spare = add_provider("sms-b", Channel::sms);
    a.hold = 1;
    start_post(event_json("ev-1", "D-1"));
    ASSERT_EQ(a.held(), 1u);
    int done = 0;
    for (int i = 2; i <= 4; ++i)
        asio::co_spawn(
            io_,
            [this, i, &done]() -> asio::awaitable<void> {
                co_await post_async(
                    event_json("ev-" + std::to_string(i), "D-" + std::to_string(i)));
                ++done;
            },
            asio::detached);
    settle();
    EXPECT_EQ(done, 0);     // waiting for sms-a's one slot
    a.answer(retryable());  // the circuit opens
    settle([&] { return done == 3; });
    EXPECT_EQ(done, 3);
    EXPECT_EQ(a.requests.size(), 1u);
    EXPECT_EQ(spare.requests.size(), 3u);
}

// A claim the queue did not answer left the entry to the takeover, after claim_idle (60 s by
// default), even on one node. It is asked again after a short wait.
TEST_F(PipelineTest, AFailedClaimIsAskedAgainSoon) {
    auto& sms = add_provider("sms-a", Channel::sms);
    processor();
    exec(
        "CREATE TRIGGER refuse_claims BEFORE INSERT ON messages "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    bool done = false;
    asio::co_spawn(
        io_,
        [this, &done]() -> asio::awaitable<void> {
            co_await post_async(event_json("ev-1", "D-1"));
            done = true;
        },
        asio::detached);
    settle([&] { return done; });
    EXPECT_FALSE(done);
    EXPECT_TRUE(sms.requests.empty());
    exec("DROP TRIGGER refuse_claims");
    clock_.advance(200ms);
    settle([&] { return done; });
    EXPECT_TRUE(done);
    EXPECT_EQ(sms.requests.size(), 1u);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kSent);
}

TEST_F(PipelineTest, AReplayStartsAgainFromTheFirstProvider) {
    auto& a = add_provider("sms-a", Channel::sms);
    cfg_.routes[0].channels = {Channel::sms};
    a.script = {permanent(std::string(reason::kRejectedContent))};
    ASSERT_TRUE(post(event_json("ev-1", "D-1")));
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].state, state::kFailed);
    int replayed = -1;
    std::vector<std::string> ids{recs[0].id};
    auto replay = [&]() -> asio::awaitable<void> {
        replayed = co_await processor().replay(ids, "");
    };
    ASSERT_TRUE(finish(replay()));
    EXPECT_EQ(replayed, 1);
    EXPECT_EQ(run_jobs(), 1);
    EXPECT_EQ(a.requests.size(), 2u);
    EXPECT_EQ(records_of("ev-1")[0].state, state::kSent);
}

}  // namespace
}  // namespace tinbao::testing

namespace tinbao::testing {
namespace {

std::string replace_ampersand(std::string_view text, std::string_view with) {
    std::string out;
    for (char ch : text) {
        if (ch == '&')
            out += with;
        else
            out += ch;
    }
    return out;
}

TEST_F(PipelineTest, AnAdaptersOwnRewritingIsWhatItSendsAndWhatTheRecordSays) {
    auto& a = add_provider("sms-a", Channel::sms);
    a.rewrite = [](std::string_view t) { return replace_ampersand(t, "va"); };
    ASSERT_TRUE(post(event_json("ev-1", "D&1")));
    ASSERT_EQ(a.requests.size(), 1u);
    EXPECT_NE(a.requests[0].text.find("Ho so Dva1 cua"), std::string::npos) << a.requests[0].text;
    EXPECT_FALSE(a.requests[0].unicode);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].body, a.requests[0].text);
    EXPECT_EQ(recs[0].encoding, "gsm7");
}

TEST_F(PipelineTest, ARewritingOutsideGsm7SendsUcs2AndTheNextProviderGetsTheOriginal) {
    auto& a = add_provider("sms-a", Channel::sms);
    auto& b = add_provider("sms-b", Channel::sms);
    a.rewrite = [](std::string_view t) { return replace_ampersand(t, "và/hoặc"); };
    a.script = {permanent(std::string(reason::kAuthFailed))};
    ASSERT_TRUE(post(event_json("ev-1", "D&1")));
    ASSERT_EQ(a.requests.size(), 1u);
    EXPECT_NE(a.requests[0].text.find("Ho so Dvà/hoặc1 cua"), std::string::npos);
    EXPECT_TRUE(a.requests[0].unicode);
    run_jobs();
    ASSERT_EQ(b.requests.size(), 1u);
    EXPECT_NE(b.requests[0].text.find("Ho so D&1 cua"), std::string::npos);
    EXPECT_FALSE(b.requests[0].unicode);
    auto recs = records_of("ev-1");
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].provider, "sms-b");
    EXPECT_EQ(recs[0].body, b.requests[0].text);  // not sms-a's rewriting
    EXPECT_EQ(recs[0].encoding, "gsm7");
}

TEST_F(PipelineTest, ThePreviewShowsEachSmsProvidersOwnText) {
    auto& a = add_provider("sms-a", Channel::sms);
    a.rewrite = [](std::string_view t) { return replace_ampersand(t, "va"); };
    auto& b = add_provider("sms-b", Channel::sms);
    (void)b;
    auto json = event_json("ev-1", "D&1");
    auto parsed = parse_event(json, [&](std::string_view s) { return cfg_.canonical_status(s); });
    ASSERT_TRUE(parsed.event);
    auto v = preview(*processor().runtime(), *parsed.event);
    auto& sms = v.at("messages").at(0).as_object();
    ASSERT_EQ(sms.at("channel").as_string(), "sms");
    std::string text(sms.at("text").as_string());
    EXPECT_NE(text.find("D&1"), std::string::npos);
    auto& providers = sms.at("providers").as_array();
    ASSERT_EQ(providers.size(), 2u);
    auto& pa = providers[0].as_object();
    EXPECT_EQ(pa.at("provider").as_string(), "sms-a");
    EXPECT_EQ(std::string(pa.at("text").as_string()), replace_ampersand(text, "va"));
    EXPECT_EQ(pa.at("encoding").as_string(), "gsm7");
    EXPECT_EQ(pa.at("characters").to_number<int64_t>(), static_cast<int64_t>(text.size() + 1));
    auto& pb = providers[1].as_object();
    EXPECT_EQ(pb.at("provider").as_string(), "sms-b");
    EXPECT_FALSE(pb.contains("text"));  // sends the message's text unchanged
}

}  // namespace
}  // namespace tinbao::testing
