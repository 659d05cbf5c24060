#include "daemon/pipeline/retry_policy.hpp"

#include "common/time.hpp"

#include <algorithm>
#include <random>

namespace tinbao {

Jitter random_jitter() {
    return [](int64_t max) {
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(max, 0));
        return dist(rng);
    };
}

int64_t RetryPolicy::backoff_cap(int provider_attempts) const {
    // Shifting by more than 30 would overflow before min() caps it.
    const int doublings = std::clamp(provider_attempts - 1, 0, 30);
    return std::min<int64_t>(s_.max_delay.count(), s_.initial_delay.count() << doublings);
}

RetryDecision RetryPolicy::after_failure(const SendResult& result, int provider_attempts,
                                         int64_t now_ms, int64_t epoch_ms) const {
    if (provider_attempts >= s_.max_attempts) return {RetryDecision::Kind::next_provider, 0};
    int64_t due = now_ms + jitter_(std::max<int64_t>(backoff_cap(provider_attempts), 1));
    if (result.retry_after)
        due = std::max(due,
                       add_saturated(now_ms, seconds_to_ms_saturated(result.retry_after->count())));
    if (result.not_before_ms) due = std::max(due, *result.not_before_ms);
    if (due > give_up_at(epoch_ms)) return {RetryDecision::Kind::expire, due};
    return {RetryDecision::Kind::retry, due};
}

}  // namespace tinbao
