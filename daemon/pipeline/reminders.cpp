#include "daemon/pipeline/reminders.hpp"

#include "common/time.hpp"

namespace json = boost::json;

namespace tinbao {

namespace {

constexpr int64_t kMinuteMs = 60000;
// A reminder due sooner than this is not scheduled: it would race the event's own notice.
constexpr int64_t kLeadMs = kMinuteMs;

std::optional<int64_t> appointment_of(const json::value& ev) {
    auto* obj = ev.if_object();
    auto* dossier = obj ? obj->if_contains("dossier") : nullptr;
    auto* d = dossier ? dossier->if_object() : nullptr;
    auto* at = d ? d->if_contains("appointment_at") : nullptr;
    if (!at || !at->is_string()) return std::nullopt;
    return parse_rfc3339_ms(at->as_string(),
                            {.allow_date_only = true, .allow_space_separator = true});
}

}  // namespace

int64_t at_local_minute(int64_t t, int minute) {
    int64_t candidate = local_day_start_ms(t) + int64_t{minute} * kMinuteMs;
    return candidate < t ? candidate + kDayMs : candidate;
}

int64_t outside_quiet_hours(const Config& cfg, Channel channel, int64_t t) {
    // Windows may touch or overlap: step past each in turn (a day holds at most a few).
    for (std::size_t i = 0; i <= cfg.quiet_hours.size(); ++i) {
        auto until = quiet_until(cfg, channel, t);
        if (!until || *until <= t) break;
        t = *until;
    }
    return t;
}

ReminderDue first_reminder_due(const Config& cfg, const ReminderRule& rule,
                               const json::value& event_json, Channel channel, int64_t now_ms) {
    ReminderDue out;
    int64_t due = 0;
    if (rule.before_appointment > 0) {
        auto appointment = appointment_of(event_json);
        if (!appointment) {
            out.why_not = "the event has no dossier.appointment_at";
            return out;
        }
        int64_t day = local_day_start_ms(*appointment) - int64_t{rule.before_appointment} * kDayMs;
        due = day + int64_t{rule.at_minute.value_or(0)} * kMinuteMs;
    } else {
        due = now_ms + rule.after.count();
        if (rule.at_minute) due = at_local_minute(due, *rule.at_minute);
    }
    due = outside_quiet_hours(cfg, channel, due);
    if (due < now_ms + kLeadMs) {
        out.why_not = "its time (" + rfc3339_utc(due) + ") has passed";
        return out;
    }
    if (due - now_ms >= cfg.queue.dedupe_ttl.count()) {
        out.why_not = "its time (" + rfc3339_utc(due) +
                      ") is further ahead than queue.dedupe_ttl, as long as the queue keeps a job";
        return out;
    }
    out.due_ms = due;
    return out;
}

int64_t next_reminder_due(const Config& cfg, const ReminderRule& rule, Channel channel,
                          int64_t prev_due_ms) {
    int64_t due = prev_due_ms + rule.after.count();
    if (rule.at_minute) due = at_local_minute(due, *rule.at_minute);
    return outside_quiet_hours(cfg, channel, due);
}

std::optional<Channel> first_reminder_channel(const ReminderRule& rule, const Event& event) {
    for (auto c : rule.channels)
        if (has_contact(event, c)) return c;
    return std::nullopt;
}

PlannedMessage plan_reminder(const Runtime& rt, const ReminderRule& rule, const Event& event,
                             int occurrence, Channel channel, int64_t due_ms, int64_t now_ms) {
    const tpl::StatusTemplates* t =
        rt.reminder_templates ? rt.reminder_templates->find(rule.name) : nullptr;
    auto m = plan_with(
        rt, event,
        reminder_message_id(rule.name, event.dossier_code, occurrence, to_string(channel)), channel,
        now_ms, t, "reminder " + rule.name, false);
    m.record.reminder = rule.name;
    m.record.due_at_ms = due_ms;
    m.record.created_at_ms = due_ms;
    m.record.updated_at_ms = now_ms;
    return m;
}

}  // namespace tinbao
