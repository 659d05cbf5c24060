#include "daemon/pipeline/processor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log_fields.hpp"
#include "common/time.hpp"
#include "daemon/pipeline/client_callbacks.hpp"

namespace asio = boost::asio;

namespace tinbao {

namespace {

// What a message keeps of its event while it waits on its provider: the fields that route it
// and name it in records and logs. Not the document (the tree the templates render from, a few
// KB per event) nor its bytes (the queue entry has them): with thousands of messages in flight
// those were most of tinbaod's memory. They are parsed again from the entry in the rare case a
// message needs them again (a fallback to the next channel).
std::shared_ptr<const Event> routing_only(const Event& ev) {
    auto e = std::make_shared<Event>();
    e->event_id = ev.event_id;
    e->dossier_code = ev.dossier_code;
    e->status = ev.status;
    e->original_status = ev.original_status;
    e->phone = ev.phone;
    e->email = ev.email;
    e->zalo_user_id = ev.zalo_user_id;
    e->channels = ev.channels;
    e->agency_code = ev.agency_code;
    e->procedure_code = ev.procedure_code;
    return e;
}

// The saved job as text; a job of an entry being handled takes the event from the entry.
std::string job_text(Work& w, const queue::Commit& c) {
    if (w.job.event.empty() && c.ack) w.job.event = c.ack->payload;
    return encode_job(w.job);
}

// A new message's saved job: where it stands before its first attempt.
void start_job(Work& w, const queue::Entry& entry, const Plan& plan) {
    w.job.entry_id = entry.id;
    w.job.channel = w.msg.outbound.channel;
    w.job.mode = plan.mode;
    w.job.channels = plan.channels;
    w.job.epoch_ms = w.msg.record.created_at_ms;
    w.job.accepted_ms = entry.created_ms;
    w.job.provider_params = w.msg.provider_params;
}

}  // namespace

class Processor::InProgress {
  public:
    InProgress(Processor* p, std::string key) : p_(p), key_(std::move(key)) {
        p_->active_.insert(key_);
    }
    ~InProgress() { p_->finished(key_); }
    InProgress(const InProgress&) = delete;
    InProgress& operator=(const InProgress&) = delete;

