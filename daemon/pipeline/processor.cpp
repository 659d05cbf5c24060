#include "daemon/pipeline/processor.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <random>

#include "daemon/render/phone.hpp"
#include "daemon/render/sms_text.hpp"
#include "providers/reasons.hpp"
#include "providers/redact.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {

std::vector<std::shared_ptr<ProviderSlot>> Runtime::for_channel(Channel c) const {
    std::vector<std::shared_ptr<ProviderSlot>> out;
    for (auto& p : providers)
        if (p->provider->channel() == c && p->provider->settings().enabled) out.push_back(p);
    return out;
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

Processor::Processor(asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt)
    : io_(io), queue_(queue), runtime_(std::move(rt)) {}

void Processor::start() {
    if (running_) return;
    running_ = true;
    asio::co_spawn(io_, consume(), asio::detached);
    asio::co_spawn(io_, heartbeat(), asio::detached);
}

void Processor::stop() {
    running_ = false;
    if (room_) room_->cancel();
}

std::optional<std::string> Processor::canonical(std::string_view status) const {
    return runtime_->config->canonical_status(status);
}

asio::awaitable<void> Processor::consume() {
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
            asio::steady_timer t(io_, std::chrono::milliseconds(500));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            continue;
        }
        for (auto& e : *entries) {
            if (active_.count(e.id)) continue;  // already in progress here
            active_.insert(e.id);
            asio::co_spawn(io_, handle(std::move(e)), asio::detached);
        }
    }
}

asio::awaitable<void> Processor::heartbeat() {
    while (running_ || !active_.empty()) {
        auto period = runtime_->config->queue.claim_idle / 3;
        asio::steady_timer t(io_, period);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        std::vector<std::string> ids(active_.begin(), active_.end());
        if (!ids.empty()) co_await queue_.keep_alive(ids);
    }
}

asio::awaitable<void> Processor::deliver(std::shared_ptr<const Runtime> rt, PlannedMessage& m) {
    auto& rec = m.record;
    auto log_prefix = fmt::format("event {} dossier {} message {} ({} to {})", rec.event_id,
                                  rec.dossier_code, rec.id, rec.channel, mask_address(rec.to));
    auto finish = [&](std::string_view st) {
        rec.state = st;
        rec.updated_at_ms = now_ms();
    };
    if (!m.preflight_reason.empty()) {
        rec.last_error_reason = m.preflight_reason;
        rec.last_error_detail = m.preflight_detail;
        finish(state::kFailed);
        ++stats_.messages_failed;
        spdlog::warn("{}: failed before sending: {}: {}", log_prefix, rec.last_error_reason,
                     rec.last_error_detail);
        co_return;
    }
    auto& cfg = *rt->config;
    auto providers = rt->for_channel(m.outbound.channel);
    if (providers.empty()) {
        rec.last_error_reason = reason::kNoProvider;
        rec.last_error_detail = "no enabled provider for channel " + rec.channel;
        finish(state::kFailed);
        ++stats_.messages_failed;
        co_return;
    }
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto deadline_ms = rec.created_at_ms + cfg.retry.give_up_after.count();
    for (auto& slot : providers) {
        auto& provider = *slot->provider;
        for (int attempt = 1; attempt <= cfg.retry.max_attempts; ++attempt) {
            if (now_ms() > deadline_ms) {
                finish(state::kExpired);
                ++stats_.messages_failed;
                spdlog::warn("{}: expired after {} attempts", log_prefix, rec.attempts);
                co_return;
            }
            co_await slot->limiter->acquire();
            rec.provider = provider.name();
            rec.state = state::kSending;
            auto result = co_await provider.send(m.outbound);
            slot->limiter->release();
            ++rec.attempts;
            rec.updated_at_ms = now_ms();
            if (result.ok) {
                rec.provider_message_id = result.provider_message_id;
                rec.last_error_reason.clear();
                rec.last_error_detail.clear();
                finish(state::kSent);
                ++stats_.messages_sent;
                spdlog::info("{}: sent via {} (attempt {})", log_prefix, provider.name(),
                             rec.attempts);
                co_return;
            }
            rec.last_error_reason = result.reason;
            rec.last_error_detail = result.detail;
            if (result.failure == FailureClass::permanent) {
                finish(state::kFailed);
                ++stats_.messages_failed;
                spdlog::warn("{}: failed permanently via {}: {}: {}", log_prefix, provider.name(),
                             result.reason, result.detail);
                co_return;
            }
            if (attempt == cfg.retry.max_attempts) break;
            // Exponential backoff with full jitter, and never sooner than the provider asked.
            auto cap = std::min<int64_t>(cfg.retry.max_delay.count(),
                                         cfg.retry.initial_delay.count() << std::min(attempt - 1, 30));
            std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 1));
            int64_t delay = dist(rng);
            if (result.retry_after)
                delay = std::max<int64_t>(delay, result.retry_after->count() * 1000);
            if (now_ms() + delay > deadline_ms) {
                finish(state::kExpired);
                ++stats_.messages_failed;
                spdlog::warn("{}: expired: the next attempt would come after give_up_after",
                             log_prefix);
                co_return;
            }
            ++stats_.retries;
            spdlog::info("{}: attempt {} via {} failed ({}: {}); retrying in {} ms", log_prefix,
                         rec.attempts, provider.name(), result.reason, result.detail, delay);
            asio::steady_timer t(io_, std::chrono::milliseconds(delay));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        spdlog::warn("{}: {} attempts via {} failed; trying the next provider", log_prefix,
                     cfg.retry.max_attempts, provider.name());
    }
    finish(state::kFailed);
    ++stats_.messages_failed;
}

