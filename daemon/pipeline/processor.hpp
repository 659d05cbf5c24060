// The delivery pipeline: takes queued entries, routes each event to its channels, renders the
// messages, sends them through the channel's providers (with limits, retries and failover), and
// records the outcome before acknowledging the entry (at-least-once; providers deduplicate a
// resend by the deterministic message id).
//
// Threading: one io_context thread. Ownership: the Processor holds the current Runtime (config,
// templates, providers) by shared_ptr; work in progress keeps the Runtime it started with, so a
// reload never pulls a provider from under a send.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/breaker.hpp"
#include "daemon/pipeline/limiter.hpp"
#include "daemon/pipeline/metrics.hpp"
#include "daemon/model/records.hpp"
#include "daemon/queue/queue.hpp"
#include "daemon/render/registered.hpp"
#include "daemon/render/template.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// A provider with its limits and its circuit breaker.
struct ProviderSlot {
    std::unique_ptr<Provider> provider;
    std::unique_ptr<Limiter> limiter;
    CircuitBreaker breaker;
    sms::RegisteredTemplates registered;  // SMS: the wording registered for the brandname
};

// The SMS as this provider will send it: forbidden characters replaced, segments recounted.
// `reason` is set (template_not_registered) when it matches none of the registered wording.
struct ProviderText {
    OutboundMessage message;
    std::string reason;
    std::string detail;
};
ProviderText for_provider(const ProviderSlot& slot, const OutboundMessage& msg);

// Everything that changes on reload.
struct Runtime {
    std::shared_ptr<const Config> config;
    std::shared_ptr<const tpl::TemplateSet> templates;
    std::vector<std::shared_ptr<ProviderSlot>> providers;  // in config order

    std::vector<std::shared_ptr<ProviderSlot>> for_channel(Channel c) const;
    // Requests the providers may have outstanding at once: the sum of their max_in_flight,
    // an unlimited one counted as 1000.
    std::size_t in_flight_capacity() const;
};

// One message as planned for an event: its record and what the provider will get.
struct PlannedMessage {
    MessageRecord record;
    OutboundMessage outbound;
    // A reason the message cannot be sent at all (invalid_phone, template_error, too_long, ...).
    std::string preflight_reason;
    std::string preflight_detail;
};

struct Plan {
    bool routed = false;              // false: no route covers the status -> skipped
    Route::Mode mode = Route::Mode::fallback;
    std::vector<Channel> channels;    // candidate channels in order
    std::vector<PlannedMessage> messages;  // fallback: only the first channel with a contact
};

// Plans (routes and renders) an event. Pure: no I/O.
Plan plan_event(const Runtime& rt, const Event& event, const std::string& entry_id);
// Renders one channel's message for an event.
PlannedMessage plan_message(const Runtime& rt, const Event& event, const std::string& entry_id,
                            Channel channel);
// The preview of POST /v1/render and `tinbaoctl render`.
boost::json::value preview(const Runtime& rt, const Event& event);

struct PipelineStats {
    uint64_t events_processed = 0;
    uint64_t events_duplicate = 0;
    uint64_t events_invalid = 0;
    uint64_t messages_sent = 0;
    uint64_t messages_failed = 0;
    uint64_t messages_expired = 0;
    uint64_t retries = 0;          // attempts scheduled again after a retryable failure
    uint64_t fallbacks = 0;        // messages superseded by the next channel
    uint64_t deferred_quiet = 0;   // messages held for the end of quiet hours
    uint64_t jobs_run = 0;
    uint64_t replayed = 0;
};

// The minutes of quiet hours: when `channel` is covered at `now_ms`, the end of the window (Unix
// ms), else nullopt. Local time is Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
std::optional<int64_t> quiet_until(const Config& cfg, Channel channel, int64_t now_ms);

