#include "daemon/pipeline/processor.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <random>

#include "daemon/render/phone.hpp"
#include "daemon/render/sms_text.hpp"
#include "providers/reasons.hpp"
#include "common/redact.hpp"
#include "common/time.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {
namespace {
// "event E dossier D message M (sms to 8491***678)", for the log lines about one message.
struct MessageLogPrefix {
    const MessageRecord& rec;
};
}  // namespace
}  // namespace tinbao

template <>
struct fmt::formatter<tinbao::MessageLogPrefix> : fmt::formatter<std::string_view> {
    template <class Context>
    auto format(const tinbao::MessageLogPrefix& p, Context& ctx) const {
        return fmt::format_to(ctx.out(), "event {} dossier {} message {} ({} to {})",
                              p.rec.event_id, p.rec.dossier_code, p.rec.id, p.rec.channel,
                              tinbao::mask_address(p.rec.to));
    }
};

namespace tinbao {

std::vector<std::shared_ptr<ProviderSlot>> Runtime::for_channel(Channel c) const {
    std::vector<std::shared_ptr<ProviderSlot>> out;
    for (auto& p : providers)
        if (p->provider->channel() == c && p->provider->settings().enabled) out.push_back(p);
    return out;
}

std::size_t Runtime::in_flight_capacity() const {
    std::size_t total = 0;
    for (auto& p : providers) {
        int n = p->provider->settings().max_in_flight;
        total += n > 0 ? static_cast<std::size_t>(n) : 1000;
    }
    return total;
}

namespace {

bool has_contact(const Event& ev, Channel c) {
    switch (c) {
        case Channel::sms: return !ev.phone.empty();
        case Channel::zalo: return !ev.phone.empty() || !ev.zalo_user_id.empty();
        case Channel::email: return !ev.email.empty();
    }
    return false;
}

const Route* find_route(const Config& cfg, std::string_view status) {
    for (auto& r : cfg.routes)
        for (auto& s : r.statuses)
            if (s == status) return &r;
    return nullptr;
}

json::value render_context(const Event& ev) {
    json::value ctx = ev.json;
    if (ctx.is_object()) ctx.as_object()["status_label"] = tpl::status_label(ev.status);
    return ctx;
}

sms::UnicodePolicy policy_of(const SmsSettings& s) {
    switch (s.unicode) {
        case SmsSettings::Unicode::never: return sms::UnicodePolicy::never;
        case SmsSettings::Unicode::always: return sms::UnicodePolicy::always;
        default: return sms::UnicodePolicy::auto_;
    }
}

void fail_preflight(PlannedMessage& m, std::string_view reason, std::string detail) {
    m.preflight_reason = reason;
    m.preflight_detail = std::move(detail);
}

// Renders a template, or records why not.
std::optional<std::string> render_part(PlannedMessage& m, const tpl::Template& t,
                                       const json::value& ctx, bool html = false) {
    tpl::RenderOptions opts;
    opts.html_escape = html;
    auto r = t.render(ctx, opts);
    if (auto* err = std::get_if<tpl::Error>(&r)) {
        fail_preflight(m, reason::kTemplateError, err->str());
        return std::nullopt;
    }
    return std::get<std::string>(std::move(r));
}

}  // namespace

PlannedMessage plan_message(const Runtime& rt, const Event& ev, const std::string& entry_id,
                            Channel channel) {
    PlannedMessage m;
    auto now = now_ms();
    auto& rec = m.record;
    rec.id = message_id(ev.event_id, entry_id, to_string(channel));
    rec.event_id = ev.event_id;
    rec.dossier_code = ev.dossier_code;
    rec.channel = std::string(to_string(channel));
    rec.created_at_ms = rec.updated_at_ms = now;
    auto& out = m.outbound;
    out.id = rec.id;
    out.event_id = ev.event_id;
    out.dossier_code = ev.dossier_code;
    out.channel = channel;

    const tpl::StatusTemplates* t = rt.templates ? rt.templates->find(ev.status) : nullptr;
    auto missing_part = [&] {
        fail_preflight(m, reason::kTemplateError,
                       "no " + rec.channel + " part in the template of status " + ev.status);
    };
    auto ctx = render_context(ev);

    switch (channel) {
        case Channel::sms: {
            rec.to = ev.phone;
            auto number = phone::normalize_mobile(ev.phone);
            if (!number) {
                fail_preflight(m, reason::kInvalidPhone,
                               "not a Vietnamese mobile number: " + mask_phone(ev.phone));
                return m;
            }
            rec.to = out.to = *number;
            if (!t || !t->sms) return missing_part(), m;
            auto text = render_part(m, *t->sms, ctx);
            if (!text) return m;
            auto p = sms::plan(*text, policy_of(rt.config->sms), rt.config->sms.max_segments);
            if (!p.plan) {
                fail_preflight(m, reason::kTooLong,
                               std::to_string(p.attempted.segments) + " segments (" +
                                   std::string(sms::to_string(p.attempted.encoding)) +
                                   "), more than sms.max_segments " +
                                   std::to_string(rt.config->sms.max_segments));
                rec.body = *text;
                return m;
            }
            rec.body = out.text = p.plan->text;
            rec.encoding = std::string(sms::to_string(p.plan->count.encoding));
            rec.segments = out.segments = p.plan->count.segments;
            out.unicode = p.plan->count.encoding == sms::Encoding::ucs2;
            break;
        }
        case Channel::zalo: {
            if (!ev.phone.empty()) {
                auto number = phone::normalize_mobile(ev.phone);
                if (!number) {
                    rec.to = ev.phone;
                    fail_preflight(m, reason::kInvalidPhone,
                                   "not a Vietnamese mobile number: " + mask_phone(ev.phone));
                    return m;
                }
                rec.to = out.to = *number;
            } else {
                rec.to = out.to = ev.zalo_user_id;
            }
            if (!t || !t->zalo) return missing_part(), m;
            rec.template_id = out.template_id = t->zalo->template_id;
            for (auto& [name, part] : t->zalo->params) {
                auto v = render_part(m, part, ctx);
                if (!v) return m;
                out.params.emplace_back(name, std::move(*v));
            }
            break;
        }
        case Channel::email: {
            rec.to = out.to = ev.email;
            if (ev.email.find('@') == std::string::npos) {
                fail_preflight(m, reason::kNoContact, "not an email address");
                return m;
            }
            if (!t || !t->email) return missing_part(), m;
            auto subject = render_part(m, t->email->subject, ctx);
            if (!subject) return m;
            auto text = render_part(m, t->email->text, ctx);
            if (!text) return m;
            if (t->email->html) {
                auto html = render_part(m, *t->email->html, ctx, true);
                if (!html) return m;
                out.html = std::move(*html);
            }
            rec.subject = out.subject = std::move(*subject);
            rec.body = out.text = std::move(*text);
            break;
        }
    }
    return m;
}

Plan plan_event(const Runtime& rt, const Event& ev, const std::string& entry_id) {
    Plan plan;
    auto* route = find_route(*rt.config, ev.status);
    if (!route) return plan;
    plan.routed = true;
    plan.mode = route->mode;
    if (!ev.channels.empty()) {
        // The event's own list, limited to channels the config can deliver.
        for (auto& name : ev.channels) {
            auto c = channel_from_string(name);
            if (c && !rt.for_channel(*c).empty()) plan.channels.push_back(*c);
        }
    } else {
        plan.channels = route->channels;
    }
    for (auto c : plan.channels) {
        if (!has_contact(ev, c)) {
            if (plan.mode == Route::Mode::all) {
                PlannedMessage m = plan_message(rt, ev, entry_id, c);
                m.preflight_reason.clear();
                m.record.state = state::kSkipped;
                m.record.last_error_reason = reason::kNoContact;
                m.record.last_error_detail = "the applicant has no address for this channel";
                plan.messages.push_back(std::move(m));
            }
            continue;
        }
        plan.messages.push_back(plan_message(rt, ev, entry_id, c));
        if (plan.mode == Route::Mode::fallback) break;
    }
    if (plan.messages.empty() && !plan.channels.empty()) {
        // Fallback with no contact on any channel: one skipped message says why.
        PlannedMessage m = plan_message(rt, ev, entry_id, plan.channels.front());
        m.preflight_reason.clear();
        m.record.state = state::kSkipped;
        m.record.last_error_reason = reason::kNoContact;
        m.record.last_error_detail = "the applicant has no address for any routed channel";
        plan.messages.push_back(std::move(m));
    }
    return plan;
}

json::value preview(const Runtime& rt, const Event& ev) {
    json::object out;
    out["event_id"] = ev.event_id;
    out["status"] = ev.status;
    auto plan = plan_event(rt, ev, "preview");
    out["routed"] = plan.routed;
    json::array msgs;
    // A preview shows every routed channel, not just the first of a fallback route.
    for (auto c : plan.channels) {
        auto m = plan_message(rt, ev, "preview", c);
        json::object o;
        o["channel"] = to_string(c);
        o["to"] = m.record.to;
        if (!m.preflight_reason.empty())
            o["error"] = json::object{{"reason", m.preflight_reason},
                                      {"detail", m.preflight_detail}};
        if (c == Channel::sms) {
            o["text"] = m.outbound.text.empty() ? m.record.body : m.outbound.text;
            if (!m.record.encoding.empty()) {
                auto count = sms::count(m.outbound.text, m.outbound.unicode ? sms::Encoding::ucs2
                                                                             : sms::Encoding::gsm7);
                o["encoding"] = m.record.encoding;
                o["characters"] = count.characters;
                o["segments"] = count.segments;
                if (m.outbound.unicode) {
                    o["ucs2_because"] = json::object{{"character", count.first_non_gsm},
                                                     {"index", count.first_non_gsm_index}};
                }
            }
        } else if (c == Channel::email) {
            o["subject"] = m.outbound.subject;
            o["text"] = m.outbound.text;
            if (!m.outbound.html.empty()) o["html"] = m.outbound.html;
        } else {
            o["template_id"] = m.outbound.template_id;
            json::object params;
            for (auto& [k, v] : m.outbound.params) params[k] = v;
            o["params"] = std::move(params);
        }
        msgs.push_back(std::move(o));
    }
    out["messages"] = std::move(msgs);
    return out;
}

ProviderText for_provider(const ProviderSlot& slot, const OutboundMessage& msg) {
    ProviderText out{msg, {}, {}};
    if (msg.channel != Channel::sms) return out;
    auto& s = slot.provider->settings();
    if (!s.forbidden_characters.empty()) {
        out.message.text =
            sms::replace_forbidden(msg.text, s.forbidden_characters, s.forbidden_replacement);
        if (out.message.text != msg.text)
            out.message.segments =
                sms::count(out.message.text, msg.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7)
                    .segments;
    }
    if (!slot.registered.empty() && !slot.registered.matches(out.message.text)) {
        out.reason = reason::kTemplateNotRegistered;
        out.detail = "the text matches none of the " + std::to_string(slot.registered.size()) +
                     " registered_templates of provider " + s.name;
    }
    return out;
}

std::optional<int64_t> quiet_until(const Config& cfg, Channel channel, int64_t now) {
    constexpr int64_t kMinute = 60000, kDay = 1440;
    const int64_t local_minute = ((now / kMinute) + 7 * 60) % kDay;  // UTC+7
    const int64_t minute_start = now - now % kMinute;
    std::optional<int64_t> until;
    for (auto& q : cfg.quiet_hours) {
        if (std::find(q.channels.begin(), q.channels.end(), channel) == q.channels.end()) continue;
        bool inside = q.from_minute < q.to_minute
                          ? (local_minute >= q.from_minute && local_minute < q.to_minute)
                          : (local_minute >= q.from_minute || local_minute < q.to_minute);
        if (!inside) continue;
        int64_t minutes_left = (q.to_minute - local_minute + kDay) % kDay;
        int64_t end = minute_start + minutes_left * kMinute;
        until = std::max(until.value_or(0), end);
    }
    return until;
}

std::string Work::job_payload() const {
    json::array chans;
    for (auto c : channels) chans.push_back(json::value(to_string(c)));
    json::object o{{"event", payload},
                   {"entry", entry_id},
                   {"channel", to_string(msg.outbound.channel)},
                   {"mode", mode == Route::Mode::all ? "all" : "fallback"},
                   {"channels", std::move(chans)},
                   {"provider", provider_index},
                   {"provider_attempts", provider_attempts},
                   {"epoch", epoch_ms},
                   {"accepted", accepted_ms}};
    return json::serialize(o);
}


std::size_t Processor::active_limit(const Runtime& rt) {
    std::size_t in_flight = rt.in_flight_capacity();
    return std::clamp<std::size_t>(in_flight + in_flight / 4, 2048, 200000);
}

Processor::Processor(asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt)
    : io_(io), queue_(queue), runtime_(std::move(rt)) {
    max_active_ = active_limit(*runtime_);
}

void Processor::start() {
    if (running_) return;
    running_ = true;
    asio::co_spawn(io_, consume(), asio::detached);
    asio::co_spawn(io_, schedule_loop(), asio::detached);
    asio::co_spawn(io_, heartbeat(), asio::detached);
}

void Processor::stop() {
    running_ = false;
    if (room_) room_->cancel();
}

std::optional<std::string> Processor::canonical(std::string_view status) const {
    return runtime_->config->canonical_status(status);
}

asio::awaitable<void> Processor::lock_dossier(const std::string& code) {
    auto it = dossiers_.find(code);
    if (it == dossiers_.end()) {
        dossiers_.emplace(code, std::deque<std::shared_ptr<asio::steady_timer>>{});
        co_return;
    }
    auto turn = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    it->second.push_back(turn);
    co_await turn->async_wait(asio::as_tuple(asio::use_awaitable));  // woken by unlock
}

void Processor::unlock_dossier(const std::string& code) {
    auto it = dossiers_.find(code);
    if (it == dossiers_.end()) return;
    if (it->second.empty()) {
        dossiers_.erase(it);
        return;
    }
    auto next = it->second.front();  // the turn passes to the next event, in arrival order
    it->second.pop_front();
    next->cancel();
}

void Processor::finished(const std::string& key) {
    active_.erase(key);
    if (room_) room_->cancel();
}

asio::awaitable<void> Processor::wait_for_instances() {
    // No sends before this instance knows how many share the providers' limits.
    while (running_ && !instances_known_) {
        instances_ready_ = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
        co_await instances_ready_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> Processor::consume() {
    co_await wait_for_instances();
    std::chrono::milliseconds read_backoff(10);
    while (running_) {
        auto cfg = runtime_->config;
        if (active_.size() >= max_active_) {
            room_ = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
            co_await room_->async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        auto room = std::min<std::size_t>(static_cast<std::size_t>(cfg->queue.batch),
                                          max_active_ - active_.size());
        auto entries = co_await queue_.read(room, std::chrono::milliseconds(1000));
        if (!entries) {
            // The queue did not answer (its reading connection is still coming up after a
            // start, or is down): try again soon, then less often.
            asio::steady_timer t(io_, read_backoff);
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            read_backoff = std::min(read_backoff * 2, std::chrono::milliseconds(500));
            continue;
        }
        read_backoff = std::chrono::milliseconds(10);
        for (auto& e : *entries) {
            if (active_.count(e.id)) continue;  // already in progress here
            active_.insert(e.id);
            asio::co_spawn(io_, handle(std::move(e)), asio::detached);
        }
    }
}

asio::awaitable<void> Processor::schedule_loop() {
    co_await wait_for_instances();
    while (running_) {
        auto rt = runtime_;
        // The lease outlasts every provider's deadline, so a job is never run twice at once.
        std::chrono::milliseconds lease(30000);
        for (auto& p : rt->providers) lease = std::max(lease, p->provider->settings().timeout * 3);
        std::size_t room = max_active_ > active_.size() ? max_active_ - active_.size() : 0;
        Result<std::vector<queue::DueJob>> due = std::vector<queue::DueJob>{};
        if (room > 0) due = co_await queue_.take_due(std::min<std::size_t>(room, 256), lease);
        std::size_t n = due ? due->size() : 0;
        for (auto& d : due ? *due : std::vector<queue::DueJob>{}) {
            auto key = "job:" + d.job.message_id;
            if (active_.count(key)) continue;
            active_.insert(key);
            asio::co_spawn(io_, run_job(std::move(d)), asio::detached);
        }
        // Poll quickly while there is work, calmly otherwise.
        asio::steady_timer t(io_, std::chrono::milliseconds(n > 0 ? 10 : 200));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> Processor::heartbeat() {
    auto last_keep_alive = std::chrono::steady_clock::now();
    bool first = true;
    while (running_ || !active_.empty()) {
        if (!first) {
            // Every 10 ms until the instance count is first known (no event is processed
            // before: the queue's connection is usually up within a few ms of the start),
            // then every 2 s.
            asio::steady_timer t(io_, instances_known_ ? std::chrono::milliseconds(2000)
                                                       : std::chrono::milliseconds(10));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        first = false;
        auto rt = runtime_;
        Result<int> counted = co_await queue_.heartbeat_instances();
        if (!counted) continue;  // keep the last known count
        int n = *counted;
        if (!instances_known_) {
            instances_known_ = true;
            for (auto& p : rt->providers) p->limiter->set_instances(n);
            if (instances_ready_) instances_ready_->cancel();
        }
        if (n != instances_) {
            spdlog::info("{} instance(s) share this queue: each takes 1/{} of every provider's "
                         "rate and in-flight limits",
                         n, n);
            instances_ = n;
        }
        for (auto& p : rt->providers) p->limiter->set_instances(instances_);
        auto now = std::chrono::steady_clock::now();
        if (now - last_keep_alive >= rt->config->queue.claim_idle / 3) {
            last_keep_alive = now;
            std::vector<std::string> ids;
            for (auto& k : active_)
                if (k.rfind("job:", 0) != 0) ids.push_back(k);
            if (!ids.empty()) co_await queue_.keep_alive(ids);
        }
    }
}

asio::awaitable<void> Processor::attempt(std::shared_ptr<const Runtime> rt, Work& w) {
    auto& rec = w.msg.record;
    auto& cfg = *rt->config;
    const MessageLogPrefix log_prefix{rec};  // formatted only when a line is logged
    auto settle = [&](std::string_view st) {
        rec.state = st;
        rec.updated_at_ms = now_ms();
    };
    if (!w.msg.preflight_reason.empty()) {
        rec.last_error_reason = w.msg.preflight_reason;
        rec.last_error_detail = w.msg.preflight_detail;
        settle(state::kFailed);
        spdlog::warn("{}: failed before sending: {}: {}", log_prefix, rec.last_error_reason,
                     rec.last_error_detail);
        co_return;
    }
    auto providers = rt->for_channel(w.msg.outbound.channel);
    if (providers.empty()) {
        rec.last_error_reason = reason::kNoProvider;
        rec.last_error_detail = "no enabled provider for channel " + rec.channel;
        settle(state::kFailed);
        co_return;
    }
    const int64_t give_up_at = w.epoch_ms + cfg.retry.give_up_after.count();
    auto schedule = [&](int64_t due) {
        w.due_ms = due;
        settle(state::kQueued);
    };
    if (now_ms() > give_up_at) {
        settle(state::kExpired);
        spdlog::warn("{}: expired after {} attempt(s)", log_prefix, rec.attempts);
        co_return;
    }
    if (cfg.coalesce_window.count() > 0 && rec.attempts == 0 && !w.coalesce_checked &&
        now_ms() < rec.created_at_ms + cfg.coalesce_window.count()) {
        // A newer status of the dossier within the window replaces this one: wait and see.
        metrics_.inc("tinbao_messages_deferred_total", {{"channel", rec.channel}, {"why", "coalesce"}});
        schedule(rec.created_at_ms + cfg.coalesce_window.count());
        co_return;
    }
    if (w.not_before_ms > now_ms()) {
        // An earlier notice of this dossier is still waiting: keep their order.
        metrics_.inc("tinbao_messages_deferred_total",
                     {{"channel", rec.channel}, {"why", "dossier_order"}});
        spdlog::info("{}: waits behind an earlier notice of the dossier until {}", log_prefix,
                     rfc3339_utc(w.not_before_ms));
        schedule(w.not_before_ms);
        w.not_before_ms = 0;
        co_return;
    }
    if (auto until = quiet_until(cfg, w.msg.outbound.channel, now_ms())) {
        if (*until > give_up_at) {
            settle(state::kExpired);
            spdlog::warn("{}: expired: quiet hours last past give_up_after", log_prefix);
            co_return;
        }
        ++stats_.deferred_quiet;
        metrics_.inc("tinbao_messages_deferred_total",
                     {{"channel", rec.channel}, {"why", "quiet_hours"}});
        spdlog::info("{}: quiet hours; held until {}", log_prefix, rfc3339_utc(*until));
        schedule(*until);
        co_return;
    }

    static thread_local std::mt19937_64 rng{std::random_device{}()};
    while (w.provider_index < static_cast<int>(providers.size())) {
        // The first provider whose circuit lets a request through, from where the message is.
        auto now_steady = CircuitBreaker::Clock::now();
        int chosen = -1;
        std::optional<ProviderText> chosen_text;
        bool circuit_open = false;
        auto earliest = CircuitBreaker::Clock::time_point::max();
        for (int i = w.provider_index; i < static_cast<int>(providers.size()); ++i) {
            // A provider whose brandname has no registered wording for this text is passed over:
            // the carrier would reject it (another provider's brandname may have it).
            auto t = for_provider(*providers[i], w.msg.outbound);
            if (!t.reason.empty()) {
                rec.last_error_reason = t.reason;
                rec.last_error_detail = t.detail;
                spdlog::warn("{}: {}", log_prefix, t.detail);
                continue;
            }
            if (providers[i]->breaker.allow(now_steady)) {
                chosen = i;
                chosen_text = std::move(t);
                break;
            }
            circuit_open = true;
            earliest = std::min(earliest, providers[i]->breaker.retry_at());
        }
        if (chosen < 0 && !circuit_open) {
            settle(state::kFailed);  // no provider may send this text
            co_return;
        }
        if (chosen < 0) {
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(earliest - now_steady);
            rec.last_error_reason = reason::kProviderUnavailable;
            rec.last_error_detail = "every provider's circuit is open";
            int64_t due = now_ms() + std::max<int64_t>(wait.count(), 100);
            if (due > give_up_at) {
                settle(state::kExpired);
                spdlog::warn("{}: expired: every provider is down past give_up_after", log_prefix);
                co_return;
            }
            spdlog::warn("{}: every provider of the channel is down; next try in {} ms",
                         log_prefix, wait.count());
            schedule(due);
            co_return;
        }
        if (chosen != w.provider_index) {
            w.provider_index = chosen;
            w.provider_attempts = 0;
        }
        auto& slot = *providers[chosen];
        auto& provider = *slot.provider;
        ProviderText& text = *chosen_text;
        if (text.message.text != w.msg.outbound.text) {
            rec.body = text.message.text;
            rec.segments = text.message.segments;
        }
        co_await slot.limiter->acquire();
        rec.provider = provider.name();
        auto started = std::chrono::steady_clock::now();
        auto result = co_await provider.send(text.message);
        slot.limiter->release();
        metrics_.observe("tinbao_provider_request_seconds", {{"provider", provider.name()}},
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                             .count());
        metrics_.inc("tinbao_provider_requests_total",
                     {{"provider", provider.name()},
                      {"result", result.ok ? "ok"
                                 : result.failure == FailureClass::permanent ? "permanent"
                                                                             : "retryable"}});
        ++rec.attempts;
        ++w.provider_attempts;
        rec.updated_at_ms = now_ms();
        auto now_s = CircuitBreaker::Clock::now();
        if (result.ok) {
            slot.breaker.on_success(now_s);
            rec.provider_message_id = result.provider_message_id;
            rec.last_error_reason.clear();
            rec.last_error_detail.clear();
            settle(state::kSent);
            ++stats_.messages_sent;
            if (w.accepted_ms > 0)
                metrics_.observe("tinbao_end_to_end_seconds", {{"channel", rec.channel}},
                                 static_cast<double>(now_ms() - w.accepted_ms) / 1000.0);
            if (!rec.encoding.empty())
                metrics_.inc("tinbao_sms_segments_total", {{"encoding", rec.encoding}},
                             rec.segments);
            spdlog::info("{}: sent via {} (attempt {})", log_prefix, provider.name(), rec.attempts);
            co_return;
        }
        rec.last_error_reason = result.reason;
        rec.last_error_detail = result.detail;
        if (result.failure == FailureClass::permanent) {
            settle(state::kFailed);
            spdlog::warn("{}: failed permanently via {}: {}: {}", log_prefix, provider.name(),
                         result.reason, result.detail);
            co_return;
        }
        // The provider is unwell (not merely busy): count it against its circuit.
        if (result.reason != reason::kThrottled && result.reason != reason::kQuotaExceeded)
            slot.breaker.on_failure(now_s);
        else
            slot.breaker.on_success(now_s);
        if (w.provider_attempts >= cfg.retry.max_attempts) {
            spdlog::warn("{}: {} attempt(s) via {} failed ({}: {}); next provider", log_prefix,
                         w.provider_attempts, provider.name(), result.reason, result.detail);
            ++w.provider_index;
            w.provider_attempts = 0;
            continue;
        }
        // Exponential backoff with full jitter; never sooner than the provider asked.
        auto cap = std::min<int64_t>(
            cfg.retry.max_delay.count(),
            cfg.retry.initial_delay.count() << std::min(w.provider_attempts - 1, 30));
        std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 1));
        int64_t due = now_ms() + dist(rng);
        if (result.retry_after) due = std::max(due, now_ms() + result.retry_after->count() * 1000);
        if (result.not_before_ms) due = std::max(due, *result.not_before_ms);
        if (due > give_up_at) {
            settle(state::kExpired);
            spdlog::warn("{}: expired: the next attempt would come after give_up_after ({}: {})",
                         log_prefix, result.reason, result.detail);
            co_return;
        }
        ++stats_.retries;
        metrics_.inc("tinbao_retries_total",
                     {{"provider", provider.name()}, {"reason", result.reason}});
        spdlog::info("{}: attempt {} via {} failed ({}: {}); next at {}", log_prefix,
                     rec.attempts, provider.name(), result.reason, result.detail,
                     rfc3339_utc(due));
        schedule(due);
        co_return;
    }
    settle(state::kFailed);  // every provider used its attempts
}

asio::awaitable<void> Processor::run_message(std::shared_ptr<const Runtime> rt, Work& w,
                                             queue::Commit& c) {
    auto count = [this](const MessageRecord& r) {
        metrics_.inc("tinbao_messages_total", {{"channel", r.channel},
                                               {"provider", r.provider},
                                               {"outcome", r.state},
                                               {"reason", r.last_error_reason}});
    };
    for (;;) {
        auto& rec = w.msg.record;
        if (rec.state == state::kSkipped) {
            count(rec);
            c.messages.push_back(rec);
            co_return;
        }
        co_await attempt(rt, w);
        if (rec.state == state::kSent) count(rec);  // failures are counted once their fate is known
        if (rec.state == state::kQueued) {
            c.messages.push_back(rec);
            c.schedule.push_back(queue::Job{rec.id, w.job_payload(), w.due_ms});
            co_return;
        }
        if (rec.state == state::kSent) {
            c.messages.push_back(rec);
            c.done.push_back(rec.id);
            co_return;
        }
        // failed or expired
        if (rec.state == state::kExpired)
            ++stats_.messages_expired;
        else
            ++stats_.messages_failed;
        if (w.mode == Route::Mode::fallback) {
            auto it = std::find(w.channels.begin(), w.channels.end(), w.msg.outbound.channel);
            if (it != w.channels.end()) ++it;
            while (it != w.channels.end() && !has_contact(*w.event, *it)) ++it;
            if (it != w.channels.end()) {
                spdlog::info("event {} dossier {}: {} {} ({}); falling back to {}",
                             w.event->event_id, w.event->dossier_code, rec.channel, rec.state,
                             rec.last_error_reason, to_string(*it));
                rec.state = state::kSuperseded;
                count(rec);
                metrics_.inc("tinbao_fallbacks_total",
                             {{"from", rec.channel}, {"to", std::string(to_string(*it))}});
                c.messages.push_back(rec);
                c.done.push_back(rec.id);
                ++stats_.fallbacks;
                w.msg = plan_message(*rt, *w.event, w.entry_id, *it);
                w.provider_index = 0;
                w.provider_attempts = 0;
                w.epoch_ms = w.msg.record.created_at_ms;
                continue;
            }
        }
        count(rec);
        c.messages.push_back(rec);
        c.dead.push_back(queue::Job{rec.id, w.job_payload(), 0});
        co_return;
    }
}

asio::awaitable<void> Processor::commit(queue::Commit c) {
    // Until the commit is written the stream entry stays pending and a job stays leased: after a
    // crash both come back, and the message id keeps providers from sending twice.
    std::chrono::milliseconds backoff(200);
    for (;;) {
        Result<void> written = co_await queue_.commit(c);
        if (written) break;
        if (!running_) {
            spdlog::warn("event {}: not recorded before shutdown; it resumes at the next start",
                         c.event_id);
            co_return;
        }
        asio::steady_timer t(io_, backoff);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

asio::awaitable<void> Processor::handle(queue::Entry entry) {
    const std::string key = entry.id;
    active_.insert(key);
    auto rt = runtime_;
    auto parsed = parse_event(entry.payload, [&](std::string_view s) { return canonical(s); });
    if (!parsed.event) {
        auto& err = *parsed.error;
        ++stats_.events_invalid;
        std::string why = err.code + ": " + err.message;
        if (!err.field.empty()) why += " (field " + err.field + ")";
        spdlog::warn("queue entry {}: not a valid event, moved aside: {}", entry.id, why);
        co_await queue_.reject(entry, why);
        finished(key);
        co_return;
    }
    // Shared by the event's messages (each Work holds it), not copied.
    auto event = std::make_shared<const Event>(std::move(*parsed.event));
    const Event& ev = *event;
    co_await lock_dossier(ev.dossier_code);
    struct Unlock {
        Processor* p;
        std::string code;
        ~Unlock() { p->unlock_dossier(code); }
    } unlock{this, ev.dossier_code};
    auto plan = plan_event(*rt, ev, entry.id);
    std::vector<MessageRecord> initial;
    for (auto& m : plan.messages) initial.push_back(m.record);
    auto claim = co_await queue_.claim(entry, ev, initial);
    if (!claim && claim.error() != Errc::duplicate) {
        finished(key);  // stays pending; taken up again later
        co_return;
    }
    if (!claim) {
        ++stats_.events_duplicate;
        spdlog::info("event {} dossier {}: duplicate copy (entry {}) ignored", ev.event_id,
                     ev.dossier_code, entry.id);
        co_await queue_.ack(entry);
        finished(key);
        co_return;
    }

    queue::Commit c;
    c.ack = &entry;
    c.event_id = ev.event_id;
    c.dossier_code = ev.dossier_code;
    c.status = ev.status;
    c.skipped = !plan.routed;
    if (!plan.routed)
        spdlog::info("event {} dossier {}: no route for status {}; skipped", ev.event_id,
                     ev.dossier_code, ev.status);
    // A later attempt parses the event again from the entry's own JSON (as stored: the NFC
    // form for HTTP, the sender's for the stream, which parsing normalises the same way).
    const std::string& payload = entry.payload;
    for (size_t i = 0; i < plan.messages.size(); ++i) {
        auto& existing = claim->existing[i];
        // Settled before a restart, or already in the schedule: not attempted again from here.
        if (existing && (is_settled(existing->state) || existing->attempts > 0)) continue;
        Work w;
        w.event = event;
        w.payload = payload;
        w.entry_id = entry.id;
        w.mode = plan.mode;
        w.channels = plan.channels;
        w.msg = std::move(plan.messages[i]);
        w.epoch_ms = w.msg.record.created_at_ms;
        w.accepted_ms = entry.created_ms;
        if (claim->blocked_until_ms > 0) w.not_before_ms = claim->blocked_until_ms + 1;
        co_await run_message(rt, w, c);
    }
    co_await commit(std::move(c));
    ++stats_.events_processed;
    finished(key);
}

asio::awaitable<void> Processor::run_job(queue::DueJob due) {
    const std::string key = "job:" + due.job.message_id;
    auto rt = runtime_;
    boost::system::error_code ec;
    auto jv = json::parse(due.job.payload, ec);
    queue::Commit c;
    if (ec || !jv.is_object()) {
        spdlog::error("scheduled job {} is unreadable; dropped", due.job.message_id);
        c.done.push_back(due.job.message_id);
        co_await commit(std::move(c));
        finished(key);
        co_return;
    }
    auto& j = jv.as_object();
    auto str = [&](std::string_view k) {
        auto* v = j.if_contains(k);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto num = [&](std::string_view k) -> int64_t {
        auto* v = j.if_contains(k);
        return v && v->is_int64() ? v->as_int64() : 0;
    };
    Work w;
    w.payload = str("event");
    w.entry_id = str("entry");
    auto parsed = parse_event(w.payload, [&](std::string_view s) { return canonical(s); });
    auto channel = channel_from_string(str("channel"));
    if (!parsed.event || !channel) {
        spdlog::error("scheduled job {}: its event no longer validates; dropped",
                      due.job.message_id);
        c.done.push_back(due.job.message_id);
        co_await commit(std::move(c));
        finished(key);
        co_return;
    }
    w.event = std::make_shared<const Event>(std::move(*parsed.event));
    w.mode = str("mode") == "all" ? Route::Mode::all : Route::Mode::fallback;
    if (auto* cs = j.if_contains("channels"); cs && cs->is_array())
        for (auto& cv : cs->as_array())
            if (cv.is_string())
                if (auto ch = channel_from_string(cv.as_string())) w.channels.push_back(*ch);
    w.provider_index = static_cast<int>(num("provider"));
    w.provider_attempts = static_cast<int>(num("provider_attempts"));
    w.epoch_ms = num("epoch");
    w.accepted_ms = num("accepted");
    c.event_id = w.event->event_id;
    c.dossier_code = w.event->dossier_code;
    c.status = w.event->status;
    if (due.record && is_settled(due.record->state)) {
        c.done.push_back(due.job.message_id);  // settled meanwhile (a replay raced, a report)
        co_await commit(std::move(c));
        finished(key);
        co_return;
    }
    co_await lock_dossier(w.event->dossier_code);
    struct Unlock {
        Processor* p;
        std::string code;
        ~Unlock() { p->unlock_dossier(code); }
    } unlock{this, w.event->dossier_code};
    // Rendered again with the templates in force now; same id, so the provider sees one message.
    w.msg = plan_message(*rt, *w.event, w.entry_id, *channel);
    if (due.record) {
        w.msg.record.attempts = due.record->attempts;
        w.msg.record.created_at_ms = due.record->created_at_ms;
    }
    // Coalescing: a newer notice of the dossier arrived within the window: this one is not sent.
    if (rt->config->coalesce_window.count() > 0 && w.msg.record.attempts == 0) {
        Result<bool> newer = co_await queue_.dossier_has_newer(w.event->dossier_code, w.entry_id);
        if (newer && *newer) {
            auto& rec = w.msg.record;
            rec.state = state::kSuperseded;
            rec.last_error_reason = "coalesced";
            rec.last_error_detail = "a newer status of the dossier came within coalesce_window";
            rec.updated_at_ms = now_ms();
            metrics_.inc("tinbao_messages_total", {{"channel", rec.channel},
                                                   {"provider", ""},
                                                   {"outcome", "superseded"},
                                                   {"reason", "coalesced"}});
            spdlog::info("event {} dossier {} message {}: superseded by a newer status within "
                         "coalesce_window; not sent",
                         w.event->event_id, w.event->dossier_code, rec.id);
            c.messages.push_back(rec);
            c.done.push_back(rec.id);
            co_await commit(std::move(c));
            finished(key);
            co_return;
        }
        w.coalesce_checked = true;
    }
    // An older notice of the dossier that was put back meanwhile still goes first.
    Result<int64_t> waiting = co_await queue_.dossier_blocked_until(
        w.event->dossier_code, w.msg.record.created_at_ms, w.msg.record.id);
    int64_t blocked = waiting ? *waiting : -1;  // no answer: not held back
    if (blocked >= now_ms()) {
        w.msg.record.state = state::kQueued;
        c.schedule.push_back(queue::Job{due.job.message_id, due.job.payload, blocked + 1});
        co_await commit(std::move(c));
        finished(key);
        co_return;
    }
    ++stats_.jobs_run;
    co_await run_message(rt, w, c);
    co_await commit(std::move(c));
    finished(key);
}

asio::awaitable<int> Processor::replay(std::vector<std::string> ids, std::string reason) {
    auto jobs = co_await queue_.take_dead(ids, reason);
    if (!jobs) co_return -1;
    int n = 0;
    for (auto& job : *jobs) {
        boost::system::error_code ec;
        auto jv = json::parse(job.payload, ec);
        if (ec || !jv.is_object()) continue;
        auto& j = jv.as_object();
        // A fresh start: first provider, full attempt budget, give_up_after from now.
        j["provider"] = 0;
        j["provider_attempts"] = 0;
        j["epoch"] = now_ms();
        auto parsed = parse_event(j["event"].is_string() ? std::string(j["event"].as_string()) : "",
                                  [&](std::string_view s) { return canonical(s); });
        if (!parsed.event) continue;
        auto channel = channel_from_string(j["channel"].is_string() ? j["channel"].as_string() : "");
        if (!channel) continue;
        auto m = plan_message(*runtime_, *parsed.event,
                              j["entry"].is_string() ? std::string(j["entry"].as_string()) : "",
                              *channel);
        m.record.state = state::kQueued;
        queue::Commit c;
        c.event_id = parsed.event->event_id;
        c.dossier_code = parsed.event->dossier_code;
        c.status = parsed.event->status;
        c.messages.push_back(m.record);
        c.schedule.push_back(queue::Job{job.message_id, json::serialize(j), now_ms()});
        co_await commit(std::move(c));
        spdlog::info("message {} of event {}: replayed from the dead letters", job.message_id,
                     parsed.event->event_id);
        ++n;
    }
    stats_.replayed += static_cast<uint64_t>(n);
    co_return n;
}

}  // namespace tinbao
