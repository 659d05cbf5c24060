#include "daemon/backend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "common/log_fields.hpp"
#include "common/redact.hpp"
#include "common/time.hpp"
#include "daemon/build_info.hpp"
#include "daemon/io/redis.hpp"
#include "daemon/pipeline/client_callbacks.hpp"
#include "daemon/pipeline/feedback.hpp"
#include "daemon/process_stats.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {

namespace {

// The answer to a provider's call-back whose citizens' messages or ratings the queue could not
// record: 503 with Retry-After, so that the provider sends it again a little later.
http::Response not_recorded() {
    http::Response r;
    r.status = 503;
    r.headers.emplace_back("Retry-After", "30");
    r.body = R"({"error":{"code":"queue_unavailable",)"
             R"("message":"the queue cannot be reached; retry later"}})";
    return r;
}

}  // namespace

void Backend::start() { asio::co_spawn(io_, refresh_gauges(), asio::detached); }

asio::awaitable<http::ApiBackend::Ingest> Backend::ingest(const Event& event) {
    Result<void> stored = co_await queue_.ingest(event, event.raw);
    if (stored) {
        ++accepted_;
        co_return Ingest::accepted;
    }
    if (stored.error() == Errc::duplicate) {
        ++duplicates_;
        co_return Ingest::duplicate;
    }
    ++unavailable_;
    co_return Ingest::unavailable;
}

asio::awaitable<http::Lookup> Backend::event_record(std::string id) {
    auto found = co_await queue_.event_record(id);
    co_return convert(std::move(found));
}

asio::awaitable<http::Lookup> Backend::message_record(std::string id) {
    auto found = co_await queue_.message_record(id);
    co_return convert(std::move(found));
}

asio::awaitable<http::Lookup> Backend::dossier_messages(std::string code) {
    auto found = co_await queue_.dossier_messages(code);
    co_return convert(std::move(found));
}

asio::awaitable<http::Lookup> Backend::dossier_feedback(std::string code) {
    auto found = co_await queue_.dossier_feedback(code);
    co_return convert(std::move(found));
}

json::value Backend::render_preview(const Event& event) {
    return preview(*processor_.runtime(), event);
}

bool Backend::ready() const { return queue_.ready() && !stopping_; }

json::object Backend::readiness_detail() const {
    json::object out;
    for (auto& slot : processor_.runtime()->providers)
        if (auto p = slot->provider->problem(); !p.empty()) out[slot->provider->name()] = p;
    return out;
}

