// The pipeline's pure parts: the saved job's codec, the retry policy, the per-dossier lock.
#include <gtest/gtest.h>

#include <limits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "daemon/pipeline/dossier_lock.hpp"
#include "daemon/pipeline/job_codec.hpp"
#include "daemon/pipeline/retry_policy.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace tinbao {
namespace {

TEST(JobCodec, RoundTrips) {
    SavedJob j;
    j.event = R"({"event_id":"e"})";
    j.entry_id = "1700000000000-0";
    j.channel = Channel::email;
    j.mode = Route::Mode::all;
    j.channels = {Channel::zalo, Channel::email};
    j.provider_index = 2;
    j.provider_attempts = 3;
    j.epoch_ms = 1795791600000;
    j.accepted_ms = 1795791599000;
    auto back = decode_job(encode_job(j));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->event, j.event);
    EXPECT_EQ(back->entry_id, j.entry_id);
    EXPECT_EQ(back->channel, Channel::email);
    EXPECT_EQ(back->mode, Route::Mode::all);
    EXPECT_EQ(back->channels, j.channels);
    EXPECT_EQ(back->provider_index, 2);
    EXPECT_EQ(back->provider_attempts, 3);
    EXPECT_EQ(back->epoch_ms, j.epoch_ms);
    EXPECT_EQ(back->accepted_ms, j.accepted_ms);
}

TEST(JobCodec, ReadsTheFormatJobsAreSavedIn) {
    // A job saved by an earlier version must still run after an upgrade.
    auto j = decode_job(R"({"event":"{}","entry":"5","channel":"sms","mode":"fallback",)"
                        R"("channels":["zalo","sms"],"provider":1,"provider_attempts":2,)"
                        R"("epoch":1000,"accepted":900})");
    ASSERT_TRUE(j);
    EXPECT_EQ(j->channel, Channel::sms);
    EXPECT_EQ(j->mode, Route::Mode::fallback);
    EXPECT_EQ(j->channels, (std::vector<Channel>{Channel::zalo, Channel::sms}));
    EXPECT_EQ(j->provider_index, 1);
    EXPECT_EQ(j->epoch_ms, 1000);
}

TEST(JobCodec, RejectsWhatIsNotAJob) {
    EXPECT_FALSE(decode_job("not json"));
    EXPECT_FALSE(decode_job("[]"));
    EXPECT_FALSE(decode_job(R"({"channel":"fax"})"));
}

TEST(JobCodec, ARestartIsAFreshStart) {
    SavedJob j;
    j.provider_index = 2;
    j.provider_attempts = 5;
    j.epoch_ms = 1;
    auto r = restarted(j, 5000);
    EXPECT_EQ(r.provider_index, 0);
    EXPECT_EQ(r.provider_attempts, 0);
    EXPECT_EQ(r.epoch_ms, 5000);
}

RetrySettings settings() {
    RetrySettings s;
    s.max_attempts = 4;
    s.initial_delay = 2s;
    s.max_delay = 10s;
    s.give_up_after = 1h;
    return s;
}

TEST(RetryPolicy, BackoffDoublesUpToItsCapWithFullJitter) {
    std::vector<int64_t> asked;
    RetryPolicy p(settings(), [&](int64_t max) {
        asked.push_back(max);
        return max / 2;
    });
    SendResult r = SendResult::fail(FailureClass::retryable, "timeout", "");
    EXPECT_EQ(p.after_failure(r, 1, 1000, 0).due_ms, 1000 + 1000);
    EXPECT_EQ(p.after_failure(r, 2, 1000, 0).due_ms, 1000 + 2000);
    EXPECT_EQ(p.after_failure(r, 3, 1000, 0).due_ms, 1000 + 4000);
    EXPECT_EQ(asked, (std::vector<int64_t>{2000, 4000, 8000}));
    EXPECT_EQ(p.backoff_cap(4), 10000);    // max_delay
    EXPECT_EQ(p.backoff_cap(100), 10000);  // no overflow
}

TEST(RetryPolicy, NeverSoonerThanTheProviderAsked) {
    RetryPolicy p(settings(), [](int64_t) { return 0; });
    SendResult r = SendResult::fail(FailureClass::retryable, "throttled", "");
    r.retry_after = std::chrono::seconds(30);
    EXPECT_EQ(p.after_failure(r, 1, 1000, 0).due_ms, 31000);
    r.retry_after.reset();
    r.not_before_ms = 500000;  // a provider's fixed time
    EXPECT_EQ(p.after_failure(r, 1, 1000, 0).due_ms, 500000);
}

TEST(RetryPolicy, AHugeRetryAfterSaturatesInsteadOfOverflowing) {
    RetryPolicy p(settings(), [](int64_t) { return 0; });
    SendResult r = SendResult::fail(FailureClass::retryable, "throttled", "");
    // Wrapped around, it would have been a due time in the past: an immediate retry.
    r.retry_after = std::chrono::seconds(std::numeric_limits<int64_t>::max() / 100);
    RetryDecision d = p.after_failure(r, 1, 1000, 0);
    EXPECT_EQ(d.kind, RetryDecision::Kind::expire);
    EXPECT_EQ(d.due_ms, std::numeric_limits<int64_t>::max());
}

TEST(RetryPolicy, GivesUpAfterItsAttemptsOrPastGiveUpAfter) {
    RetryPolicy p(settings(), [](int64_t max) { return max; });
    SendResult r = SendResult::fail(FailureClass::retryable, "timeout", "");
    EXPECT_EQ(p.after_failure(r, 4, 1000, 0).kind, RetryDecision::Kind::next_provider);
    EXPECT_EQ(p.after_failure(r, 1, 3600000 - 1000, 0).kind, RetryDecision::Kind::expire);
    EXPECT_EQ(p.after_failure(r, 1, 3600000 - 2000, 0).kind, RetryDecision::Kind::retry);
    EXPECT_EQ(p.give_up_at(5), 3600005);
}

TEST(DossierLocks, OneHolderAtATimeInArrivalOrder) {
    asio::io_context io;
    DossierLocks locks(io.get_executor());
    std::vector<std::string> order;
    std::vector<std::shared_ptr<asio::steady_timer>> gates;
    for (int i = 0; i < 3; ++i) {
        auto gate = std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
        gates.push_back(gate);
        asio::co_spawn(
            io,
            [&, i, gate]() -> asio::awaitable<void> {
                auto g = co_await locks.lock(i == 2 ? "other" : "D");
                order.push_back("in" + std::to_string(i));
                co_await gate->async_wait(asio::as_tuple(asio::use_awaitable));
                order.push_back("out" + std::to_string(i));
            },
            asio::detached);
    }
    io.poll();
    EXPECT_EQ(order, (std::vector<std::string>{"in0", "in2"}));  // 1 waits for 0; "other" not
    gates[0]->cancel();
    io.poll();
    EXPECT_EQ(order, (std::vector<std::string>{"in0", "in2", "out0", "in1"}));
    gates[1]->cancel();
    gates[2]->cancel();
    io.poll();
    EXPECT_EQ(locks.held(), 0u);
}

}  // namespace
}  // namespace tinbao
