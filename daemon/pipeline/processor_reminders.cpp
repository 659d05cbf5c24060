// The Processor's reminders: those an event schedules and those it makes moot, a reminder's
// next occurrence, and the operator's cancelling of pending ones (processor.hpp).
#include "daemon/pipeline/processor.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "common/log_fields.hpp"
#include "common/time.hpp"
#include "providers/reasons.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {

asio::awaitable<void> Processor::schedule_reminders(const Runtime& rt, const queue::Entry& entry,
                                                    const std::shared_ptr<const Event>& event) {
    const Event& ev = *event;
    for (auto& rule : rt.config->reminders) {
        if (rule.status != ev.status) continue;
        LogFields f;
        f.event_id = ev.event_id;
        f.dossier = ev.dossier_code;
        auto channel = first_reminder_channel(rule, ev);
        if (!channel) {
            log_with(f, spdlog::level::info,
                     "event {} dossier {}: no reminder {}: the applicant has no address for its "
                     "channels",
                     ev.event_id, ev.dossier_code, rule.name);
            continue;
        }
        const int64_t now = clock_.now_ms();
        auto due = first_reminder_due(*rt.config, rule, ev.json, *channel, now);
        if (!due.due_ms) {
            log_with(f, spdlog::level::info, "event {} dossier {}: no reminder {}: {}", ev.event_id,
                     ev.dossier_code, rule.name, due.why_not);
            continue;
        }
        auto m = plan_reminder(rt, rule, ev, 1, *channel, *due.due_ms, now);
        f.message_id = m.record.id;
        // Scheduled once: an earlier copy of the event (another event id, a redelivery, another
        // instance) may have done it, or the reminder may even have gone already.
        Result<json::value> stored = co_await queue_.message_record(m.record.id);
        if (!stored && stored.error() != Errc::not_found) {
            log_with(f, spdlog::level::warn,
                     "event {} dossier {}: reminder {} not scheduled: the queue did not answer",
                     ev.event_id, ev.dossier_code, rule.name);
            continue;
        }
        // Its record and its job are written together: a record means the job was scheduled
        // (and may be running, or have run). Writing either again could send it twice.
        if (stored) continue;
        SavedJob job;
        job.event = entry.payload;
        job.entry_id = entry.id;
        job.channel = *channel;
        job.channels = rule.channels;
        job.epoch_ms = job.accepted_ms = *due.due_ms;  // give_up_after counts from the due time
        job.reminder = rule.name;
        job.occurrence = 1;
        job.reminder_due_ms = *due.due_ms;
        queue::Commit c;
        c.event_id = reminder_key(rule.name, ev.dossier_code);
        c.dossier_code = ev.dossier_code;
        c.status = ev.status;
        c.messages.push_back(m.record);
        c.schedule.push_back(queue::Job{m.record.id, encode_job(job), *due.due_ms});
        co_await commit(c);
        metrics_.inc("tinbao_reminders_total", {{"rule", rule.name}, {"outcome", "scheduled"}});
        f.channel = m.record.channel;
        log_with(f, spdlog::level::info, "event {} dossier {}: reminder {} scheduled for {} ({})",
                 ev.event_id, ev.dossier_code, rule.name, rfc3339_utc(*due.due_ms), m.record.id);
    }
}

asio::awaitable<void> Processor::cancel_moot_reminders(const Runtime& rt, const Event& ev) {
    std::vector<const ReminderRule*> moot;
    for (auto& rule : rt.config->reminders)
        if (rule.status != ev.status && rule.cancelled_by(ev.status)) moot.push_back(&rule);
    if (moot.empty()) co_return;
    // The dossier's newest records first: a pending reminder was created for its due time, in
    // the future, so it is among them.
    Result<json::value> listed = co_await queue_.dossier_messages(ev.dossier_code);
    if (!listed) {
        spdlog::warn(
            "event {} dossier {}: the queue did not answer; its pending reminders are checked "
            "again when they come due",
            ev.event_id, ev.dossier_code);
        co_return;
    }
    auto* msgs = listed->as_object().if_contains("messages");
    if (!msgs || !msgs->is_array()) co_return;
    for (auto& v : msgs->as_array()) {
        auto rec = MessageRecord::from_json(json::serialize(v));
        if (!rec || rec->reminder.empty() || is_settled(rec->state)) continue;
        bool cancelled = std::any_of(moot.begin(), moot.end(), [&](const ReminderRule* r) {
            return r->name == rec->reminder;
        });
        if (!cancelled) continue;
        co_await cancel_reminder(std::move(*rec), "the dossier's status " + ev.status + " (event " +
                                                      ev.event_id + ") came first");
    }
}

