// When to try a message again after a retryable failure: exponential backoff with full jitter
// (retry.initial_delay doubling up to retry.max_delay, a uniform draw below it), never sooner
// than the provider asked (Retry-After, or a fixed time such as Zalo's 06:00), up to
// retry.max_attempts attempts with one provider, and never past retry.give_up_after from the
// message's start.
//
// Pure: the time and the random draw come from the caller, so tests control both.
// Threading: any; a RetryPolicy holds no state besides its settings and its random source.
#pragma once

#include <cstdint>
#include <functional>

#include "daemon/config/config.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// A uniform draw in [0, max]. The default draws from a per-thread Mersenne Twister.
using Jitter = std::function<int64_t(int64_t max)>;
Jitter random_jitter();

struct RetryDecision {
    enum class Kind {
        retry,          // try the same provider again at `due_ms`
        next_provider,  // this provider used its attempts: hand the message to the next one
        expire,         // the next attempt would come after give_up_after
    } kind = Kind::retry;
    int64_t due_ms = 0;  // for `retry`; for `expire`, when the attempt would have been
};

class RetryPolicy {
  public:
    explicit RetryPolicy(RetrySettings settings, Jitter jitter = random_jitter())
        : s_(settings), jitter_(std::move(jitter)) {}

    // The moment a message that started (or was replayed) at `epoch_ms` expires.
    int64_t give_up_at(int64_t epoch_ms) const { return epoch_ms + s_.give_up_after.count(); }

    // The longest backoff before attempt `provider_attempts + 1` with the same provider (the
    // cap of the full-jitter draw).
    int64_t backoff_cap(int provider_attempts) const;

    // After `provider_attempts` attempts with one provider, the last failing retryably with
    // `result` at `now_ms`: what next.
    RetryDecision after_failure(const SendResult& result, int provider_attempts, int64_t now_ms,
                                int64_t epoch_ms) const;

  private:
    RetrySettings s_;
    Jitter jitter_;
};

}  // namespace tinbao
