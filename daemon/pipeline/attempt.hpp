// One attempt at one message: the steps between a planned message and its outcome for this
// pass. In order: a message that cannot be sent fails; a message past give_up_after expires;
// a message may be held back (coalescing window, an earlier notice of its dossier, quiet hours);
// then the channel's providers are tried from where the message stands: the first whose circuit
// lets it through gets it, within its limits, and the answer decides: sent, failed, retried
// later (RetryPolicy), or handed to the next provider.
//
// The outcome is left in the Work: its record is sent / failed / expired, or queued with
// `due_ms` set. Channel fallback and the commit are the Processor's.
// Threading: one io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string_view>

#include "daemon/pipeline/budget.hpp"
#include "daemon/pipeline/clock.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/job_codec.hpp"
#include "daemon/pipeline/metrics.hpp"
#include "daemon/pipeline/planner.hpp"
#include "daemon/pipeline/retry_policy.hpp"
#include "daemon/pipeline/runtime.hpp"

namespace tinbao {

// The reason an expired message shows when quiet hours outlast give_up_after.
inline constexpr std::string_view kQuietHoursReason = "quiet_hours";
// The reason of an SMS not sent because its agency's monthly budget is spent.
inline constexpr std::string_view kBudgetExceededReason = "budget_exceeded";

struct PipelineStats {
    uint64_t events_processed = 0;
    uint64_t events_duplicate = 0;
    uint64_t events_invalid = 0;
    uint64_t messages_sent = 0;
    uint64_t messages_failed = 0;   // messages that ended failed or expired, each once
    uint64_t messages_expired = 0;  // of those, the expired ones
    uint64_t retries = 0;           // attempts scheduled again after a retryable failure
    uint64_t fallbacks = 0;         // messages handed to the next channel
    uint64_t deferred_quiet = 0;    // messages held for the end of quiet hours
    uint64_t jobs_run = 0;
    uint64_t replayed = 0;
};

// One message being worked on: the event it belongs to, where it stands (the saved job), and
// its current plan.
struct Work {
    std::shared_ptr<const Event> event;  // never null once the work is set up
    SavedJob job;                        // job.channel is msg's channel
    PlannedMessage msg;
    int64_t due_ms = 0;             // when scheduled: the next attempt
    int64_t not_before_ms = 0;      // no attempt before (per-dossier order)
    bool coalesce_checked = false;  // coalesce_window already waited out
};

// What an attempt uses besides the message. Owned by the Processor.
struct AttemptContext {
    boost::asio::any_io_executor executor;
    Clock& clock;
    Jitter jitter;
    Metrics& metrics;
    PipelineStats& stats;
    Budgets* budgets = nullptr;  // agencies' spend of the month; null: no budget applies
};

boost::asio::awaitable<void> attempt(AttemptContext& ctx, std::shared_ptr<const Runtime> rt,
                                     Work& w);

}  // namespace tinbao