  private:
    Processor* p_;
    std::string key_;
};

std::size_t Processor::active_limit(const Runtime& rt) {
    std::size_t in_flight = rt.in_flight_capacity();
    return std::clamp<std::size_t>(in_flight + in_flight / 4, 2048, 200000);
}

Processor::Processor(asio::io_context& io, queue::Queue& queue, std::shared_ptr<const Runtime> rt,
                     Clock& clock, Jitter jitter)
    : io_(io),
      queue_(queue),
      runtime_(std::move(rt)),
      clock_(clock),
      attempt_ctx_{io.get_executor(), clock, std::move(jitter), metrics_, stats_, &budgets_},
      dossiers_(io.get_executor()) {
    max_active_ = active_limit(*runtime_);
    queue_.set_coalescing(runtime_->config->coalesce_window.count() > 0);
}

void Processor::start() {
    if (running_) return;
    running_ = true;
    stopping_ = false;
    queue_.set_handoff({[this] { return handoff_room(); },
                        [this](std::vector<queue::Entry> e) { take(std::move(e)); }});
    asio::co_spawn(io_, consume(), asio::detached);
    asio::co_spawn(io_, schedule_loop(), asio::detached);
    asio::co_spawn(io_, heartbeat(), asio::detached);
}

void Processor::stop() {
    running_ = false;
    stopping_ = true;
    // An ingest in flight may still have taken entries: they stay this consumer's pending
    // ones, read again at the next start (or taken over after claim_idle).
    queue_.set_handoff({});
    if (room_) room_->cancel();
}

std::optional<std::string> Processor::canonical(std::string_view status) const {
    return runtime_->config->canonical_status(status);
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

std::size_t Processor::handoff_room() const {
    if (!running_ || !instances_known_ || active_.size() >= max_active_) return 0;
    return max_active_ - active_.size();
}

void Processor::take(std::vector<queue::Entry> entries) {
    for (auto& e : entries) {
        if (active_.count(e.id)) continue;  // already in progress here
        active_.insert(e.id);
        asio::co_spawn(io_, handle(std::move(e), schedule_seq_), asio::detached);
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
        // Before the first send too: a restart knows what its agencies spent this month.
        co_await refresh_budgets(*rt);
        if (!instances_known_) {
            instances_known_ = true;
            for (auto& p : rt->providers) p->limiter->set_instances(n);
            if (instances_ready_) instances_ready_->cancel();
        }
        if (n != instances_) {
            spdlog::info(
                "{} instance(s) share this queue: each takes 1/{} of every provider's "
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

asio::awaitable<void> Processor::refresh_budgets(const Runtime& rt) {
    const Config& cfg = *rt.config;
    if (std::none_of(cfg.agencies.begin(), cfg.agencies.end(),
                     [](const Agency& a) { return a.has_budget(); }))
        co_return;
    const std::string month = Budgets::month_of(clock_.now_ms());
    Result<std::vector<queue::Spend>> rows = co_await queue_.month_spend(month);
    if (!rows) co_return;  // the last figures stand
    budgets_.refresh(month, *rows);
    budget_crossings(cfg, month);
}

void Processor::budget_crossings(const Config& cfg, const std::string& month) {
    for (auto& x : budgets_.crossings(cfg, month)) {
        const Agency* a = cfg.agency(x.agency);
        if (!a) continue;
        const auto spent = budgets_.spent(month, x.agency);
        if (x.percent >= 100) {
            spdlog::warn(
                "agency {} ({}) has spent its monthly budget for {} ({} đồng of {}, {} segments "
                "of {}): its SMS are not sent until the budget is raised or the month ends",
                a->code, a->name, month, spent.dong, a->budget_dong, spent.segments,
                a->budget_segments);
        } else {
            metrics_.inc("tinbao_budget_warnings_total", {{"agency", a->code}});
            spdlog::warn(
                "agency {} ({}) has spent {:.0f} % of its monthly budget for {} ({} đồng of {}, "
                "{} segments of {})",
                a->code, a->name, x.used * 100, month, spent.dong, a->budget_dong, spent.segments,
                a->budget_segments);
        }
    }
}

asio::awaitable<void> Processor::back_off(std::chrono::milliseconds& delay) {
    co_await clock_.wait_for(io_.get_executor(), delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
}

asio::awaitable<void> Processor::commit(queue::Commit& c) {
    // Until the commit is written the stream entry stays pending and a job stays leased: after a
    // crash both come back, and the message id keeps providers from sending twice. The
    // call-backs the commit causes are written with it.
    callbacks::add_commit_notices(*runtime_->config, c);
    std::chrono::milliseconds delay(200);
    // A dossier may wait from now on, and entries taken at ingest are claimed again; not for a
    // reminder, which holds none of the dossier's notices back.
    if (std::any_of(c.schedule.begin(), c.schedule.end(),
                    [](const queue::Job& j) { return !is_reminder_id(j.message_id); }))
        ++schedule_seq_;
    for (;;) {
        Result<void> written = co_await queue_.commit(c);
        if (written) co_return;
        if (stopping_) {
            spdlog::warn("event {}: not recorded before shutdown; it resumes at the next start",
                         c.event_id);
            co_return;
        }
        co_await back_off(delay);
    }
}

asio::awaitable<Result<queue::Claim>> Processor::claim(const queue::Entry& entry, const Event& ev,
                                                       const std::vector<MessageRecord>& initial) {
    // The entry is in progress here and kept alive, so no one takes it over: ask again soon
    // rather than leave it to a takeover, which would wait for claim_idle.
    std::chrono::milliseconds delay(200);
    for (;;) {
        Result<queue::Claim> got = co_await queue_.claim(entry, ev, initial);
        if (got || got.error() != Errc::queue_unavailable || stopping_) co_return got;
        spdlog::warn("event {}: the queue did not answer its claim; asking again in {} ms",
                     ev.event_id, delay.count());
        co_await back_off(delay);
    }
}

asio::awaitable<void> Processor::run_message(std::shared_ptr<const Runtime> rt, Work& w,
                                             queue::Commit& c) {
    for (;;) {
        auto& rec = w.msg.record;
        if (rec.state != state::kSkipped) co_await attempt(attempt_ctx_, rt, w);
        if (rec.state == state::kQueued) {
            c.messages.push_back(rec);
            c.schedule.push_back(queue::Job{rec.id, job_text(w, c), w.due_ms});
            co_return;
        }
        if (!settle_message(*rt, w, c)) co_return;
    }
}

void Processor::add_spend(const Runtime& rt, const MessageRecord& rec, queue::Commit& c) {
    // A configured agency's spend of the month, whether or not it has a budget yet (one can be
    // given by a reload mid-month): the commit adds it in the queue, atomically with the record.
    const Config& cfg = *rt.config;
    const Agency* agency = cfg.agency(rec.agency);
    const int64_t segments = rec.channel == "sms" ? rec.segments : 0;
    if (!agency || (rec.cost_dong == 0 && segments == 0)) return;
    const std::string month = Budgets::month_of(rec.sent_at_ms ? rec.sent_at_ms : clock_.now_ms());
    c.spend.push_back(queue::Spend{month, agency->code, rec.cost_dong, segments});
    budgets_.add(month, agency->code, rec.cost_dong, segments);
    if (agency->has_budget()) budget_crossings(cfg, month);
}

bool Processor::settle_message(const Runtime& rt, Work& w, queue::Commit& c) {
    auto& rec = w.msg.record;
    // Each message is counted once, by what became of it.
    auto record = [&](std::string_view outcome) {
        metrics_.inc("tinbao_messages_total", {{"channel", rec.channel},
                                               {"provider", rec.provider},
                                               {"outcome", std::string(outcome)},
                                               {"reason", rec.last_error_reason}});
        metrics_.inc(
            "tinbao_agency_messages_total",
            {{"agency", rec.agency}, {"channel", rec.channel}, {"outcome", std::string(outcome)}});
        c.messages.push_back(rec);
    };
    if (rec.state == state::kSent || rec.state == state::kSkipped) {
        record(rec.state);
        if (rec.state == state::kSent) {
            c.done.push_back(rec.id);
            add_spend(rt, rec, c);
        }
        return false;
    }
    // Failed or expired. In fallback mode the next channel with a contact takes over, and the
    // message's record says superseded. A failure handed on counts as a fallback; an expiry
    // counts as one whatever comes next (the message's time ran out).
    std::optional<Channel> next;
    if (w.job.mode == Route::Mode::fallback) {
        auto it = std::find(w.job.channels.begin(), w.job.channels.end(), w.job.channel);
        if (it != w.job.channels.end()) ++it;
        while (it != w.job.channels.end() && !has_contact(*w.event, *it)) ++it;
        if (it != w.job.channels.end()) next = *it;
    }
    const bool expired = rec.state == state::kExpired;
    if (expired || !next) {
        ++stats_.messages_failed;
        if (expired) ++stats_.messages_expired;
    }
    if (!next) {
        record(rec.state);
        c.dead.push_back(queue::Job{rec.id, job_text(w, c), 0});
        return false;
    }
    rec.state = state::kSuperseded;
    record(expired ? state::kExpired : state::kSuperseded);
    LogFields f;
    f.event_id = rec.event_id;
    f.message_id = rec.id;
    f.dossier = rec.dossier_code;
    f.channel = rec.channel;
    f.provider = rec.provider;
    f.attempt = rec.attempts;
    f.reason = rec.last_error_reason;
    f.recipient(rec.to);
    log_with(f, spdlog::level::info, "event {} dossier {}: {} {} ({}); falling back to {}",
             w.event->event_id, w.event->dossier_code, rec.channel, expired ? "expired" : "failed",
             rec.last_error_reason, to_string(*next));
    metrics_.inc("tinbao_fallbacks_total",
                 {{"from", rec.channel}, {"to", std::string(to_string(*next))}});
    ++stats_.fallbacks;
    c.done.push_back(rec.id);
    if (w.event->json.is_null()) {
        // Rendering needs the event's document again (dropped while the message was sent).
        auto parsed = parse_event(c.ack ? std::string_view(c.ack->payload) : w.job.event,
                                  [&](std::string_view s) { return canonical(s); });
        if (parsed.event) w.event = std::make_shared<const Event>(std::move(*parsed.event));
    }
    w.msg = plan_for(rt, w, *next, clock_.now_ms());
    w.job.provider_params = w.msg.provider_params;
    w.job.channel = *next;
    w.job.provider_index = 0;
    w.job.provider_attempts = 0;
    w.job.epoch_ms = w.msg.record.created_at_ms;
    return true;
}

std::shared_ptr<const Event> Processor::read_event(const queue::Entry& entry,
                                                   std::string& why) const {
    auto parsed = parse_event(entry.payload, [&](std::string_view s) { return canonical(s); });
    if (parsed.event) return std::make_shared<const Event>(std::move(*parsed.event));
    auto& err = *parsed.error;
    why = err.code + ": " + err.message;
    if (!err.field.empty()) why += " (field " + err.field + ")";
    return nullptr;
}

asio::awaitable<Result<Processor::Claimed>> Processor::claim_planned(const queue::Entry& entry,
                                                                     uint64_t seq, const Event& ev,
                                                                     const Plan& plan) {
    Claimed out;
    out.started.assign(plan.messages.size(), false);
    // Claimed at ingest (none of its messages has a record yet), unless a job of this instance
    // was scheduled since: its dossier may wait now, which the claim tells.
    if (entry.claimed && seq == schedule_seq_) co_return out;
    std::vector<MessageRecord> initial;
    for (auto& m : plan.messages) initial.push_back(m.record);
    Result<queue::Claim> got = co_await claim(entry, ev, initial);
    if (!got) co_return got.error();
    // Settled before a restart, or already in the schedule: not attempted again from here.
    for (size_t i = 0; i < out.started.size() && i < got->existing.size(); ++i) {
        auto& existing = got->existing[i];
        out.started[i] = existing && (is_settled(existing->state) || existing->attempts > 0);
    }
    out.blocked_until_ms = got->blocked_until_ms;
    co_return out;
}

// A coroutine's locals live in its frame for as long as it runs, and this one runs while its
// messages wait on their providers: what is needed only to set the event up (its parse, the
// claim's records) is in the functions it calls, not here.
asio::awaitable<void> Processor::handle(queue::Entry entry, uint64_t seq) {
    InProgress in_progress(this, entry.id);
    auto rt = runtime_;
    std::string invalid;
    // Shared by the event's messages (each Work holds it), not copied.
    std::shared_ptr<const Event> event = read_event(entry, invalid);
    if (!event) {
        ++stats_.events_invalid;
        spdlog::warn("queue entry {}: not a valid event, moved aside: {}", entry.id, invalid);
        co_await queue_.reject(entry, invalid);
        co_return;
    }
    auto turn = co_await dossiers_.lock(event->dossier_code);
    auto plan = plan_event(*rt, *event, entry.id, clock_.now_ms());
    Result<Claimed> claimed = co_await claim_planned(entry, seq, *event, plan);
    // Planned: the messages keep only what their requests and records need (the reminders of
    // this status, if a rule has some, are planned from the document after them).
    const bool reminded =
        std::any_of(rt->config->reminders.begin(), rt->config->reminders.end(),
                    [&](const ReminderRule& r) { return r.status == event->status; });
    if (!reminded) event = routing_only(*event);
    const Event& ev = *event;
    if (!claimed && claimed.error() != Errc::duplicate) co_return;  // stopping: stays pending
    if (!claimed) {
        ++stats_.events_duplicate;
        spdlog::info("event {} dossier {}: duplicate copy (entry {}) ignored", ev.event_id,
                     ev.dossier_code, entry.id);
        co_await queue_.ack(entry);
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
    const size_t planned = plan.messages.size();
    for (size_t i = 0; i < planned; ++i) {
        if (claimed->started[i]) continue;
        Work w;
        w.event = event;
        w.msg = std::move(plan.messages[i]);
        // The plan's own copies are not kept while the last message is sent.
        if (i + 1 == planned) std::vector<PlannedMessage>().swap(plan.messages);
        // A later attempt parses the event again from the entry's own JSON (as stored: the NFC
        // form for HTTP, the sender's for the stream, which parsing normalises the same way);
        // the job takes it from the entry when it is saved (job_text).
        start_job(w, entry, plan);
        if (claimed->blocked_until_ms > 0) w.not_before_ms = claimed->blocked_until_ms + 1;
        co_await run_message(rt, w, c);
    }
    // Before the entry is acknowledged (with the commit below): after a crash the entry comes
    // back and the reminders are scheduled again, under the same ids.
    co_await cancel_moot_reminders(*rt, ev);
    co_await schedule_reminders(*rt, entry, event);
    co_await commit(c);
    ++stats_.events_processed;
}

}  // namespace tinbao
