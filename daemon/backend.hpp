// The HTTP API's backend: what the routes of daemon/http ask of the daemon, answered from the
// queue (ingest, records, dead letters), the processor (its runtime, replays, metrics) and the
// providers (call-backs). It also keeps the queue's gauges fresh for /metrics.
//
// Threading: the daemon's io_context thread. The backend refers to the queue and the processor
// it is given; their owner (the App) keeps them alive as long as the backend.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>

#include "daemon/http/api.hpp"
#include "daemon/pipeline/callback_sender.hpp"
#include "daemon/pipeline/processor.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/state_store.hpp"

namespace tinbao {

// Also the providers' sink (ProviderSink): the delivery reports and citizens' messages an adapter
// brings on its own (SMPP's deliver_sm) go the way a call-back's do.
class Backend final : public http::ApiBackend, public ProviderSink {
  public:
    // `store` (may be null: then nonces and owners are remembered in this process only) is
    // the queue's durable store.
    Backend(boost::asio::io_context& io, queue::Queue& queue, Processor& processor,
            StateStore* store = nullptr)
        : io_(io), queue_(queue), processor_(processor), store_(store) {}

    // Starts refreshing the queue's gauges; stop() ends it and makes ready() false.
    void start();
    // The outcome of the last configuration load (the start, or a reload), for /metrics.
    void config_loaded(bool ok, int64_t at_ms) {
        config_ok_ = ok;
        config_at_ms_ = at_ms;
    }
    void stop() { stopping_ = true; }
    // The call-backs' sender, for /metrics (may stay unset).
    void set_callback_sender(const CallbackSender* s) { callback_sender_ = s; }

    boost::asio::awaitable<Ingest> ingest(const Event& event) override;
    boost::asio::awaitable<http::Lookup> event_record(std::string id) override;
    boost::asio::awaitable<http::Lookup> message_record(std::string id) override;
    boost::asio::awaitable<http::Lookup> dossier_messages(std::string code) override;
    boost::asio::awaitable<http::Lookup> dossier_feedback(std::string code) override;
    boost::json::value render_preview(const Event& event) override;
    bool ready() const override;
    boost::json::object readiness_detail() const override;
    std::string metrics_text() override;
    // One line for systemd's STATUS= (systemctl status): "queued N, in flight N, providers up
    // N/N"; a figure the queue has not given yet is "?".
    std::string status_line() const;
    boost::asio::awaitable<std::optional<http::Response>> callback(
        std::string name, CallbackRequest request) override;
    boost::asio::awaitable<http::Lookup> dead_letters(std::string reason,
                                                      std::size_t limit) override;
    boost::asio::awaitable<std::optional<int>> replay(std::vector<std::string> ids,
                                                      std::string reason) override;
    boost::asio::awaitable<http::Lookup> reminders(std::string dossier_code,
                                                   std::size_t limit) override;
    boost::asio::awaitable<std::optional<std::vector<std::string>>> cancel_reminders(
        std::vector<std::string> ids, std::string client) override;
    boost::asio::awaitable<std::optional<std::vector<std::string>>> discard(
        std::vector<std::string> ids, std::string client) override;
    boost::asio::awaitable<http::Lookup> callback_dead_letters(std::string client,
                                                               std::size_t limit) override;
    boost::asio::awaitable<std::optional<std::vector<std::string>>> replay_callbacks(
        std::vector<std::string> ids, std::string client) override;
    boost::asio::awaitable<std::optional<queue::UsageScan>> scan_usage(
        queue::UsageQuery query, queue::UsageVisitor visit) override;
    std::shared_ptr<const Config> config() const override;
    boost::asio::awaitable<Claim> claim_nonce(std::string key, std::chrono::seconds ttl) override;
    boost::asio::awaitable<bool> record_owner(std::string event_id, std::string client) override;
    boost::asio::awaitable<std::optional<bool>> owned_by(std::string event_id,
                                                         std::string client) override;

    boost::asio::awaitable<bool> delivery_updates(std::string provider,
                                                  std::vector<DeliveryUpdate> updates) override;
    boost::asio::awaitable<bool> inbound(InboundMessage message) override;

  private:
    // Records the updates and logs each outcome; false when the queue could not record them.
    boost::asio::awaitable<bool> apply(std::vector<DeliveryUpdate> updates, std::string provider);
    // A report that came before its message was recorded `sent` (a fast SMSC answers within
    // milliseconds of the submit): applied again a little later, for up to about two minutes.
    boost::asio::awaitable<void> apply_later(DeliveryUpdate update, std::string provider);
    // Records citizens' ratings a call-back brought (daemon/pipeline/feedback.hpp), each
    // counted and logged; false when one could not be recorded (the queue is down).
    boost::asio::awaitable<bool> record_ratings(std::vector<RatingReport> ratings,
                                                const Provider& provider);
    // Runs a call-back's lookup (CallbackResult::resolve), then applies what it found.
    boost::asio::awaitable<void> apply_resolved(
        std::function<boost::asio::awaitable<std::vector<DeliveryUpdate>>()> resolve,
        std::string provider);
    boost::asio::awaitable<void> refresh_gauges();
    static http::Lookup convert(Result<boost::json::value> found);

    boost::asio::io_context& io_;
    queue::Queue& queue_;
    Processor& processor_;
    StateStore* store_ = nullptr;
    const CallbackSender* callback_sender_ = nullptr;
    bool stopping_ = false;
    uint64_t accepted_ = 0, duplicates_ = 0, unavailable_ = 0, callbacks_ = 0,
             callbacks_rejected_ = 0;
    queue::Queue::Gauges gauges_;
    bool config_ok_ = true;
    int64_t config_at_ms_ = 0;
};

}  // namespace tinbao
