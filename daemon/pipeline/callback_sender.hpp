// Delivers the queued call-backs to API clients (docs/callbacks.md): POSTs each one signed like
// Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), retries it with backoff
// and jitter on a timeout, a connection failure, 5xx, 408 or 429 (honouring Retry-After) until
// retry.callback_give_up_after, then leaves it a dead letter. 2xx ends it; another 4xx makes it
// a dead letter at once; 410 also disables the client's endpoint (logged) until a reload gives
// it another url, or a restart.
//
// Apart from message delivery: its own loop, each client's own in-flight limit
// (callbacks.max_in_flight), deadline (callbacks.timeout) and circuit breaker, so a slow or dead
// receiver only holds up its own call-backs. Call-backs are taken from the queue only as far as
// the client has room, leased while they are in flight: after a crash they come back with the
// same webhook-id (at least once).
//
// Threading: one io_context thread. Ownership: the daemon's App owns it; the queue, the HTTP
// client and the metrics outlive it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/breaker.hpp"
#include "daemon/pipeline/metrics.hpp"
#include "daemon/pipeline/retry_policy.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/http_client.hpp"

namespace tinbao {

class CallbackSender {
  public:
    CallbackSender(boost::asio::io_context& io, queue::Queue& queue, HttpClient& http,
                   Metrics& metrics, Jitter jitter = random_jitter());

    // The config in force (at start and after each reload).
    void set_config(std::shared_ptr<const Config> cfg);
    void start();
    void stop();

    // What became of one attempt (`response` to the POST of `cb`) at `now_ms`. Pure.
    static queue::CallbackOutcome decide(const queue::Callback& cb, const HttpResponse& response,
                                         const RetrySettings& s, int64_t now_ms,
                                         const Jitter& jitter);

    // Gauges for /metrics: per client, call-backs in flight and whether its circuit is open.
    std::vector<Metrics::Sample> samples() const;

  private:
    struct ClientState {
        std::size_t in_flight = 0;
        CircuitBreaker breaker;
        std::string gone_url;  // the url that answered 410 (disabled while it is the same)
    };

    boost::asio::awaitable<void> loop();
    // Takes what each client has room for; true when some client may have more due.
    boost::asio::awaitable<bool> take_round();
    boost::asio::awaitable<void> deliver(std::shared_ptr<const Config> cfg, CallbackEndpoint ep,
                                         queue::Callback cb);

    boost::asio::io_context& io_;
    queue::Queue& queue_;
    HttpClient& http_;
    Metrics& metrics_;
    Jitter jitter_;
    std::shared_ptr<const Config> cfg_;
    std::map<std::string, ClientState> clients_;
    bool running_ = false;
    std::shared_ptr<boost::asio::steady_timer> wake_;
};

}  // namespace tinbao
