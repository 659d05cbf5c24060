#include "daemon/pipeline/callback_sender.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/time.hpp"
#include "daemon/pipeline/client_callbacks.hpp"
#include "providers/adapter_util.hpp"

namespace asio = boost::asio;

namespace tinbao {

namespace {

using Next = queue::CallbackOutcome::Next;

std::string_view outcome_label(Next n) {
    switch (n) {
        case Next::done:
            return "delivered";
        case Next::retry:
            return "retry";
        case Next::dead:
            return "dead";
    }
    return "dead";
}

std::string describe(const HttpResponse& r) {
    switch (r.error) {
        case HttpResponse::Error::none:
            return "http " + std::to_string(r.status);
        case HttpResponse::Error::timeout:
            return "timeout";
        case HttpResponse::Error::connect:
            return "connection failed: " + adapter::clean(r.error_text, 120);
        case HttpResponse::Error::tls:
            return "tls: " + adapter::clean(r.error_text, 120);
        case HttpResponse::Error::other:
            break;
    }
    return "error: " + adapter::clean(r.error_text, 120);
}

// A failure that says the receiver is unwell (for its circuit breaker).
bool unwell(const HttpResponse& r) {
    return r.error != HttpResponse::Error::none || r.status >= 500 || r.status == 429 ||
           r.status == 408;
}

}  // namespace

CallbackSender::CallbackSender(asio::io_context& io, queue::Queue& queue, HttpClient& http,
                               Metrics& metrics, Jitter jitter)
    : io_(io), queue_(queue), http_(http), metrics_(metrics), jitter_(std::move(jitter)) {}

void CallbackSender::set_config(std::shared_ptr<const Config> cfg) {
    cfg_ = std::move(cfg);
    for (auto& c : cfg_->http.clients) {
        if (!c.callbacks) continue;
        auto& st = clients_[c.name];
        if (!st.gone_url.empty() && st.gone_url != c.callbacks->url) {
            spdlog::info("call-backs to client {}: the endpoint's url changed; enabled again",
                         c.name);
            st.gone_url.clear();
        }
    }
    if (wake_) wake_->cancel();
}

void CallbackSender::start() {
    if (running_) return;
    running_ = true;
    asio::co_spawn(io_, loop(), asio::detached);
}

void CallbackSender::stop() {
    running_ = false;
    if (wake_) wake_->cancel();
}

queue::CallbackOutcome CallbackSender::decide(const queue::Callback& cb, const HttpResponse& r,
                                              const RetrySettings& s, int64_t now,
                                              const Jitter& jitter) {
    queue::CallbackOutcome o;
    o.id = cb.id;
    o.client = cb.client;
    o.attempts = cb.attempts + 1;
    o.last_error = describe(r);
    if (r.error == HttpResponse::Error::none && r.status >= 200 && r.status < 300) {
        o.next = Next::done;
        o.last_error.clear();
        return o;
    }
    if (r.error == HttpResponse::Error::none && r.status == 410) {
        o.next = Next::dead;
        o.last_error = "http 410: the endpoint is gone; its call-backs are disabled";
        return o;
    }
    if (!unwell(r)) {
        o.next = Next::dead;  // another 4xx: the receiver refuses this document
        return o;
    }
    // Backoff with jitter: a draw in the upper half of initial_delay doubling up to max_delay.
    const int doublings = std::clamp(cb.attempts, 0, 30);
    const int64_t cap = std::min<int64_t>(s.callback_max_delay.count(),
                                          s.callback_initial_delay.count() << doublings);
    int64_t delay = cap / 2 + jitter(cap - cap / 2);
    if (r.status == 429 || r.status == 503) {
        if (auto after = adapter::parse_retry_after(r.header("retry-after")))
            delay = std::max<int64_t>(delay, std::chrono::milliseconds(*after).count());
    }
    o.due_ms = now + delay;
    if (o.due_ms - cb.created_ms > s.callback_give_up_after.count()) {
        o.next = Next::dead;
        o.last_error = "gave up after " + std::to_string(o.attempts) +
                       " attempt(s), the last: " + o.last_error;
        return o;
    }
    o.next = Next::retry;
    return o;
}

asio::awaitable<void> CallbackSender::loop() {
    while (running_) {
        bool more = false;
        if (cfg_ && callbacks::enabled(*cfg_)) more = co_await take_round();
        // Again at once while call-backs come due faster than one round takes them, calmly
        // otherwise; a finished delivery or a reload wakes the loop early.
        wake_ =
            std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(more ? 0 : 250));
        co_await wake_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<bool> CallbackSender::take_round() {
    auto cfg = cfg_;
    bool more = false;
    for (auto& client : cfg->http.clients) {
        if (!running_) break;
        if (!client.callbacks) continue;
        const CallbackEndpoint& ep = *client.callbacks;
        auto& st = clients_[client.name];
        if (!st.gone_url.empty()) continue;
        if (st.in_flight >= ep.max_in_flight) continue;
        auto now = std::chrono::steady_clock::now();
        if (!st.breaker.allow(now)) continue;
        const bool probe = st.breaker.probing();
        const std::size_t room = probe ? 1 : ep.max_in_flight - st.in_flight;
        // The lease outlasts the POST: nobody else takes the call-back while it is in flight.
        auto lease = ep.timeout + std::chrono::seconds(5);
        auto taken = co_await queue_.take_callbacks(client.name, room, lease);
        if (!taken || taken->empty()) {
            if (probe) st.breaker.on_neutral(now);  // nothing to probe with
            continue;
        }
        if (taken->size() == room && !probe) more = true;
        for (auto& cb : *taken) {
            ++st.in_flight;
            asio::co_spawn(io_, deliver(cfg, ep, std::move(cb)), asio::detached);
        }
    }
    co_return more;
}

asio::awaitable<void> CallbackSender::deliver(std::shared_ptr<const Config> cfg,
                                              CallbackEndpoint ep, queue::Callback cb) {
    const int64_t ts = now_ms() / 1000;
    HttpRequest req;
    req.method = "POST";
    req.url = ep.url;
    req.timeout = ep.timeout;
    req.body = cb.body;
    req.headers = {
        {"Content-Type", "application/json"},
        {"User-Agent", "tinbao"},
        {"webhook-id", cb.id},
        {"webhook-timestamp", std::to_string(ts)},
        {"webhook-signature", callbacks::signature_header(ep.secrets, cb.id, ts, cb.body)}};
    HttpResponse resp = co_await http_.perform(std::move(req));
    auto outcome = decide(cb, resp, cfg->retry, now_ms(), jitter_);

    auto& st = clients_[cb.client];
    auto now = std::chrono::steady_clock::now();
    const auto before = st.breaker.current();
    if (outcome.next == Next::done)
        st.breaker.on_success(now);
    else if (unwell(resp))
        st.breaker.on_failure(now);
    else
        st.breaker.on_neutral(now);
    const auto after = st.breaker.current();
    if (before != after)
        spdlog::warn("call-backs to client {}: circuit {} ({})", cb.client,
                     CircuitBreaker::to_string(after), outcome.last_error);
    if (resp.error == HttpResponse::Error::none && resp.status == 410 && st.gone_url.empty()) {
        st.gone_url = ep.url;
        spdlog::error(
            "call-backs to client {}: {} answered 410 Gone; the endpoint is disabled until a "
            "reload gives http.clients[{}].callbacks another url, or a restart (queued "
            "call-backs wait)",
            cb.client, ep.url, cb.client);
        metrics_.inc("tinbao_client_callbacks_total", {{"client", cb.client}, {"outcome", "gone"}});
    } else {
        metrics_.inc(
            "tinbao_client_callbacks_total",
            {{"client", cb.client}, {"outcome", std::string(outcome_label(outcome.next))}});
    }
    if (outcome.next == Next::dead)
        spdlog::warn("call-back {} ({}) to client {}: a dead letter after {} attempt(s): {}", cb.id,
                     cb.kind, cb.client, outcome.attempts, outcome.last_error);
    else if (outcome.next == Next::retry)
        spdlog::info("call-back {} ({}) to client {}: {}; again in {} ms", cb.id, cb.kind,
                     cb.client, outcome.last_error, outcome.due_ms - now_ms());
    // Not recorded (the queue did not answer): the lease runs out and it is sent again, with
    // the same webhook-id.
    std::vector<queue::CallbackOutcome> outcomes{outcome};
    Result<void> settled = co_await queue_.settle_callbacks(outcomes);
    if (!settled)
        spdlog::warn(
            "call-back {} to client {}: its outcome could not be recorded; it is sent "
            "again when its lease ends",
            cb.id, cb.client);
    --st.in_flight;
    if (wake_) wake_->cancel();
}

std::vector<Metrics::Sample> CallbackSender::samples() const {
    std::vector<Metrics::Sample> out;
    auto now = std::chrono::steady_clock::now();
    for (auto& [name, st] : clients_) {
        out.push_back({"tinbao_client_callbacks_in_flight",
                       {{"client", name}},
                       static_cast<double>(st.in_flight)});
        const bool open =
            st.breaker.state(now) == CircuitBreaker::State::open || !st.gone_url.empty();
        out.push_back(
            {"tinbao_client_callback_circuit_open", {{"client", name}}, open ? 1.0 : 0.0});
    }
    return out;
}

}  // namespace tinbao