asio::awaitable<void> Processor::cancel_reminder(MessageRecord rec, const std::string& detail) {
    const std::string rule = rec.reminder;
    rec.state = state::kSuperseded;
    rec.last_error_reason = "cancelled";
    rec.last_error_detail = detail;
    rec.updated_at_ms = clock_.now_ms();
    queue::Commit c;
    c.event_id = reminder_key(rec.reminder, rec.dossier_code);
    c.dossier_code = rec.dossier_code;
    c.status = "reminder";
    c.done.push_back(rec.id);
    c.messages.push_back(rec);
    LogFields f;
    f.event_id = rec.event_id;
    f.message_id = rec.id;
    f.dossier = rec.dossier_code;
    f.channel = rec.channel;
    f.reason = rec.last_error_reason;
    log_with(f, spdlog::level::info, "dossier {}: reminder {} ({}) cancelled: {}", rec.dossier_code,
             rule, rec.id, detail);
    co_await commit(c);
    metrics_.inc("tinbao_reminders_total", {{"rule", rule}, {"outcome", "cancelled"}});
}

asio::awaitable<std::optional<std::vector<std::string>>> Processor::cancel_reminders(
    std::vector<std::string> ids, std::string why) {
    std::vector<std::string> cancelled;
    for (auto& id : ids) {
        if (!is_reminder_id(id)) continue;
        Result<json::value> stored = co_await queue_.message_record(id);
        if (!stored && stored.error() == Errc::not_found) continue;
        if (!stored) co_return std::nullopt;
        auto rec = MessageRecord::from_json(json::serialize(*stored));
        if (!rec || rec->reminder.empty() || is_settled(rec->state)) continue;
        auto turn = co_await dossiers_.lock(rec->dossier_code);
        co_await cancel_reminder(std::move(*rec), why);
        cancelled.push_back(id);
    }
    co_return cancelled;
}

PlannedMessage Processor::plan_for(const Runtime& rt, const Work& w, Channel channel,
                                   int64_t now) const {
    if (w.job.reminder.empty()) return plan_message(rt, *w.event, w.job.entry_id, channel, now);
    const ReminderRule* rule = rt.config->reminder(w.job.reminder);
    if (!rule) {
        // The rule left the config by a reload: the message cannot be rendered any more.
        PlannedMessage m;
        m.record.id = reminder_message_id(w.job.reminder, w.event->dossier_code, w.job.occurrence,
                                          to_string(channel));
        m.record.event_id = w.event->event_id;
        m.record.dossier_code = w.event->dossier_code;
        m.record.channel = std::string(to_string(channel));
        m.record.reminder = w.job.reminder;
        m.record.due_at_ms = w.job.reminder_due_ms;
        m.record.created_at_ms = w.job.reminder_due_ms;
        m.record.updated_at_ms = now;
        m.outbound.id = m.record.id;
        m.outbound.channel = channel;
        m.preflight_reason = reason::kTemplateError;
        m.preflight_detail = "reminder " + w.job.reminder + " is no longer in the config";
        return m;
    }
    return plan_reminder(rt, *rule, *w.event, w.job.occurrence, channel, w.job.reminder_due_ms,
                         now);
}

void Processor::schedule_next_occurrence(const Runtime& rt, const Work& w, queue::Commit& c) {
    if (w.job.reminder.empty() || !is_settled(w.msg.record.state)) return;
    const ReminderRule* rule = rt.config->reminder(w.job.reminder);
    if (!rule || w.job.occurrence >= rule->repeat) return;
    auto channel = first_reminder_channel(*rule, *w.event);
    if (!channel) return;
    const int64_t due = next_reminder_due(*rt.config, *rule, *channel, w.job.reminder_due_ms);
    auto m =
        plan_reminder(rt, *rule, *w.event, w.job.occurrence + 1, *channel, due, clock_.now_ms());
    SavedJob job = w.job;
    job.channel = *channel;
    job.channels = rule->channels;
    job.provider_index = 0;
    job.provider_attempts = 0;
    job.epoch_ms = job.accepted_ms = due;
    job.provider_params.clear();
    job.occurrence = w.job.occurrence + 1;
    job.reminder_due_ms = due;
    c.messages.push_back(m.record);
    c.schedule.push_back(queue::Job{m.record.id, encode_job(job), due});
    LogFields f;
    f.event_id = w.event->event_id;
    f.message_id = m.record.id;
    f.dossier = w.event->dossier_code;
    log_with(f, spdlog::level::info, "dossier {}: reminder {} ({} of {}) scheduled for {} ({})",
             w.event->dossier_code, rule->name, job.occurrence, rule->repeat, rfc3339_utc(due),
             m.record.id);
}

}  // namespace tinbao