std::string Backend::metrics_text() {
    auto& s = processor_.stats();
    std::vector<Metrics::Sample> v;
    auto add = [&](const char* name, double value, Labels labels = {}) {
        v.push_back({name, std::move(labels), value});
    };
    add("tinbao_events_accepted_total", static_cast<double>(accepted_));
    add("tinbao_events_duplicate_total", static_cast<double>(duplicates_));
    add("tinbao_events_unavailable_total", static_cast<double>(unavailable_));
    add("tinbao_callbacks_total", static_cast<double>(callbacks_));
    add("tinbao_callbacks_rejected_total", static_cast<double>(callbacks_rejected_));
    add("tinbao_events_processed_total", static_cast<double>(s.events_processed));
    add("tinbao_events_invalid_total", static_cast<double>(s.events_invalid));
    add("tinbao_messages_sent_total", static_cast<double>(s.messages_sent));
    add("tinbao_messages_failed_total", static_cast<double>(s.messages_failed));
    add("tinbao_messages_expired_total", static_cast<double>(s.messages_expired));
    add("tinbao_quiet_hours_deferred_total", static_cast<double>(s.deferred_quiet));
    add("tinbao_dead_letters_replayed_total", static_cast<double>(s.replayed));
    add("tinbao_pipeline_active", static_cast<double>(processor_.active()));
    add("tinbao_queue_up", queue_.ready() ? 1 : 0);
    add("tinbao_redis_master_changes_total", static_cast<double>(redis::master_changes()));
    add("tinbao_instances", processor_.instances());
    if (gauges_.backlog >= 0) add("tinbao_stream_backlog", static_cast<double>(gauges_.backlog));
    if (gauges_.scheduled >= 0)
        add("tinbao_scheduled_messages", static_cast<double>(gauges_.scheduled));
    if (gauges_.dead >= 0) add("tinbao_dead_letters", static_cast<double>(gauges_.dead));
    if (gauges_.oldest_due_ms >= 0)
        add("tinbao_oldest_due_seconds", static_cast<double>(gauges_.oldest_due_ms) / 1000.0);
    if (gauges_.held_back >= 0)
        add("tinbao_stream_entries_held_back_total", static_cast<double>(gauges_.held_back));
    auto now = CircuitBreaker::Clock::now();
    for (auto& slot : processor_.runtime()->providers) {
        Labels provider{{"provider", slot->provider->name()}};
        add("tinbao_provider_in_flight", static_cast<double>(slot->limiter->in_flight()), provider);
        add("tinbao_provider_problem", slot->provider->problem().empty() ? 0 : 1, provider);
        add("tinbao_provider_circuit_open",
            slot->breaker.state(now) == CircuitBreaker::State::closed ? 0 : 1, provider);
        // Names outside the catalogue are dropped by render().
        for (auto& g : slot->provider->gauges())
            v.push_back({"tinbao_provider_" + g.name, provider, g.value});
    }
    if (callback_sender_)
        for (auto& sample : callback_sender_->samples()) v.push_back(std::move(sample));
    // Each budgeted agency's use of its monthly budget.
    const auto& cfg = *processor_.runtime()->config;
    const std::string month = Budgets::month_of(now_ms());
    for (const auto& agency : cfg.agencies)
        if (agency.has_budget())
            add("tinbao_budget_used_ratio", processor_.budgets().used(agency, month),
                {{"agency", agency.code}});
    add("tinbao_build_info", 1,
        {{"version", std::string(build_version())}, {"commit", std::string(build_commit())}});
    add("tinbao_config_last_reload_successful", config_ok_ ? 1 : 0);
    add("tinbao_config_last_reload_timestamp_seconds", static_cast<double>(config_at_ms_) / 1000.0);
    auto ps = read_process_stats();
    auto add_known = [&](const char* name, double value) {
        if (value >= 0) add(name, value);
    };
    add_known("process_cpu_seconds_total", ps.cpu_seconds);
    add_known("process_resident_memory_bytes", ps.resident_bytes);
    add_known("process_open_fds", ps.open_fds);
    add_known("process_max_fds", ps.max_fds);
    add_known("process_start_time_seconds", ps.start_time_seconds);
    return processor_.metrics().render(v);
}

std::string Backend::status_line() const {
    std::string queued = "?";
    if (gauges_.backlog >= 0 && gauges_.scheduled >= 0)
        queued = std::to_string(gauges_.backlog + gauges_.scheduled);
    int64_t in_flight = 0;
    int up = 0, total = 0;
    auto now = CircuitBreaker::Clock::now();
    for (auto& slot : processor_.runtime()->providers) {
        in_flight += slot->limiter->in_flight();
        ++total;
        if (slot->breaker.state(now) == CircuitBreaker::State::closed &&
            slot->provider->problem().empty())
            ++up;
    }
    return "queued " + queued + ", in flight " + std::to_string(in_flight) + ", providers up " +
           std::to_string(up) + "/" + std::to_string(total) +
           (queue_.ready() ? "" : ", queue down");
}

