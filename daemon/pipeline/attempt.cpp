#include "daemon/pipeline/attempt.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "common/log_fields.hpp"
#include "common/redact.hpp"
#include "common/time.hpp"
#include "providers/reasons.hpp"

namespace asio = boost::asio;

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
namespace {

// A failure of the provider's account rather than of the message (credentials refused): the
// next provider of the channel may well send it, and the provider counts as down.
bool account_level(std::string_view reason) { return reason == reason::kAuthFailed; }

// Busy, not unwell: these answers do not count against a provider's circuit.
bool busy(std::string_view reason) {
    return reason == reason::kThrottled || reason == reason::kQuotaExceeded;
}

class Attempt {
  public:
    Attempt(AttemptContext& ctx, const Runtime& rt, Work& w)
        : ctx_(ctx),
          cfg_(*rt.config),
          w_(w),
          rec_(w.msg.record),
          retry_(cfg_.retry, ctx.jitter),
          give_up_at_(retry_.give_up_at(w.job.epoch_ms)),
          providers_(rt.for_channel(w.msg.outbound.channel)),
          log_{rec_} {}

    // The attempt's one coroutine: it holds the Attempt, and `rt` for as long as it runs.
    static asio::awaitable<void> run(AttemptContext& ctx, std::shared_ptr<const Runtime> rt,
                                     Work& w);

  private:
    struct Choice {
        enum class Kind { send, wait_for_probe, all_open, none } kind = Kind::none;
        ProviderSlot* slot = nullptr;
        int index = 0;
        bool probe = false;  // the request is the half-open circuit's probe
        std::optional<ProviderText> text;
        Clock::Steady::time_point retry_at = Clock::Steady::time_point::max();
    };
    enum class Next { done, next_provider };

    bool failed_before_sending();
    bool past_give_up();
    bool held_back();
    Choice choose_provider();
    asio::awaitable<void> wait_for_probe(ProviderSlot& slot);
    void wait_for_circuits(Clock::Steady::time_point retry_at);
    // Sends through the chosen provider and acts on its answer: true when the message's pass
    // is over (sent, failed, expired or scheduled), false to choose a provider again.
    asio::awaitable<bool> send(Choice& c);
    Next on_answer(ProviderSlot& slot, const SendResult& result);
    void on_sent(const Provider& provider, const SendResult& result);
    void next_provider();
    void circuit_changed(ProviderSlot& slot, CircuitBreaker::State before,
                         const SendResult* answer);

    int64_t now() const { return ctx_.clock.now_ms(); }
    // A line about this message: its words in the text, its fields in JSON logs.
    template <class... Args>
    void say(spdlog::level::level_enum level, spdlog::format_string_t<Args...> format,
             Args&&... args) const {
        LogFields f;
        f.event_id = rec_.event_id;
        f.message_id = rec_.id;
        f.dossier = rec_.dossier_code;
        f.channel = rec_.channel;
        f.provider = rec_.provider;
        f.attempt = rec_.attempts;
        f.reason = rec_.last_error_reason;
        f.provider_message_id = rec_.provider_message_id;
        f.recipient(rec_.to);
        log_with(f, level, format, std::forward<Args>(args)...);
    }
    void settle(std::string_view st) {
        rec_.state = st;
        rec_.updated_at_ms = now();
    }
    void schedule(int64_t due) {
        w_.due_ms = due;
        settle(state::kQueued);
    }
    void defer(std::string_view why) {
        ctx_.metrics.inc("tinbao_messages_deferred_total",
                         {{"channel", rec_.channel}, {"why", std::string(why)}});
    }

