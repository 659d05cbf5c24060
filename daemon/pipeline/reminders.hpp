// Reminders (config `reminders:`, docs/configuration.md): a later notice that an event schedules
// — the day before the appointment, a result not collected N days after result_ready, a
// supplement not provided — with its own template (templates/reminders/<rule>.yaml, rendered
// from the event that scheduled it) and its own ids, derived from the rule and the dossier
// (daemon/model/records.hpp), so a second copy of the event or a second instance schedules the
// same reminder, never another one.
//
// A reminder is a scheduled job of the queue like a retry: it survives a restart and another
// instance takes it over (take_due, leases). Its record is "queued" with `reminder` and
// `due_at` until it is sent; a later status of the dossier that makes it moot (the rule's
// cancel_on) supersedes it with reason `cancelled`, as `tinbaoctl reminders cancel` does.
// Its record is created when it comes due (created_at = due_at), so that until then it holds
// none of the dossier's notices back in the dossier's order.
//
// Due times: local time is Asia/Ho_Chi_Minh (UTC+7 all year, no daylight saving), and a due
// time inside the quiet hours of the reminder's channel moves to the end of the window.
//
// Pure: no I/O; the time is passed in. Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/planner.hpp"

namespace tinbao {

// The first instant at or after `t` (Unix ms) that is `minute` minutes after a local midnight.
int64_t at_local_minute(int64_t t, int minute);
// `t`, or the end of the quiet hours of `channel` that cover it.
int64_t outside_quiet_hours(const Config& cfg, Channel channel, int64_t t);

struct ReminderDue {
    std::optional<int64_t> due_ms;
    std::string why_not;  // when there is no due time: why (for the log)
};
// When the first reminder of `rule` is due, for an event handled at `now_ms` and a reminder
// going first by `channel`. None when the event has no readable dossier.appointment_at (a rule
// `before_appointment`), when that time is less than a minute away or past, or when it is
// further than queue.dedupe_ttl (the queue keeps a scheduled job that long).
ReminderDue first_reminder_due(const Config& cfg, const ReminderRule& rule,
                               const boost::json::value& event_json, Channel channel,
                               int64_t now_ms);
// When the occurrence after one due at `prev_due_ms` is due (`after` later, at `at`, outside
// quiet hours).
int64_t next_reminder_due(const Config& cfg, const ReminderRule& rule, Channel channel,
                          int64_t prev_due_ms);

// The first of the rule's channels the applicant has an address for.
std::optional<Channel> first_reminder_channel(const ReminderRule& rule, const Event& event);

// One occurrence of a reminder on one channel, rendered from the rule's template: a queued
// record with `reminder` and `due_at`, created at `due_ms`, updated `now_ms`.
PlannedMessage plan_reminder(const Runtime& rt, const ReminderRule& rule, const Event& event,
                             int occurrence, Channel channel, int64_t due_ms, int64_t now_ms);

}  // namespace tinbao
