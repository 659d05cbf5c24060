// Per-provider limits: a token bucket for rate_per_second and a cap on requests in flight.
// Waiters are woken in order. Threading: one io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>

namespace tinbao {

class Limiter {
public:
    Limiter(boost::asio::any_io_executor ex, double rate_per_second, int max_in_flight);
    // Waits for a free slot and a token. Pair every acquire() with one release().
    boost::asio::awaitable<void> acquire();
    void release();
    int in_flight() const { return in_flight_; }

private:
    boost::asio::awaitable<void> take_token();

    boost::asio::any_io_executor ex_;
    double rate_;
    int max_in_flight_;
    int in_flight_ = 0;
    double tokens_;
    std::chrono::steady_clock::time_point last_refill_;
    std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace tinbao