    AttemptContext& ctx_;
    const Config& cfg_;
    Work& w_;
    MessageRecord& rec_;
    RetryPolicy retry_;
    const int64_t give_up_at_;
    std::vector<std::shared_ptr<ProviderSlot>> providers_;
    const MessageLogPrefix log_;  // formatted only when a line is logged
};

asio::awaitable<void> Attempt::run(AttemptContext& ctx, std::shared_ptr<const Runtime> rt,
                                   Work& w) {
    Attempt a(ctx, *rt, w);
    if (a.failed_before_sending() || a.past_give_up() || a.held_back()) co_return;
    while (w.job.provider_index < static_cast<int>(a.providers_.size())) {
        auto choice = a.choose_provider();
        if (choice.kind == Choice::Kind::none) break;
        if (choice.kind == Choice::Kind::all_open) {
            a.wait_for_circuits(choice.retry_at);
            co_return;
        }
        if (choice.kind == Choice::Kind::wait_for_probe) {
            co_await a.wait_for_probe(*choice.slot);
            continue;
        }
        // The answer is looked at in send(): this frame, which lives as long as the message is
        // worked on, does not hold it.
        const bool over = co_await a.send(choice);
        if (over) co_return;
    }
    a.settle(state::kFailed);  // no provider may send this text, or each used its attempts
}

bool Attempt::failed_before_sending() {
    if (!w_.msg.preflight_reason.empty()) {
        rec_.last_error_reason = w_.msg.preflight_reason;
        rec_.last_error_detail = w_.msg.preflight_detail;
        settle(state::kFailed);
        say(spdlog::level::warn, "{}: failed before sending: {}: {}", log_, rec_.last_error_reason,
            rec_.last_error_detail);
        return true;
    }
    if (w_.msg.outbound.channel == Channel::sms && ctx_.budgets) {
        const Agency* agency = cfg_.agency(rec_.agency);
        if (agency && ctx_.budgets->exhausted(*agency, Budgets::month_of(now()))) {
            // Not sent: in fallback mode the route's next channel takes over.
            rec_.last_error_reason = kBudgetExceededReason;
            rec_.last_error_detail = "the monthly budget of agency " + agency->code + " is spent";
            settle(state::kFailed);
            ctx_.metrics.inc("tinbao_budget_refused_total", {{"agency", agency->code}});
            say(spdlog::level::warn, "{}: not sent: {}", log_, rec_.last_error_detail);
            return true;
        }
    }
    if (providers_.empty()) {
        rec_.last_error_reason = reason::kNoProvider;
        rec_.last_error_detail = "no enabled provider for channel " + rec_.channel;
        settle(state::kFailed);
        return true;
    }
    return false;
}

bool Attempt::past_give_up() {
    if (now() <= give_up_at_) return false;
    settle(state::kExpired);
    say(spdlog::level::warn, "{}: expired after {} attempt(s)", log_, rec_.attempts);
    return true;
}

bool Attempt::held_back() {
    const int64_t coalesce = cfg_.coalesce_window.count();
    if (coalesce > 0 && rec_.attempts == 0 && !w_.coalesce_checked &&
        now() < rec_.created_at_ms + coalesce) {
        // A newer status of the dossier within the window replaces this one: wait and see.
        defer("coalesce");
        schedule(rec_.created_at_ms + coalesce);
        return true;
    }
    if (w_.not_before_ms > now()) {
        // An earlier notice of this dossier is still waiting: keep their order.
        defer("dossier_order");
        say(spdlog::level::info, "{}: waits behind an earlier notice of the dossier until {}", log_,
            rfc3339_utc(w_.not_before_ms));
        schedule(w_.not_before_ms);
        w_.not_before_ms = 0;
        return true;
    }
    auto until = quiet_until(cfg_, w_.msg.outbound.channel, now());
    if (!until) return false;
    if (*until > give_up_at_) {
        rec_.last_error_reason = kQuietHoursReason;
        rec_.last_error_detail = "quiet hours last past give_up_after";
        settle(state::kExpired);
        say(spdlog::level::warn, "{}: expired: quiet hours last past give_up_after", log_);
        return true;
    }
    ++ctx_.stats.deferred_quiet;
    defer("quiet_hours");
    say(spdlog::level::info, "{}: quiet hours; held until {}", log_, rfc3339_utc(*until));
    schedule(*until);
    return true;
}

Attempt::Choice Attempt::choose_provider() {
    // The first provider whose circuit lets a request through, from where the message is.
    Choice c;
    const auto now_steady = ctx_.clock.steady_now();
    ProviderSlot* probing = nullptr;
    bool open = false;
    for (int i = w_.job.provider_index; i < static_cast<int>(providers_.size()); ++i) {
        auto& slot = *providers_[i];
        // A provider whose brandname has no registered wording for this text is passed over:
        // the carrier would reject it (another provider's brandname may have it).
        auto text = for_provider(slot, w_.msg.outbound, w_.job.provider_params);
        if (!text.reason.empty()) {
            rec_.last_error_reason = text.reason;
            rec_.last_error_detail = text.detail;
            say(spdlog::level::warn, "{}: {}", log_, text.detail);
            continue;
        }
        const auto before = slot.breaker.current();
        const bool allowed = slot.breaker.allow(now_steady);
        circuit_changed(slot, before, nullptr);
        if (allowed) {
            c.kind = Choice::Kind::send;
            c.slot = &slot;
            c.index = i;
            c.probe = slot.breaker.probing();
            c.text = std::move(text);
            return c;
        }
        if (slot.breaker.probing()) {
            if (!probing) probing = &slot;
            continue;
        }
        open = true;
        c.retry_at = std::min(c.retry_at, slot.breaker.retry_at());
    }
    if (probing) {
        c.kind = Choice::Kind::wait_for_probe;
        c.slot = probing;
    } else if (open) {
        c.kind = Choice::Kind::all_open;
    }
    return c;
}

asio::awaitable<void> Attempt::wait_for_probe(ProviderSlot& slot) {
    // The probe's outcome decides for everyone: a closed circuit lets the message go, an open
    // one puts it back in the schedule until the next probe. The probe ends within its
    // provider's deadline; the bound only guards against a wake-up that never comes.
    auto turn = std::make_shared<asio::steady_timer>(
        ctx_.executor, slot.provider->settings().timeout + std::chrono::seconds(1));
    slot.probe_waiters.push_back(turn);
    co_await turn->async_wait(asio::as_tuple(asio::use_awaitable));
    std::erase(slot.probe_waiters, turn);
}

// Wakes the messages waiting for the slot's probe: called after each answer of the provider.
void probe_ended(ProviderSlot& slot) {
    for (auto& t : slot.probe_waiters) t->cancel();
    slot.probe_waiters.clear();
}

void Attempt::wait_for_circuits(Clock::Steady::time_point retry_at) {
    // An open circuit's next probe is always ahead: allow() turned a due one half-open.
    auto wait = std::max<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(retry_at - ctx_.clock.steady_now())
            .count(),
        1);
    rec_.last_error_reason = reason::kProviderUnavailable;
    rec_.last_error_detail = "every provider's circuit is open";
    const int64_t due = now() + wait;
    if (due > give_up_at_) {
        settle(state::kExpired);
        say(spdlog::level::warn, "{}: expired: every provider is down past give_up_after", log_);
        return;
    }
    say(spdlog::level::warn, "{}: every provider of the channel is down; next try in {} ms", log_,
        wait);
    schedule(due);
}

