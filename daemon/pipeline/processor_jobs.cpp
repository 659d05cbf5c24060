// The Processor's due jobs (retries, deferred and replayed messages): opened, checked against
// coalescing and the dossier's order, and run; and the replay of dead letters (processor.hpp).
#include "daemon/pipeline/processor.hpp"

#include <spdlog/spdlog.h>

#include "common/log_fields.hpp"
#include "common/time.hpp"

namespace asio = boost::asio;

namespace tinbao {

std::optional<Work> Processor::open_job(const queue::DueJob& due, queue::Commit& c) {
    // Whatever is wrong with the job, it is dropped (done) rather than retried forever.
    c.done.push_back(due.job.message_id);
    auto job = decode_job(due.job.payload);
    if (!job) {
        spdlog::error("scheduled job {} is unreadable; dropped", due.job.message_id);
        return std::nullopt;
    }
    auto parsed = parse_event(job->event, [&](std::string_view s) { return canonical(s); });
    if (!parsed.event) {
        spdlog::error("scheduled job {}: its event no longer validates; dropped",
                      due.job.message_id);
        return std::nullopt;
    }
    Work w;
    w.event = std::make_shared<const Event>(std::move(*parsed.event));
    w.job = std::move(*job);
    c.event_id = w.job.reminder.empty() ? w.event->event_id
                                        : reminder_key(w.job.reminder, w.event->dossier_code);
    c.dossier_code = w.event->dossier_code;
    c.status = w.event->status;
    if (due.record && is_settled(due.record->state))
        return std::nullopt;  // settled meanwhile (a replay raced, a report)
    c.done.clear();
    return w;
}

asio::awaitable<bool> Processor::ready_to_run(const Runtime& rt, const queue::DueJob& due, Work& w,
                                              queue::Commit& c) {
    auto& rec = w.msg.record;
    // Coalescing: a newer notice of the dossier arrived within the window: this one is not sent.
    // A reminder is not an echo of its event: a newer status does not coalesce it (its
    // cancel_on does, in cancel_moot_reminders).
    if (!w.job.reminder.empty()) w.coalesce_checked = true;
    if (rt.config->coalesce_window.count() > 0 && rec.attempts == 0 && !w.coalesce_checked) {
        Result<bool> newer =
            co_await queue_.dossier_has_newer(w.event->dossier_code, w.job.entry_id);
        if (newer && *newer) {
            rec.state = state::kSuperseded;
            rec.last_error_reason = "coalesced";
            rec.last_error_detail = "a newer status of the dossier came within coalesce_window";
            rec.updated_at_ms = clock_.now_ms();
            metrics_.inc("tinbao_messages_total", {{"channel", rec.channel},
                                                   {"provider", ""},
                                                   {"outcome", "superseded"},
                                                   {"reason", "coalesced"}});
            LogFields f;
            f.event_id = rec.event_id;
            f.message_id = rec.id;
            f.dossier = rec.dossier_code;
            f.channel = rec.channel;
            f.reason = rec.last_error_reason;
            f.recipient(rec.to);
            log_with(f, spdlog::level::info,
                     "event {} dossier {} message {}: superseded by a newer status within "
                     "coalesce_window; not sent",
                     w.event->event_id, w.event->dossier_code, rec.id);
            c.messages.push_back(rec);
            c.done.push_back(rec.id);
            co_return false;
        }
        w.coalesce_checked = true;
    }
    // An older notice of the dossier that was put back meanwhile still goes first.
    Result<int64_t> waiting =
        co_await queue_.dossier_blocked_until(w.event->dossier_code, rec.created_at_ms, rec.id);
    const int64_t blocked = waiting ? *waiting : -1;  // no answer: not held back
    if (blocked >= clock_.now_ms()) {
        rec.state = state::kQueued;
        c.schedule.push_back(queue::Job{due.job.message_id, due.job.payload, blocked + 1});
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> Processor::run_job(queue::DueJob due) {
    InProgress in_progress(this, "job:" + due.job.message_id);
    auto rt = runtime_;
    queue::Commit c;
    std::optional<Work> w = open_job(due, c);
    std::optional<DossierLocks::Guard> turn;
    if (w) {
        auto got = co_await dossiers_.lock(w->event->dossier_code);
        turn.emplace(std::move(got));
        // Rendered again with the templates in force now; same id, so the provider sees one
        // message.
        w->msg = plan_for(*rt, *w, w->job.channel, clock_.now_ms());
        // Template-based providers send the form planned with the message; a provider that had
        // none then (added by a reload) gets the one planned now, kept from here on.
        for (auto& [name, form] : w->msg.provider_params)
            w->job.provider_params.emplace(name, form);
        w->msg.provider_params = w->job.provider_params;
        if (due.record) {
            w->msg.record.attempts = due.record->attempts;
            w->msg.record.created_at_ms = due.record->created_at_ms;
        }
        bool go = co_await ready_to_run(*rt, due, *w, c);
        if (go) {
            ++stats_.jobs_run;
            co_await run_message(rt, *w, c);
            schedule_next_occurrence(*rt, *w, c);
        }
    }
    co_await commit(c);
}

asio::awaitable<int> Processor::replay(std::vector<std::string> ids, std::string reason) {
    // Each dead letter stays one until the commit that schedules its job, which takes it out in
    // the same write: a crash in between leaves it to be replayed again (same message id).
    auto jobs = co_await queue_.dead_jobs(ids, reason);
    if (!jobs) co_return -1;
    int n = 0;
    for (auto& dead : *jobs) {
        auto job = decode_job(dead.payload);
        if (!job) continue;
        auto parsed = parse_event(job->event, [&](std::string_view s) { return canonical(s); });
        if (!parsed.event) continue;
        const int64_t now = clock_.now_ms();
        Work w;
        w.event = std::make_shared<const Event>(std::move(*parsed.event));
        w.job = restarted(std::move(*job), now);
        SavedJob& fresh = w.job;
        auto m = plan_for(*runtime_, w, fresh.channel, now);
        fresh.provider_params = m.provider_params;  // planned again, with the templates of now
        m.record.state = state::kQueued;
        if (!fresh.reminder.empty()) m.record.created_at_ms = now;  // due now
        queue::Commit c;
        c.event_id = fresh.reminder.empty() ? w.event->event_id
                                            : reminder_key(fresh.reminder, w.event->dossier_code);
        c.dossier_code = w.event->dossier_code;
        c.status = w.event->status;
        c.messages.push_back(m.record);
        c.schedule.push_back(queue::Job{dead.message_id, encode_job(fresh), now});
        co_await commit(c);
        LogFields f;
        f.event_id = w.event->event_id;
        f.message_id = dead.message_id;
        f.dossier = w.event->dossier_code;
        log_with(f, spdlog::level::info, "message {} of event {}: replayed from the dead letters",
                 dead.message_id, w.event->event_id);
        ++n;
    }
    stats_.replayed += static_cast<uint64_t>(n);
    co_return n;
}

}  // namespace tinbao