asio::awaitable<void> Processor::handle(queue::Entry entry) {
    active_.insert(entry.id);
    auto rt = runtime_;
    auto done = [&] {
        active_.erase(entry.id);
        if (room_) room_->cancel();
    };

    auto parsed = parse_event(entry.payload, [&](std::string_view s) { return canonical(s); });
    if (!parsed.event) {
        auto& err = *parsed.error;
        ++stats_.events_invalid;
        std::string reason = err.code + ": " + err.message;
        if (!err.field.empty()) reason += " (field " + err.field + ")";
        spdlog::warn("queue entry {}: not a valid event, moved aside: {}", entry.id, reason);
        co_await queue_.reject(entry, reason);
        done();
        co_return;
    }
    auto& ev = *parsed.event;
    auto plan = plan_event(*rt, ev, entry.id);
    std::vector<MessageRecord> initial;
    for (auto& m : plan.messages) initial.push_back(m.record);
    auto claim = co_await queue_.claim(entry, ev, initial);
    if (claim.kind == queue::Claim::Kind::unavailable) {
        done();  // stays pending; taken up again later
        co_return;
    }
    if (claim.kind == queue::Claim::Kind::duplicate) {
        ++stats_.events_duplicate;
        spdlog::info("event {} dossier {}: duplicate copy (entry {}) ignored", ev.event_id,
                     ev.dossier_code, entry.id);
        co_await queue_.ack(entry);
        done();
        co_return;
    }

    std::vector<MessageRecord> records;
    for (size_t i = 0; i < plan.messages.size(); ++i) {
        auto& m = plan.messages[i];
        auto& existing = claim.existing[i];
        if (existing && is_settled(existing->state)) {
            records.push_back(*existing);  // done before a restart: not sent again
            continue;
        }
        if (existing) {
            m.record.attempts = existing->attempts;
            m.record.created_at_ms = existing->created_at_ms;
        }
        if (m.record.state != state::kSkipped) co_await deliver(rt, m);
        // Fallback: a channel that failed hands over to the next one with a contact.
        if (plan.mode == Route::Mode::fallback &&
            (m.record.state == state::kFailed || m.record.state == state::kExpired)) {
            auto it = std::find(plan.channels.begin(), plan.channels.end(), m.outbound.channel);
            for (++it; it != plan.channels.end(); ++it) {
                if (!has_contact(ev, *it)) continue;
                m.record.state = state::kSuperseded;
                records.push_back(m.record);
                spdlog::info("event {} dossier {}: {} failed ({}); falling back to {}",
                             ev.event_id, ev.dossier_code, m.record.channel,
                             m.record.last_error_reason, to_string(*it));
                auto next = plan_message(*rt, ev, entry.id, *it);
                co_await deliver(rt, next);
                m = std::move(next);
                if (m.record.state != state::kFailed && m.record.state != state::kExpired) break;
            }
        }
        records.push_back(m.record);
    }

    EventRecord er;
    er.event_id = ev.event_id;
    er.dossier_code = ev.dossier_code;
    er.status = ev.status;
    er.state = std::string(event_state(records, !plan.routed));
    for (auto& r : records) er.message_ids.push_back(r.id);
    er.updated_at_ms = now_ms();
    if (!plan.routed)
        spdlog::info("event {} dossier {}: no route for status {}; skipped", ev.event_id,
                     ev.dossier_code, ev.status);

    // The entry is acknowledged only together with its records. Until that write succeeds the
    // entry stays pending (and is delivered again after a crash, deduplicated by message id).
    std::chrono::milliseconds backoff(200);
    while (!co_await queue_.record(entry, er, records, true)) {
        if (!running_) {
            spdlog::warn("event {}: records not written before shutdown; it will be resumed",
                         ev.event_id);
            break;
        }
        asio::steady_timer t(io_, backoff);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    ++stats_.events_processed;
    done();
}

}  // namespace tinbao