asio::awaitable<std::optional<http::Response>> Backend::callback(std::string name,
                                                                 CallbackRequest request) {
    auto rt = processor_.runtime();
    Provider* provider = nullptr;
    for (auto& slot : rt->providers)
        if (slot->provider->name() == name) provider = slot->provider.get();
    if (!provider) co_return std::nullopt;
    auto result = provider->handle_callback(request);
    if (!result) co_return std::nullopt;
    // Only what the provider's check accepted counts as a call-back; a forged or malformed one
    // (answered 4xx) is counted apart, so a flood of them is seen and not taken for reports.
    if (result->status >= 400)
        ++callbacks_rejected_;
    else
        ++callbacks_;
    // What a call-back brings from citizens (their messages, their ratings) is recorded before
    // the provider hears that it was taken: if the queue cannot take it, the answer is
    // not_recorded() and the provider sends the call-back again (what was recorded already is
    // then recognised as sent again, docs/callbacks.md).
    if (result->status < 400) {
        for (auto& m : result->inbound) {
            bool taken = co_await inbound(std::move(m));
            if (!taken) co_return not_recorded();
        }
    }
    if (!result->updates.empty()) {
        // Answered at once; the records follow (a provider retries a call-back that waits).
        auto updates = std::move(result->updates);
        asio::co_spawn(io_, apply(std::move(updates), name), asio::detached);
    }
    if (result->resolve)
        asio::co_spawn(io_, apply_resolved(std::move(result->resolve), name), asio::detached);
    if (!result->ratings.empty()) {
        bool recorded = co_await record_ratings(std::move(result->ratings), *provider);
        if (!recorded) co_return not_recorded();
    }
    http::Response r;
    r.status = result->status;
    r.content_type = result->content_type;
    r.body = std::move(result->body);
    co_return r;
}

asio::awaitable<std::optional<queue::UsageScan>> Backend::scan_usage(queue::UsageQuery query,
                                                                     queue::UsageVisitor visit) {
    Result<queue::UsageScan> scanned = co_await queue_.scan_usage(query, std::move(visit));
    if (!scanned) co_return std::nullopt;
    co_return *scanned;
}

asio::awaitable<http::Lookup> Backend::dead_letters(std::string reason, std::size_t limit) {
    queue::DeadLetterQuery q;
    q.reason = std::move(reason);
    q.limit = limit;
    auto found = co_await queue_.dead_letters(q);
    co_return convert(std::move(found));
}

asio::awaitable<std::optional<int>> Backend::replay(std::vector<std::string> ids,
                                                    std::string reason) {
    int n = co_await processor_.replay(std::move(ids), std::move(reason));
    if (n < 0) co_return std::nullopt;
    co_return n;
}

asio::awaitable<http::Lookup> Backend::reminders(std::string dossier_code, std::size_t limit) {
    if (dossier_code.empty()) {
        auto found = co_await queue_.pending_reminders(limit);
        co_return convert(std::move(found));
    }
    // One dossier's: its history holds its pending reminders (their record is created for the
    // time they are due, so they come first).
    auto found = co_await queue_.dossier_messages(dossier_code);
    if (!found) co_return convert(std::move(found));
    json::array pending;
    if (auto* msgs = found->as_object().if_contains("messages"); msgs && msgs->is_array())
        for (auto& v : msgs->as_array()) {
            auto& o = v.as_object();
            auto* rule = o.if_contains("reminder");
            auto* st = o.if_contains("state");
            if (rule && st && st->is_string() && !is_settled(st->as_string())) pending.push_back(v);
        }
    auto due = [](const json::value& v) {
        auto* d = v.as_object().if_contains("due_at_ms");
        return d && d->is_int64() ? d->as_int64() : 0;
    };
    std::stable_sort(pending.begin(), pending.end(),
                     [&](const json::value& a, const json::value& b) { return due(a) < due(b); });
    if (pending.size() > limit) pending.resize(limit);
    co_return http::Lookup{http::Lookup::Status::found,
                           json::object{{"reminders", std::move(pending)}}};
}

asio::awaitable<std::optional<std::vector<std::string>>> Backend::cancel_reminders(
    std::vector<std::string> ids, std::string client) {
    auto done = co_await processor_.cancel_reminders(std::move(ids), "cancelled by " + client);
    if (!done)
        spdlog::warn("cancelling reminders for client {}: the queue cannot be reached", client);
    co_return done;
}

asio::awaitable<std::optional<std::vector<std::string>>> Backend::discard(
    std::vector<std::string> ids, std::string client) {
    auto gone = co_await queue_.discard_dead(ids);
    if (!gone) {
        spdlog::warn("discarding {} dead letter(s) for client {}: the queue cannot be reached",
                     ids.size(), client);
        co_return std::nullopt;
    }
    // The audit trail: who removed which message from the dead letters, for good.
    for (auto& id : *gone) spdlog::warn("dead letter {} discarded by client {}", id, client);
    co_return std::move(*gone);
}

