#include "daemon/pipeline/limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

namespace asio = boost::asio;

namespace tinbao {

Limiter::Limiter(asio::any_io_executor ex, double rate_per_second, int max_in_flight)
    : ex_(std::move(ex)),
      rate_(rate_per_second),
      max_in_flight_(max_in_flight),
      tokens_(rate_per_second > 0 ? std::max(1.0, rate_per_second / 10) : 0),
      last_refill_(std::chrono::steady_clock::now()) {}

asio::awaitable<void> Limiter::acquire() {
    if (max_in_flight_ > 0) {
        while (in_flight_ >= max_in_flight_) {
            auto t = std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
            waiters_.push_back(t);
            co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
    ++in_flight_;
    if (rate_ > 0) co_await take_token();
}

void Limiter::release() {
    --in_flight_;
    if (!waiters_.empty()) {
        waiters_.front()->cancel();
        waiters_.pop_front();
    }
}

asio::awaitable<void> Limiter::take_token() {
    // The bucket holds at most a tenth of a second of tokens, so a burst never exceeds the rate
    // measured over any window of a second.
    const double capacity = std::max(1.0, rate_ / 10);
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        std::chrono::duration<double> dt = now - last_refill_;
        last_refill_ = now;
        tokens_ = std::min(capacity, tokens_ + dt.count() * rate_);
        if (tokens_ >= 1.0) {
            tokens_ -= 1.0;
            co_return;
        }
        auto wait = std::chrono::duration<double>((1.0 - tokens_) / rate_);
        asio::steady_timer t(ex_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

}  // namespace tinbao