// One message being worked on: the event it belongs to and where it stands in its channel's
// provider list. Serialised as a queue::Job payload between attempts.
struct Work {
    std::shared_ptr<const Event> event;  // never null once the work is set up
    std::string payload;           // the event JSON as queued
    std::string entry_id;
    Route::Mode mode = Route::Mode::fallback;
    std::vector<Channel> channels; // the route's candidate channels, in order
    PlannedMessage msg;
    int provider_index = 0;
    int provider_attempts = 0;
    int64_t epoch_ms = 0;          // give_up_after counts from here (creation, or a replay)
    int64_t due_ms = 0;            // when scheduled: the next attempt
    int64_t not_before_ms = 0;     // no attempt before (per-dossier order)
    int64_t accepted_ms = 0;       // when the event was queued (end-to-end latency)
    bool coalesce_checked = false; // coalesce_window already waited out

    std::string job_payload() const;
};

class Processor {
public:
    Processor(boost::asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt);

    void set_runtime(std::shared_ptr<const Runtime> rt) {
        runtime_ = std::move(rt);
        max_active_ = active_limit(*runtime_);
    }
    // Events and jobs worked on at once: enough to keep every provider's max_in_flight busy,
    // a quarter more for those waiting on a rate limit or their commit, and at least 2048.
    static std::size_t active_limit(const Runtime& rt);
    std::shared_ptr<const Runtime> runtime() const { return runtime_; }

    // Starts the stream consumer, the scheduler of due jobs and the heartbeat.
    void start();
    // Stops taking new work; work in progress goes on until drained() or the process exits.
    void stop();
    bool drained() const { return active_.empty(); }
    std::size_t active() const { return active_.size(); }
    const PipelineStats& stats() const { return stats_; }
    int instances() const { return instances_; }
    const Metrics& metrics() const { return metrics_; }

    // Handles one stream entry (public for tests).
    boost::asio::awaitable<void> handle(queue::Entry entry);
    // Handles one due job (public for tests).
    boost::asio::awaitable<void> run_job(queue::DueJob job);
    // Puts dead letters back in the schedule (by id, or all with `reason`); the number replayed,
    // or -1 when the queue did not answer.
    boost::asio::awaitable<int> replay(std::vector<std::string> ids, std::string reason);

private:
    boost::asio::awaitable<void> wait_for_instances();
    boost::asio::awaitable<void> consume();
    boost::asio::awaitable<void> schedule_loop();
    boost::asio::awaitable<void> heartbeat();
    // Attempts `w` (and, in fallback mode, the next channels) and adds the outcome to `c`.
    boost::asio::awaitable<void> run_message(std::shared_ptr<const Runtime> rt, Work& w,
                                             queue::Commit& c);
    // One pass over the channel's providers: leaves w.msg.record in sent / failed / expired, or
    // queued with w.due_ms set (a retry, quiet hours, every provider's circuit open).
    boost::asio::awaitable<void> attempt(std::shared_ptr<const Runtime> rt, Work& w);
    boost::asio::awaitable<void> commit(queue::Commit c);
    std::optional<std::string> canonical(std::string_view status) const;
    void finished(const std::string& key);
    // Events of one dossier are handled one after the other, in stream order.
    boost::asio::awaitable<void> lock_dossier(const std::string& code);
    void unlock_dossier(const std::string& code);

    boost::asio::io_context& io_;
    queue::Queue& queue_;
    std::shared_ptr<const Runtime> runtime_;
    bool running_ = false;
    std::set<std::string> active_;   // stream entry ids and "job:<id>" in progress
    std::size_t max_active_ = 2048;
    std::shared_ptr<boost::asio::steady_timer> room_;  // woken when active_ shrinks
    PipelineStats stats_;
    Metrics metrics_;
    int instances_ = 1;
    bool instances_known_ = false;
    std::map<std::string, std::deque<std::shared_ptr<boost::asio::steady_timer>>, std::less<>>
        dossiers_;  // dossier in progress -> events of it waiting their turn
    std::shared_ptr<boost::asio::steady_timer> instances_ready_;
};

}  // namespace tinbao
