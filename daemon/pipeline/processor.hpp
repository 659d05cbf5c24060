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
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/limiter.hpp"
#include "daemon/pipeline/records.hpp"
#include "daemon/queue/queue.hpp"
#include "daemon/render/template.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// A provider with its limits.
struct ProviderSlot {
    std::unique_ptr<Provider> provider;
    std::unique_ptr<Limiter> limiter;
};

// Everything that changes on reload.
struct Runtime {
    std::shared_ptr<const Config> config;
    std::shared_ptr<const tpl::TemplateSet> templates;
    std::vector<std::shared_ptr<ProviderSlot>> providers;  // in config order

    std::vector<std::shared_ptr<ProviderSlot>> for_channel(Channel c) const;
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
    uint64_t retries = 0;
};

class Processor {
public:
    Processor(boost::asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt);

    void set_runtime(std::shared_ptr<const Runtime> rt) { runtime_ = std::move(rt); }
    std::shared_ptr<const Runtime> runtime() const { return runtime_; }

    // Starts the consumer loop.
    void start();
    // Stops taking entries; work in progress goes on until drained() or the process exits.
    void stop();
    bool drained() const { return active_.empty(); }
    std::size_t active() const { return active_.size(); }
    const PipelineStats& stats() const { return stats_; }

    // Handles one entry (public for tests).
    boost::asio::awaitable<void> handle(queue::Entry entry);

private:
    boost::asio::awaitable<void> consume();
    boost::asio::awaitable<void> heartbeat();
    boost::asio::awaitable<void> deliver(std::shared_ptr<const Runtime> rt, PlannedMessage& m);
    std::optional<std::string> canonical(std::string_view status) const;

    boost::asio::io_context& io_;
    queue::Queue& queue_;
    std::shared_ptr<const Runtime> runtime_;
    bool running_ = false;
    std::set<std::string> active_;   // entry ids in progress
    std::size_t max_active_ = 2048;
    std::shared_ptr<boost::asio::steady_timer> room_;  // woken when active_ shrinks
    PipelineStats stats_;
};

}  // namespace tinbao
