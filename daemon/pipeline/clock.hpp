// The pipeline's sense of time, passed in so that tests can drive it: wall time (Unix ms) for
// records, schedules, quiet hours and give-up; steady time for circuit breakers, rate limits and
// latencies; and waiting for a steady time point.
//
// Production code uses Clock::system(), which only reads the machine's clocks: nothing in the
// daemon can move it. A test builds its own clock (tests/unit/pipeline/manual_clock.hpp).
// Threading: a clock is read and waited on from the io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>

namespace tinbao {

class Clock {
  public:
    using Steady = std::chrono::steady_clock;

    virtual ~Clock() = default;
    virtual int64_t now_ms() const = 0;
    virtual Steady::time_point steady_now() const = 0;
    // Completes once steady_now() has reached `at` (at once when it has already).
    virtual boost::asio::awaitable<void> wait_until(boost::asio::any_io_executor ex,
                                                    Steady::time_point at) = 0;

    boost::asio::awaitable<void> wait_for(boost::asio::any_io_executor ex,
                                          std::chrono::milliseconds d);

    // The machine's clocks.
    static Clock& system();
};

}  // namespace tinbao
