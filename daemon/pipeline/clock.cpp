#include "daemon/pipeline/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace tinbao {
namespace {

class SystemClock final : public Clock {
  public:
    int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
    Steady::time_point steady_now() const override { return Steady::now(); }
    asio::awaitable<void> wait_until(asio::any_io_executor ex, Steady::time_point at) override {
        asio::steady_timer t(ex, at);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
};

}  // namespace

asio::awaitable<void> Clock::wait_for(asio::any_io_executor ex, std::chrono::milliseconds d) {
    co_await wait_until(std::move(ex), steady_now() + d);
}

Clock& Clock::system() {
    static SystemClock clock;
    return clock;
}

}  // namespace tinbao
