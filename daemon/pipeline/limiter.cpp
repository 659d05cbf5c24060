#include "daemon/pipeline/limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

namespace asio = boost::asio;

namespace tinbao {

Limiter::Limiter(asio::any_io_executor ex, double rate_per_second, int max_in_flight, Clock& clock)
    : ex_(std::move(ex)),
      clock_(clock),
      base_rate_(rate_per_second),
      base_max_in_flight_(max_in_flight),
      rate_(rate_per_second),
      max_in_flight_(max_in_flight) {}

asio::awaitable<void> Limiter::acquire() {
    if (max_in_flight_ > 0) {
        while (in_flight_ >= max_in_flight_) {
            auto t =
                std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
            waiters_.push_back(t);
            co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
    ++in_flight_;
    if (rate_ > 0) co_await take_token();
}

void Limiter::set_instances(int n) {
    n = std::max(1, n);
    rate_ = base_rate_ / n;
    max_in_flight_ = base_max_in_flight_ > 0 ? std::max(1, base_max_in_flight_ / n) : 0;
    // Room may have grown: wake whoever waits.
    while (!waiters_.empty() && (max_in_flight_ == 0 || in_flight_ < max_in_flight_)) {
        waiters_.front()->cancel();
        waiters_.pop_front();
    }
}

void Limiter::release() {
    --in_flight_;
    if (!waiters_.empty()) {
        waiters_.front()->cancel();
        waiters_.pop_front();
    }
}

asio::awaitable<void> Limiter::take_token() {
    // A sliding log of recent sends: at most n in any window w, measured on our clock. With
    // rate >= 1: n = floor(rate) per second (never above the configured rate, whatever window
    // of a second the provider looks at); below 1: one per 1/rate seconds.
    // The window is 50 ms longer than the second: requests sent in time can reach the provider
    // closer together than they left (network, a loaded machine), and the provider counts what
    // it receives. This costs at most 5 % of the configured rate.
    using namespace std::chrono;
    constexpr auto kMargin = milliseconds(50);
    const std::size_t n = rate_ >= 1 ? static_cast<std::size_t>(rate_) : 1;
    const auto w =
        duration_cast<steady_clock::duration>(duration<double>(rate_ >= 1 ? 1.0 : 1.0 / rate_)) +
        kMargin;
    for (;;) {
        auto now = clock_.steady_now();
        while (!sent_.empty() && now - sent_.front() >= w) sent_.pop_front();
        if (sent_.size() < n) {
            sent_.push_back(now);
            co_return;
        }
        co_await clock_.wait_until(ex_, sent_.front() + w);
    }
}

}  // namespace tinbao