// Nonces and owners go through the queue's store, so every tinbaod sharing it sees them. The
// store's lease (set if absent, with an expiry) is the primitive: a lease taken is a nonce seen
// for the first time; for an owner, a lease that already exists is the mark.
asio::awaitable<http::ApiBackend::Claim> Backend::claim_nonce(std::string key,
                                                              std::chrono::seconds ttl) {
    if (store_ == nullptr) {
        Claim local = co_await http::ApiBackend::claim_nonce(std::move(key), ttl);
        co_return local;
    }
    bool fresh = co_await store_->try_lock(key, ttl);
    if (fresh) co_return Claim::fresh;
    // Refused: seen before, or the store is down; a read tells which.
    StoreRead probe = co_await store_->get("nonce-probe");
    co_return probe.ok ? Claim::seen : Claim::unavailable;
}

namespace {
std::string owner_key(const std::string& event_id, const std::string& client) {
    return "owner:" + std::to_string(client.size()) + ":" + client + ":" + event_id;
}
}  // namespace

asio::awaitable<bool> Backend::record_owner(std::string event_id, std::string client) {
    if (store_ == nullptr) {
        bool local =
            co_await http::ApiBackend::record_owner(std::move(event_id), std::move(client));
        co_return local;
    }
    auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(config()->queue.dedupe_ttl);
    bool taken = co_await store_->try_lock(owner_key(event_id, client), ttl);
    co_return taken;
}

asio::awaitable<std::optional<bool>> Backend::owned_by(std::string event_id, std::string client) {
    if (store_ == nullptr) {
        std::optional<bool> local =
            co_await http::ApiBackend::owned_by(std::move(event_id), std::move(client));
        co_return local;
    }
    // Taking a 1 ms lease is the test: taken means there was no mark (it lapses at once).
    bool free =
        co_await store_->try_lock(owner_key(event_id, client), std::chrono::milliseconds(1));
    if (free) co_return false;
    StoreRead probe = co_await store_->get("owner-probe");
    if (!probe.ok) co_return std::nullopt;
    co_return true;
}

asio::awaitable<http::Lookup> Backend::callback_dead_letters(std::string client,
                                                             std::size_t limit) {
    auto found = co_await queue_.callback_dead_letters(client, limit);
    if (!found) co_return http::Lookup{http::Lookup::Status::unavailable, {}};
    json::array list;
    for (auto& cb : *found) {
        boost::system::error_code ec;
        json::value body = json::parse(cb.body, ec);
        list.push_back(json::object{{"id", cb.id},
                                    {"client", cb.client},
                                    {"kind", cb.kind},
                                    {"attempts", cb.attempts},
                                    {"last_error", cb.last_error},
                                    {"created_at", rfc3339_utc(cb.created_ms)},
                                    {"dead_at", rfc3339_utc(cb.due_ms)},
                                    {"document", ec ? json::value(cb.body) : std::move(body)}});
    }
    co_return http::Lookup{http::Lookup::Status::found,
                           json::object{{"dead_letters", std::move(list)}}};
}

asio::awaitable<std::optional<std::vector<std::string>>> Backend::replay_callbacks(
    std::vector<std::string> ids, std::string client) {
    auto replayed = co_await queue_.replay_callbacks(ids, client);
    if (!replayed) co_return std::nullopt;
    co_return std::move(*replayed);
}

std::shared_ptr<const Config> Backend::config() const { return processor_.runtime()->config; }

