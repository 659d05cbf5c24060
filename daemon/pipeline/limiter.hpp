// Per-provider limits: rate_per_second (a sliding window: never more than the rate in any
// second, with 50 ms to spare for delays on the way to the provider) and a cap on requests in
// flight.
// With several instances on one queue, each instance enforces its share (set_instances()).
// Waiters are woken in order. Time comes from a Clock (the system's unless a test passes its own).
// Threading: one io_context thread; the clock outlives the limiter.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>

#include "daemon/pipeline/clock.hpp"

namespace tinbao {

class Limiter {
  public:
    Limiter(boost::asio::any_io_executor ex, double rate_per_second, int max_in_flight,
            Clock& clock = Clock::system());
    // Waits for a free slot and a token. Pair every acquire() with one release().
    boost::asio::awaitable<void> acquire();
    void release();
    int in_flight() const { return in_flight_; }
    // Several instances share one provider account: each takes 1/n of the configured limits, so
    // together they never exceed them (n from the queue's instance registry).
    void set_instances(int n);

  private:
    boost::asio::awaitable<void> take_token();

    boost::asio::any_io_executor ex_;
    Clock& clock_;
    double base_rate_;
    int base_max_in_flight_;
    double rate_;
    int max_in_flight_;
    int in_flight_ = 0;
    std::deque<Clock::Steady::time_point> sent_;  // recent sends, oldest first
    std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace tinbao
