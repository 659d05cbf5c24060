// A circuit breaker per provider: opens on consecutive failures or on an error rate over a
// window, lets one probe through after a cool-down (half-open), closes on a probe's success.
// While open, the pipeline hands messages to the channel's next provider.
//
// Counts only failures that say the provider is unwell (unreachable, 5xx, timeouts); a message's
// own permanent errors (invalid number, rejected content) say nothing about the provider.
// Per process: each instance judges from its own traffic. Threading: one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>

namespace tinbao {

struct BreakerSettings {
    int consecutive_failures = 5;
    std::chrono::milliseconds window{60000};
    int min_requests = 20;  // in the window, before the error rate counts
    double error_rate = 0.5;
    std::chrono::milliseconds cooldown{30000};
};

class CircuitBreaker {
  public:
    using Clock = std::chrono::steady_clock;
    enum class State { closed, open, half_open };

    explicit CircuitBreaker(BreakerSettings s = {}) : s_(s) {}

    // May a request go to the provider now? In half-open, only one probe at a time: the
    // request allowed then is the probe, and its outcome (one of the three on_*) decides.
    bool allow(Clock::time_point now);
    void on_success(Clock::time_point now);
    void on_failure(Clock::time_point now);
    // An answer that says nothing about the provider's health (a message's own permanent
    // error): a probe ends without a verdict, and the next request may probe again.
    void on_neutral(Clock::time_point now);
    // A half-open probe is out: other requests wait for its outcome.
    bool probing() const { return state_ == State::half_open && probing_; }
    // Does a request allowed earlier (`probe`: as the half-open probe) still go through? False
    // once the circuit opened meanwhile (it waited for a connection slot).
    bool still_allows(bool probe) const { return state_ == State::closed || (probe && probing()); }
    // When an open breaker lets the next probe through.
    Clock::time_point retry_at() const { return open_until_; }
    State state(Clock::time_point now) const;
    // The state as the last call left it: an open circuit past its cool-down turns half open
    // only when allow() lets the probe through. A caller compares it before and after a call
    // to see a transition (each one happens in exactly one call).
    State current() const { return state_; }
    static std::string_view to_string(State s);

  private:
    void trim(Clock::time_point now);
    void open(Clock::time_point now);

    BreakerSettings s_;
    State state_ = State::closed;
    int consecutive_ = 0;
    bool probing_ = false;
    Clock::time_point open_until_{};
    std::deque<std::pair<Clock::time_point, bool>> window_;  // (when, failed)
};

}  // namespace tinbao