asio::awaitable<bool> Backend::apply(std::vector<DeliveryUpdate> updates, std::string provider) {
    // The call-backs the reports cause are written with them.
    auto recorded = co_await queue_.apply_updates(updates, callbacks::report_notices(config()));
    if (!recorded) spdlog::warn("delivery reports from {} could not all be recorded", provider);
    for (std::size_t i = 0; i < updates.size(); ++i) {
        const auto& u = updates[i];
        queue::ReportOutcome found;
        if (recorded && i < recorded->size()) found = (*recorded)[i];
        // Not applied to a known message: it may still be on its way to `sent` (its send has
        // not been recorded yet). A report with a dedupe_key was spent; the rule keeps the rest
        // from moving a message backwards.
        bool early = false;
        if (recorded && !found.event_id.empty() && !found.applied && u.dedupe_key.empty()) {
            auto rec = co_await queue_.message_record(u.message_id);
            if (rec && rec->is_object()) {
                auto* st = rec->as_object().if_contains("state");
                early = st && st->is_string() &&
                        (st->as_string() == "queued" || st->as_string() == "sending");
            }
        }
        LogFields f;
        f.event_id = found.event_id;
        f.message_id = u.message_id;
        f.dossier = found.dossier_code;
        f.provider = provider;
        f.reason = u.reason;
        f.provider_message_id = u.provider_message_id;
        const char* note = !recorded                ? " (not recorded: the queue is down)"
                           : found.event_id.empty() ? " (unknown message)"
                           : early                  ? " (before its send was recorded: again soon)"
                           : !found.applied         ? " (no change: a repeat or older news)"
                                                    : "";
        log_with(f, spdlog::level::info, "event {} dossier {} message {}: {} reports {}{}{}{}",
                 found.event_id.empty() ? "?" : found.event_id,
                 found.dossier_code.empty() ? "?" : found.dossier_code, u.message_id, provider,
                 u.state, u.reason.empty() ? "" : ": ", u.reason, note);
        if (early) asio::co_spawn(io_, apply_later(u, provider), asio::detached);
    }
    co_return static_cast<bool>(recorded);
}

asio::awaitable<void> Backend::apply_later(DeliveryUpdate update, std::string provider) {
    auto delay = std::chrono::milliseconds(250);
    for (int attempt = 0; attempt < 10 && !stopping_; ++attempt) {
        asio::steady_timer t(io_, delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(30));
        const std::vector<DeliveryUpdate> one{update};
        auto recorded = co_await queue_.apply_updates(one);
        if (!recorded || recorded->empty()) continue;
        if ((*recorded)[0].applied) {
            spdlog::info("message {}: {} reports {} (applied once its send was recorded)",
                         update.message_id, provider, update.state);
            co_return;
        }
        auto rec = co_await queue_.message_record(update.message_id);
        if (!rec || !rec->is_object()) co_return;
        auto* st = rec->as_object().if_contains("state");
        if (!st || !st->is_string() ||
            (st->as_string() != "queued" && st->as_string() != "sending"))
            co_return;  // further already, or gone: nothing to do
    }
    spdlog::warn("message {}: the {} report from {} was dropped: its send was not recorded in time",
                 update.message_id, update.state, provider);
}

asio::awaitable<bool> Backend::delivery_updates(std::string provider,
                                                std::vector<DeliveryUpdate> updates) {
    if (updates.empty()) co_return true;
    bool recorded = co_await apply(std::move(updates), std::move(provider));
    co_return recorded;
}

