// Circuit breaker, rate limiter and quiet hours: the pieces of the delivery policy that do not
// need a queue.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <vector>

#include "daemon/pipeline/breaker.hpp"
#include "daemon/pipeline/limiter.hpp"
#include "daemon/pipeline/planner.hpp"
#include "tests/unit/pipeline/manual_clock.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace tinbao {
namespace {

using Steady = CircuitBreaker::Clock;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndProbesAfterCooldown) {
    BreakerSettings s;
    s.consecutive_failures = 3;
    s.cooldown = 10s;
    CircuitBreaker b(s);
    auto t = Steady::time_point{} + 1h;
    EXPECT_TRUE(b.allow(t));
    b.on_failure(t);
    b.on_failure(t);
    EXPECT_TRUE(b.allow(t));
    b.on_failure(t);
    EXPECT_FALSE(b.allow(t));  // open
    EXPECT_FALSE(b.allow(t + 9s));
    EXPECT_TRUE(b.allow(t + 10s));   // half open: one probe
    EXPECT_FALSE(b.allow(t + 10s));  // and only one
    b.on_failure(t + 11s);           // the probe failed: open again
    EXPECT_FALSE(b.allow(t + 12s));
    EXPECT_TRUE(b.allow(t + 21s));
    b.on_success(t + 21s);  // the probe succeeded: closed
    EXPECT_TRUE(b.allow(t + 21s));
    EXPECT_TRUE(b.allow(t + 21s));
    EXPECT_EQ(b.state(t + 21s), CircuitBreaker::State::closed);
}

TEST(CircuitBreaker, TheProbeDecidesAndOthersSeeItOut) {
    BreakerSettings s;
    s.consecutive_failures = 1;
    s.cooldown = 10s;
    CircuitBreaker b(s);
    auto t = Steady::time_point{} + 1h;
    EXPECT_TRUE(b.allow(t));
    EXPECT_TRUE(b.still_allows(false));
    b.on_failure(t);
    EXPECT_FALSE(b.still_allows(false));  // a request allowed before the circuit opened
    EXPECT_FALSE(b.probing());
    EXPECT_TRUE(b.allow(t + 10s));  // the probe
    EXPECT_TRUE(b.probing());
    EXPECT_TRUE(b.still_allows(true));
    EXPECT_FALSE(b.still_allows(false));
    b.on_neutral(t + 11s);  // an answer about the message, not the provider
    EXPECT_FALSE(b.probing());
    EXPECT_TRUE(b.allow(t + 11s));  // the next request probes
    b.on_success(t + 11s);
    EXPECT_FALSE(b.probing());
    EXPECT_TRUE(b.still_allows(false));
}

TEST(CircuitBreaker, OpensOnErrorRateInTheWindow) {
    BreakerSettings s;
    s.consecutive_failures = 100;
    s.min_requests = 10;
    s.error_rate = 0.5;
    CircuitBreaker b(s);
    auto t = Steady::time_point{} + 1h;
    for (int i = 0; i < 4; ++i) {
        b.on_success(t);
        b.on_failure(t);
    }
    EXPECT_TRUE(b.allow(t));  // 8 requests: below min_requests
    b.on_success(t);
    b.on_failure(t);  // 10 requests, half failed
    EXPECT_FALSE(b.allow(t));
}

TEST(CircuitBreaker, OldFailuresLeaveTheWindow) {
    BreakerSettings s;
    s.consecutive_failures = 100;
    s.min_requests = 4;
    s.window = 10s;
    CircuitBreaker b(s);
    auto t = Steady::time_point{} + 1h;
    b.on_failure(t);
    b.on_failure(t);
    b.on_failure(t);
    b.on_success(t + 20s);  // the failures are out of the window now
    EXPECT_TRUE(b.allow(t + 20s));
}

// Starts `n` acquire/release pairs at once, each holding its slot 5 ms, on a clock the test
// moves 1 ms at a time; records when each got through (ms on that clock).
std::vector<int64_t> run_limited(double rate, int max_in_flight, int n, int instances = 1) {
    asio::io_context io;
    testing::ManualClock clock(0);
    Limiter lim(io.get_executor(), rate, max_in_flight, clock);
    if (instances > 1) lim.set_instances(instances);
    std::vector<int64_t> times;
    int peak = 0, done = 0;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await lim.acquire();
                times.push_back(clock.now_ms());
                peak = std::max(peak, lim.in_flight());
                co_await clock.wait_for(io.get_executor(), 5ms);
                lim.release();
                ++done;
            },
            asio::detached);
    for (int step = 0; done < n && step < 100000; ++step) {
        io.restart();
        io.poll();
        if (done < n) clock.advance(1ms);
    }
    EXPECT_EQ(done, n);
    if (max_in_flight > 0) {
        EXPECT_LE(peak, std::max(1, max_in_flight / instances));
    }
    std::sort(times.begin(), times.end());
    return times;
}

// The most sends in any window of `width` ms.
std::size_t busiest(const std::vector<int64_t>& times, int64_t width) {
    std::size_t most = 0;
    for (size_t i = 0; i < times.size(); ++i) {
        size_t in_window = 0;
        for (size_t j = i; j < times.size() && times[j] - times[i] < width; ++j) ++in_window;
        most = std::max(most, in_window);
    }
    return most;
}

TEST(Limiter, NeverMoreThanTheRateInAnySecond) {
    auto times = run_limited(20, 0, 45);
    ASSERT_EQ(times.size(), 45u);
    // A second and 40 ms: what leaves within the margin cannot arrive bunched.
    EXPECT_LE(busiest(times, 1040), 20u);
    // And it is not slower than it must be: 20 at once, 20 more a window (1.05 s) later, then 5.
    EXPECT_EQ(times.back() - times.front(), 2100);
}

TEST(Limiter, MaxInFlightHolds) {
    auto times = run_limited(0, 3, 30);
    EXPECT_EQ(times.size(), 30u);
    EXPECT_EQ(busiest(times, 5), 3u);  // three at a time, each holding its slot 5 ms
}

TEST(Limiter, InstancesShareTheLimits) {
    auto times = run_limited(20, 8, 12, /*instances=*/4);
    ASSERT_EQ(times.size(), 12u);
    EXPECT_LE(busiest(times, 1000), 5u);  // 20/s shared by 4 instances
}

TEST(QuietHours, WindowsInVietnamTime) {
    Config cfg;
    QuietHours q;
    q.channels = {Channel::sms};
    q.from_minute = 21 * 60 + 30;  // 21:30
    q.to_minute = 7 * 60;          // 07:00
    cfg.quiet_hours.push_back(q);
    // 2026-11-27 15:00 UTC = 22:00 in Vietnam: inside; the window ends at 07:00 local =
    // 2026-11-28 00:00 UTC.
    const int64_t t1 = 1795791600000;  // 2026-11-27T15:00:00Z
    auto until = quiet_until(cfg, Channel::sms, t1);
    ASSERT_TRUE(until);
    EXPECT_EQ(*until, 1795824000000);                                    // 2026-11-28T00:00:00Z
    EXPECT_FALSE(quiet_until(cfg, Channel::zalo, t1));                   // not a covered channel
    EXPECT_FALSE(quiet_until(cfg, Channel::sms, t1 - 3 * 3600 * 1000));  // 19:00 local
    // 06:59 local (23:59 UTC) is still inside; 07:00 is not.
    EXPECT_TRUE(quiet_until(cfg, Channel::sms, 1795823940000));
    EXPECT_FALSE(quiet_until(cfg, Channel::sms, 1795824000000));
}

}  // namespace
}  // namespace tinbao
