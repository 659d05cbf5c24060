// The saved job: what the pipeline keeps in the queue between two attempts of one message (a
// retry, the end of quiet hours, a replay). The queue stores it as opaque text; this file is the
// one place that writes and reads it.
//
// The format is JSON, stable across versions (jobs outlive a restart and an upgrade):
//   {"event": "<the event JSON as queued>", "entry": "<stream entry id>", "channel": "sms",
//    "mode": "fallback"|"all", "channels": ["zalo", "sms"], "provider": 0,
//    "provider_attempts": 0, "epoch": <Unix ms>, "accepted": <Unix ms>,
//    "provider_params": {"<provider>": {"template_id": "3101", "params": ["..."],
//                                       "unicode": true, "text": "...", "reason": "...",
//                                       "detail": "..."}},
//    "reminder": {"rule": "result_uncollected", "occurrence": 1, "due": <Unix ms>}}
// The event is parsed again at each attempt and the message rendered again from it; the forms of
// template-based providers (provider_params, absent when there are none: a job saved before
// they existed reads as having none) are kept as planned. `reminder` is there only for a
// reminder's job (daemon/pipeline/reminders.hpp): rendered from the rule's template instead.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/runtime.hpp"
#include "providers/provider.hpp"

namespace tinbao {

struct SavedJob {
    std::string event;     // the event JSON as queued
    std::string entry_id;  // the stream entry it came from (part of the message id)
    Channel channel = Channel::sms;
    Route::Mode mode = Route::Mode::fallback;
    std::vector<Channel> channels;  // the route's candidate channels, in order
    int provider_index = 0;         // where the message stands in its channel's provider list
    int provider_attempts = 0;      // attempts with that provider so far
    int64_t epoch_ms = 0;           // give_up_after counts from here (creation, or a replay)
    int64_t accepted_ms = 0;        // when the event was queued (end-to-end latency)
    // Template-based providers' forms of the message, as planned (PlannedMessage).
    ProviderParamsMap provider_params;
    // A reminder's: its rule (empty for the notice of an event), which occurrence (1...) and
    // when it was due.
    std::string reminder;
    int occurrence = 0;
    int64_t reminder_due_ms = 0;
};

std::string encode_job(const SavedJob& job);
// nullopt: not a saved job (not JSON, not an object, or no known channel).
std::optional<SavedJob> decode_job(std::string_view text);

// A replay is a fresh start: first provider, full attempt budget, give_up_after from `now_ms`.
SavedJob restarted(SavedJob job, int64_t now_ms);

}  // namespace tinbao