asio::awaitable<bool> Attempt::send(Choice& c) {
    if (c.index != w_.job.provider_index) {
        w_.job.provider_index = c.index;
        w_.job.provider_attempts = 0;
    }
    auto& slot = *c.slot;
    auto& provider = *slot.provider;
    co_await slot.limiter->acquire();
    if (!slot.breaker.still_allows(c.probe)) {
        // The circuit opened while the message waited for a connection slot: the provider is
        // not asked again before its probe.
        slot.limiter->release();
        co_return false;
    }
    auto& text = *c.text;
    if (text.message.channel == Channel::sms) {
        // The text as this provider sends it (each provider of a failover may rewrite it).
        rec_.body = text.message.text;
        rec_.segments = text.message.segments;
        rec_.encoding = text.message.unicode ? "ucs2" : "gsm7";
        // The agency's own sender at this provider, when it has one.
        if (const Agency* agency = cfg_.agency(rec_.agency)) {
            auto it = agency->sms_sender.find(provider.name());
            if (it != agency->sms_sender.end()) text.message.sender = it->second;
        }
    }
    rec_.provider = provider.name();
    const auto started = ctx_.clock.steady_now();
    auto result = co_await provider.send(text.message);
    slot.limiter->release();
    ctx_.metrics.observe("tinbao_provider_request_seconds", {{"provider", provider.name()}},
                         std::chrono::duration<double>(ctx_.clock.steady_now() - started).count());
    ctx_.metrics.inc("tinbao_provider_requests_total",
                     {{"provider", provider.name()},
                      {"result", result.ok                                   ? "ok"
                                 : result.failure == FailureClass::permanent ? "permanent"
                                                                             : "retryable"}});
    ++rec_.attempts;
    ++w_.job.provider_attempts;
    rec_.updated_at_ms = now();
    co_return on_answer(slot, result) == Next::done;
}

Attempt::Next Attempt::on_answer(ProviderSlot& slot, const SendResult& result) {
    const auto now_steady = ctx_.clock.steady_now();
    auto& provider = *slot.provider;
    const auto before = slot.breaker.current();
    if (result.ok) {
        slot.breaker.on_success(now_steady);
        circuit_changed(slot, before, &result);
        probe_ended(slot);
        on_sent(provider, result);
        return Next::done;
    }
    rec_.last_error_reason = result.reason;
    rec_.last_error_detail = result.detail;
    const bool account = account_level(result.reason);
    if (result.failure == FailureClass::permanent && !account) {
        slot.breaker.on_neutral(now_steady);  // the message's own fault, not the provider's
        circuit_changed(slot, before, &result);
        probe_ended(slot);
        settle(state::kFailed);
        say(spdlog::level::warn, "{}: failed permanently via {}: {}: {}", log_, provider.name(),
            result.reason, result.detail);
        return Next::done;
    }
    if (busy(result.reason))
        slot.breaker.on_success(now_steady);
    else
        slot.breaker.on_failure(now_steady);  // the provider is unwell or refuses the account
    circuit_changed(slot, before, &result);
    probe_ended(slot);
    if (account) {
        say(spdlog::level::warn, "{}: {} refused the account ({}: {}); next provider", log_,
            provider.name(), result.reason, result.detail);
        next_provider();
        return Next::next_provider;
    }
    auto decision = retry_.after_failure(result, w_.job.provider_attempts, now(), w_.job.epoch_ms);
    switch (decision.kind) {
        case RetryDecision::Kind::next_provider:
            say(spdlog::level::warn, "{}: {} attempt(s) via {} failed ({}: {}); next provider",
                log_, w_.job.provider_attempts, provider.name(), result.reason, result.detail);
            next_provider();
            return Next::next_provider;
        case RetryDecision::Kind::expire:
            settle(state::kExpired);
            say(spdlog::level::warn,
                "{}: expired: the next attempt would come after give_up_after ({}: {})", log_,
                result.reason, result.detail);
            return Next::done;
        case RetryDecision::Kind::retry:
            break;
    }
    ++ctx_.stats.retries;
    ctx_.metrics.inc("tinbao_retries_total",
                     {{"provider", provider.name()}, {"reason", result.reason}});
    say(spdlog::level::info, "{}: attempt {} via {} failed ({}: {}); next at {}", log_,
        rec_.attempts, provider.name(), result.reason, result.detail, rfc3339_utc(decision.due_ms));
    schedule(decision.due_ms);
    return Next::done;
}

