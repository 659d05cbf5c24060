// Circuit breaker, rate limiter and quiet hours: the pieces of the delivery policy that do not
// need a queue.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <vector>

#include "daemon/pipeline/breaker.hpp"
#include "daemon/pipeline/limiter.hpp"
#include "daemon/pipeline/processor.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace tinbao {
namespace {

using Clock = CircuitBreaker::Clock;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndProbesAfterCooldown) {
    BreakerSettings s;
    s.consecutive_failures = 3;
    s.cooldown = 10s;
    CircuitBreaker b(s);
    auto t = Clock::time_point{} + 1h;
    EXPECT_TRUE(b.allow(t));
    b.on_failure(t);
    b.on_failure(t);
    EXPECT_TRUE(b.allow(t));
    b.on_failure(t);
    EXPECT_FALSE(b.allow(t));                 // open
    EXPECT_FALSE(b.allow(t + 9s));
    EXPECT_TRUE(b.allow(t + 10s));            // half open: one probe
    EXPECT_FALSE(b.allow(t + 10s));           // and only one
    b.on_failure(t + 11s);                    // the probe failed: open again
    EXPECT_FALSE(b.allow(t + 12s));
    EXPECT_TRUE(b.allow(t + 21s));
    b.on_success(t + 21s);                    // the probe succeeded: closed
    EXPECT_TRUE(b.allow(t + 21s));
    EXPECT_TRUE(b.allow(t + 21s));
    EXPECT_EQ(b.state(t + 21s), CircuitBreaker::State::closed);
}

TEST(CircuitBreaker, OpensOnErrorRateInTheWindow) {
    BreakerSettings s;
    s.consecutive_failures = 100;
    s.min_requests = 10;
    s.error_rate = 0.5;
    CircuitBreaker b(s);
    auto t = Clock::time_point{} + 1h;
    for (int i = 0; i < 4; ++i) {
        b.on_success(t);
        b.on_failure(t);
    }
    EXPECT_TRUE(b.allow(t));  // 8 requests: below min_requests
    b.on_success(t);
    b.on_failure(t);          // 10 requests, half failed
    EXPECT_FALSE(b.allow(t));
}

TEST(CircuitBreaker, OldFailuresLeaveTheWindow) {
    BreakerSettings s;
    s.consecutive_failures = 100;
    s.min_requests = 4;
    s.window = 10s;
    CircuitBreaker b(s);
    auto t = Clock::time_point{} + 1h;
    b.on_failure(t);
    b.on_failure(t);
    b.on_failure(t);
    b.on_success(t + 20s);  // the failures are out of the window now
    EXPECT_TRUE(b.allow(t + 20s));
}

// Starts `n` acquire/release pairs at once and records when each got through.
std::vector<Clock::time_point> run_limited(double rate, int max_in_flight, int n) {
    asio::io_context io;
    Limiter lim(io.get_executor(), rate, max_in_flight);
    std::vector<Clock::time_point> times;
    int peak = 0;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await lim.acquire();
                times.push_back(Clock::now());
                peak = std::max(peak, lim.in_flight());
                asio::steady_timer hold(io, 5ms);
                co_await hold.async_wait(asio::use_awaitable);
                lim.release();
            },
            asio::detached);
    io.run();
    if (max_in_flight > 0) {
        EXPECT_LE(peak, max_in_flight);
    }
    return times;
}

TEST(Limiter, NeverMoreThanTheRateInAnySecond) {
    auto times = run_limited(20, 0, 45);
    ASSERT_EQ(times.size(), 45u);
    std::sort(times.begin(), times.end());
    for (size_t i = 0; i < times.size(); ++i) {
        size_t in_window = 0;
        // A second and 40 ms: what leaves within the margin cannot arrive bunched.
        for (size_t j = i; j < times.size() && times[j] - times[i] < 1040ms; ++j) ++in_window;
        EXPECT_LE(in_window, 20u) << "window starting at send " << i;
    }
    // And it is not slower than it must be: 45 sends at 20/s need a bit over 2 s.
    EXPECT_LT(times.back() - times.front(), 3500ms);
}

TEST(Limiter, MaxInFlightHolds) {
    auto times = run_limited(0, 3, 30);
    EXPECT_EQ(times.size(), 30u);
}

TEST(Limiter, InstancesShareTheLimits) {
    asio::io_context io;
    Limiter lim(io.get_executor(), 20, 10);
    lim.set_instances(4);
    std::vector<Clock::time_point> times;
    for (int i = 0; i < 12; ++i)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                co_await lim.acquire();
                times.push_back(Clock::now());
                lim.release();
            },
            asio::detached);
    io.run();
    std::sort(times.begin(), times.end());
    for (size_t i = 0; i < times.size(); ++i) {
        size_t in_window = 0;
        for (size_t j = i; j < times.size() && times[j] - times[i] < 1s; ++j) ++in_window;
        EXPECT_LE(in_window, 5u);  // 20/s shared by 4 instances
    }
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
    EXPECT_EQ(*until, 1795824000000);  // 2026-11-28T00:00:00Z
    EXPECT_FALSE(quiet_until(cfg, Channel::zalo, t1));       // not a covered channel
    EXPECT_FALSE(quiet_until(cfg, Channel::sms, t1 - 3 * 3600 * 1000));  // 19:00 local
    // 06:59 local (23:59 UTC) is still inside; 07:00 is not.
    EXPECT_TRUE(quiet_until(cfg, Channel::sms, 1795823940000));
    EXPECT_FALSE(quiet_until(cfg, Channel::sms, 1795824000000));
}

}  // namespace
}  // namespace tinbao
