// A clock that moves only when the test says so: wall and steady time advance together, and
// whoever waits on it is woken when advance() reaches their time. Tests only: the daemon's
// clock cannot be moved.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>

#include "daemon/pipeline/clock.hpp"

namespace tinbao::testing {

class ManualClock final : public Clock {
  public:
    explicit ManualClock(int64_t start_ms) : wall_(start_ms) {}

    int64_t now_ms() const override { return wall_; }
    Steady::time_point steady_now() const override { return steady_; }
    boost::asio::awaitable<void> wait_until(boost::asio::any_io_executor ex,
                                            Steady::time_point at) override {
        if (at <= steady_) co_return;
        auto t = std::make_shared<boost::asio::steady_timer>(
            ex, boost::asio::steady_timer::time_point::max());
        waiters_.emplace(at, t);
        co_await t->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }

    void advance(std::chrono::milliseconds d) {
        wall_ += d.count();
        steady_ += d;
        while (!waiters_.empty() && waiters_.begin()->first <= steady_) {
            waiters_.begin()->second->cancel();
            waiters_.erase(waiters_.begin());
        }
    }
    void advance_to(int64_t wall_ms) {
        if (wall_ms > wall_) advance(std::chrono::milliseconds(wall_ms - wall_));
    }
    std::size_t waiting() const { return waiters_.size(); }

  private:
    int64_t wall_;
    Steady::time_point steady_ = Steady::time_point{} + std::chrono::hours(1000);
    std::multimap<Steady::time_point, std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace tinbao::testing
