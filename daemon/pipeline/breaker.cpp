#include "daemon/pipeline/breaker.hpp"

namespace tinbao {

std::string_view CircuitBreaker::to_string(State s) {
    switch (s) {
        case State::closed:
            return "closed";
        case State::open:
            return "open";
        case State::half_open:
            return "half_open";
    }
    return "closed";
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
    if (state_ == State::open && now >= open_until_) return State::half_open;
    return state_;
}

bool CircuitBreaker::allow(Clock::time_point now) {
    if (state_ == State::closed) return true;
    if (state_ == State::open) {
        if (now < open_until_) return false;
        state_ = State::half_open;
        probing_ = false;
    }
    if (probing_) return false;  // one probe at a time
    probing_ = true;
    return true;
}

void CircuitBreaker::on_success(Clock::time_point now) {
    consecutive_ = 0;
    window_.emplace_back(now, false);
    trim(now);
    if (state_ != State::closed) {
        state_ = State::closed;
        probing_ = false;
        window_.clear();
    }
}

void CircuitBreaker::on_failure(Clock::time_point now) {
    ++consecutive_;
    window_.emplace_back(now, true);
    trim(now);
    if (state_ == State::half_open) {
        open(now);  // the probe failed
        return;
    }
    if (state_ != State::closed) return;
    if (consecutive_ >= s_.consecutive_failures) {
        open(now);
        return;
    }
    if (static_cast<int>(window_.size()) >= s_.min_requests) {
        int failed = 0;
        for (auto& [t, f] : window_) failed += f ? 1 : 0;
        if (failed >= s_.error_rate * static_cast<double>(window_.size())) open(now);
    }
}

void CircuitBreaker::on_neutral(Clock::time_point) {
    if (state_ == State::half_open) probing_ = false;
}

void CircuitBreaker::open(Clock::time_point now) {
    state_ = State::open;
    probing_ = false;
    open_until_ = now + s_.cooldown;
}

void CircuitBreaker::trim(Clock::time_point now) {
    while (!window_.empty() && now - window_.front().first > s_.window) window_.pop_front();
}

}  // namespace tinbao