void Attempt::on_sent(const Provider& provider, const SendResult& result) {
    rec_.provider_message_id = result.provider_message_id;
    rec_.sent_at_ms = now();
    rec_.event_at_ms = w_.job.accepted_ms > 0 ? w_.job.accepted_ms : rec_.created_at_ms;
    rec_.cost_dong =
        cfg_.cost_of(provider.name(), w_.msg.outbound.channel, rec_.telco, rec_.segments);
    if (rec_.cost_dong > 0)
        ctx_.metrics.inc("tinbao_agency_cost_dong_total",
                         {{"agency", rec_.agency}, {"channel", rec_.channel}},
                         static_cast<double>(rec_.cost_dong));
    if (!rec_.encoding.empty())
        ctx_.metrics.inc("tinbao_agency_sms_segments_total", {{"agency", rec_.agency}},
                         rec_.segments);
    rec_.last_error_reason.clear();
    rec_.last_error_detail.clear();
    settle(state::kSent);
    ++ctx_.stats.messages_sent;
    if (w_.job.accepted_ms > 0)
        ctx_.metrics.observe("tinbao_end_to_end_seconds", {{"channel", rec_.channel}},
                             static_cast<double>(now() - w_.job.accepted_ms) / 1000.0);
    if (!rec_.encoding.empty())
        ctx_.metrics.inc("tinbao_sms_segments_total", {{"encoding", rec_.encoding}}, rec_.segments);
    say(spdlog::level::info, "{}: sent via {} (attempt {}), provider's id {}", log_,
        provider.name(), rec_.attempts,
        rec_.provider_message_id.empty() ? "none" : rec_.provider_message_id);
}

// A change of the provider's circuit, logged and counted once: the call that makes it is the
// only one that sees the state before differ from the state after.
void Attempt::circuit_changed(ProviderSlot& slot, CircuitBreaker::State before,
                              const SendResult* answer) {
    using State = CircuitBreaker::State;
    const auto after = slot.breaker.current();
    if (after == before) return;
    const auto& name = slot.provider->name();
    ctx_.metrics.inc("tinbao_circuit_transitions_total",
                     {{"provider", name}, {"to", std::string(CircuitBreaker::to_string(after))}});
    auto cause = [&] {
        return answer ? fmt::format("{}: {}", answer->reason, answer->detail) : std::string();
    };
    const auto cooldown = std::chrono::duration_cast<std::chrono::milliseconds>(
                              slot.breaker.retry_at() - ctx_.clock.steady_now())
                              .count();
    LogFields f;
    f.provider = name;
    if (answer) f.reason = answer->reason;
    LogScope scope(f);  // for the one line below, written at once
    if (after == State::open && before == State::half_open) {
        spdlog::warn("circuit of {}: the probe failed ({}); open again, next probe in {} ms", name,
                     cause(), cooldown);
    } else if (after == State::open) {
        spdlog::warn(
            "circuit of {} opened (last failure {}); its messages go to the channel's "
            "next provider, first probe in {} ms",
            name, cause(), cooldown);
    } else if (after == State::half_open) {
        spdlog::info("circuit of {}: half open, one probe goes through", name);
    } else {
        spdlog::info("circuit of {} closed: the probe succeeded", name);
    }
}

void Attempt::next_provider() {
    ++w_.job.provider_index;
    w_.job.provider_attempts = 0;
}

}  // namespace

asio::awaitable<void> attempt(AttemptContext& ctx, std::shared_ptr<const Runtime> rt, Work& w) {
    // Not a coroutine itself: one frame less while the message waits on its provider.
    return Attempt::run(ctx, std::move(rt), w);
}

}  // namespace tinbao