asio::awaitable<bool> Backend::inbound(InboundMessage message) {
    // A citizen's own words and number: neither goes to the log, only that it came.
    processor_.metrics().inc("tinbao_inbound_messages_total", {{"provider", message.provider}});
    spdlog::info("inbound {} message through {} to {}: {} bytes", to_string(message.channel),
                 message.provider, message.to.empty() ? "?" : mask_address(message.to),
                 message.text.size());
    // inbound.received to the API clients that want it (docs/callbacks.md), the sender masked
    // as in the log; the recipient is the brandname, or a number (masked too).
    const int64_t at = message.received_ms > 0 ? message.received_ms : now_ms();
    const bool to_number = !message.to.empty() &&
                           std::all_of(message.to.begin(), message.to.end(),
                                       [](char c) { return (c >= '0' && c <= '9') || c == '+'; });
    json::object data;
    data["provider"] = message.provider;
    data["channel"] = to_string(message.channel);
    data["from"] = mask_address(message.from);
    data["to"] = to_number ? mask_address(message.to) : message.to;
    data["text"] = message.text;
    if (!message.provider_message_id.empty())
        data["provider_message_id"] = message.provider_message_id;
    data["at"] = rfc3339_utc(at);
    // The webhook-id's subject: the provider's own id of the message when it gives one, so that
    // the same message reported again is the same call-back. Otherwise not the full number (the
    // id goes to the client, and a hash of a phone number with 3 digits hidden is easily
    // reversed): what the client sees, and when it came.
    std::string subject = message.provider_message_id.empty()
                              ? message.provider + '\n' + std::to_string(at) + '\n' +
                                    mask_address(message.from) + '\n' + message.text
                              : message.provider + "\nid\n" + message.provider_message_id;
    auto notice = callbacks::make_notice(*config(), "inbound.received", subject, std::move(data));
    if (!notice) co_return true;  // nobody asks for it
    // A second arrival of the message (the provider was not told it was taken, or sent it again
    // anyway) is recognised in the queue, in the same write, and makes no second call-back.
    if (!message.provider_message_id.empty()) {
        notice->once_key = "in:" + message.provider + ":id:" + message.provider_message_id;
    } else if (!message.dedupe_key.empty()) {
        notice->once_key = "in:" + message.provider + ":" + message.dedupe_key;
        notice->once_ttl_ms = message.dedupe_window.count();
    }
    std::vector<queue::Notice> notices;
    notices.push_back(std::move(*notice));
    Result<void> queued = co_await queue_.enqueue_notices(notices);
    if (!queued) {
        spdlog::warn(
            "inbound message through {}: its call-back could not be queued (queue "
            "unavailable); the provider is to send it again",
            message.provider);
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> Backend::record_ratings(std::vector<RatingReport> ratings,
                                              const Provider& provider) {
    // `provider` may be replaced by a reload while this waits: what is needed is copied.
    const std::string name = provider.name();
    const Channel channel = provider.channel();
    auto cfg = config();
    bool all = true;
    for (auto& rating : ratings) {
        const std::string message_id = rating.message_id;
        const std::string provider_message_id = rating.provider_message_id;
        const int stars = rating.rating;
        feedback::Outcome outcome =
            co_await feedback::record(queue_, *cfg, name, channel, std::move(rating));
        processor_.metrics().inc(
            "tinbao_feedback_total",
            {{"provider", name}, {"outcome", std::string(feedback::to_string(outcome))}});
        // What the citizen wrote stays out of the log; the stars and ids say what came.
        LogFields f;
        f.message_id = message_id;
        f.provider = name;
        f.provider_message_id = provider_message_id;
        switch (outcome) {
            case feedback::Outcome::stored:
                log_with(f, spdlog::level::info, "message {}: a citizen's rating of {} through {}",
                         message_id, stars, name);
                break;
            case feedback::Outcome::repeat:
                log_with(f, spdlog::level::info,
                         "message {}: the rating through {} was recorded already (a repeat)",
                         message_id, name);
                break;
            case feedback::Outcome::unknown_message:
                log_with(f, spdlog::level::warn,
                         "a rating through {} of a message tinbao does not know ({}, provider id "
                         "{}) was not kept",
                         name, message_id.empty() ? "no tracking id" : message_id,
                         provider_message_id);
                break;
            case feedback::Outcome::unavailable:
                all = false;
                log_with(f, spdlog::level::warn,
                         "message {}: a rating through {} could not be recorded (queue "
                         "unavailable); the provider is to send it again",
                         message_id, name);
                break;
        }
    }
    co_return all;
}

asio::awaitable<void> Backend::apply_resolved(
    std::function<asio::awaitable<std::vector<DeliveryUpdate>>()> resolve, std::string provider) {
    std::vector<DeliveryUpdate> updates = co_await resolve();
    if (!updates.empty()) {
        bool recorded = co_await apply(std::move(updates), std::move(provider));
        (void)recorded;  // logged by apply(): a call-back cannot be asked again
    }
}

asio::awaitable<void> Backend::refresh_gauges() {
    while (!stopping_) {
        gauges_ = co_await queue_.gauges();
        asio::steady_timer t(io_, std::chrono::seconds(5));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

http::Lookup Backend::convert(Result<json::value> found) {
    http::Lookup out;
    if (found) {
        out.status = http::Lookup::Status::found;
        out.value = std::move(*found);
    } else {
        out.status = found.error() == Errc::not_found ? http::Lookup::Status::not_found
                                                      : http::Lookup::Status::unavailable;
    }
    return out;
}

}  // namespace tinbao
