// Reminders' due times (local time Asia/Ho_Chi_Minh, UTC+7 all year; quiet hours; the day before
// the appointment), their ids, and their saved job.
#include "daemon/pipeline/reminders.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/time.hpp"
#include "daemon/pipeline/job_codec.hpp"

namespace json = boost::json;
using namespace std::chrono_literals;

namespace tinbao {
namespace {

int64_t at(const char* rfc3339) {
    auto ms = parse_rfc3339_ms(rfc3339);
    EXPECT_TRUE(ms) << rfc3339;
    return ms.value_or(0);
}

json::value event_with_appointment(const char* appointment) {
    json::object dossier{{"code", "000.00.12.H62-261127-0001"}};
    if (appointment) dossier["appointment_at"] = appointment;
    return json::object{{"event_id", "e1"}, {"dossier", std::move(dossier)}};
}

class ReminderDueTimes : public ::testing::Test {
  protected:
    ReminderDueTimes() {
        // SMS quiet from 21:00 to 07:00 local time; email never quiet.
        cfg_.quiet_hours.push_back(QuietHours{{Channel::sms}, 21 * 60, 7 * 60, 1});
        day_before_.name = "appointment_tomorrow";
        day_before_.status = "received";
        day_before_.before_appointment = 1;
        day_before_.at_minute = 17 * 60;
        day_before_.channels = {Channel::sms};
        uncollected_.name = "result_uncollected";
        uncollected_.status = "result_ready";
        uncollected_.after = 72h;
        uncollected_.at_minute = 9 * 60;
        uncollected_.repeat = 2;
        uncollected_.channels = {Channel::sms};
    }
    Config cfg_;
    ReminderRule day_before_, uncollected_;
};

TEST_F(ReminderDueTimes, LocalTimeIsUtcPlusSevenAllYear) {
    // 17:00 local is 10:00 UTC in winter and in summer alike (no daylight saving).
    EXPECT_EQ(at_local_minute(at("2026-01-10T00:00:00Z"), 17 * 60), at("2026-01-10T10:00:00Z"));
    EXPECT_EQ(at_local_minute(at("2026-07-10T00:00:00Z"), 17 * 60), at("2026-07-10T10:00:00Z"));
    // At that very instant: itself; a minute later: the next day's.
    EXPECT_EQ(at_local_minute(at("2026-07-10T10:00:00Z"), 17 * 60), at("2026-07-10T10:00:00Z"));
    EXPECT_EQ(at_local_minute(at("2026-07-10T10:01:00Z"), 17 * 60), at("2026-07-11T10:00:00Z"));
    // 23:30 UTC is already the next local day (06:30): 08:00 local is an hour and a half away.
    EXPECT_EQ(at_local_minute(at("2026-07-10T23:30:00Z"), 8 * 60), at("2026-07-11T01:00:00Z"));
}

TEST_F(ReminderDueTimes, TheDayBeforeTheAppointmentAtTheConfiguredLocalTime) {
    const int64_t now = at("2026-11-27T03:00:00Z");
    auto due = first_reminder_due(
        cfg_, day_before_, event_with_appointment("2026-11-29T08:30:00+07:00"), Channel::sms, now);
    ASSERT_TRUE(due.due_ms) << due.why_not;
    EXPECT_EQ(*due.due_ms, at("2026-11-28T17:00:00+07:00"));
    // The appointment's local day counts, not its UTC day: 20:00 UTC on the 28th is 03:00 on
    // the 29th in Vietnam, so the reminder is on the 28th too.
    due = first_reminder_due(cfg_, day_before_, event_with_appointment("2026-11-28T20:00:00Z"),
                             Channel::sms, now);
    EXPECT_EQ(due.due_ms, at("2026-11-28T10:00:00Z"));
    // A date alone is that local day.
    due = first_reminder_due(cfg_, day_before_, event_with_appointment("2026-11-29"), Channel::sms,
                             now);
    EXPECT_EQ(due.due_ms, at("2026-11-28T10:00:00Z"));
}

TEST_F(ReminderDueTimes, QuietHoursMoveTheDueTimeToTheirEnd) {
    day_before_.at_minute = 22 * 60;  // inside 21:00-07:00
    const int64_t now = at("2026-11-27T03:00:00Z");
    auto ev = event_with_appointment("2026-11-29T14:00:00+07:00");
    auto due = first_reminder_due(cfg_, day_before_, ev, Channel::sms, now);
    EXPECT_EQ(due.due_ms, at("2026-11-29T07:00:00+07:00"));
    // A channel without quiet hours keeps the time.
    due = first_reminder_due(cfg_, day_before_, ev, Channel::email, now);
    EXPECT_EQ(due.due_ms, at("2026-11-28T22:00:00+07:00"));
    // Overlapping windows: out of both.
    cfg_.quiet_hours.push_back(QuietHours{{Channel::sms}, 6 * 60, 8 * 60, 2});
    due = first_reminder_due(cfg_, day_before_, ev, Channel::sms, now);
    EXPECT_EQ(due.due_ms, at("2026-11-29T08:00:00+07:00"));
}

TEST_F(ReminderDueTimes, NoDueTimeWithoutAnAppointmentOrWhenItHasPassed) {
    const int64_t now = at("2026-11-28T11:00:00Z");  // 18:00 local on the 28th
    auto due =
        first_reminder_due(cfg_, day_before_, event_with_appointment(nullptr), Channel::sms, now);
    EXPECT_FALSE(due.due_ms);
    EXPECT_NE(due.why_not.find("appointment_at"), std::string::npos);
    due = first_reminder_due(cfg_, day_before_, event_with_appointment("not a date"), Channel::sms,
                             now);
    EXPECT_FALSE(due.due_ms);
    // The appointment is tomorrow, but 17:00 today has passed.
    due = first_reminder_due(cfg_, day_before_, event_with_appointment("2026-11-29T08:00:00+07:00"),
                             Channel::sms, now);
    EXPECT_FALSE(due.due_ms);
    EXPECT_NE(due.why_not.find("passed"), std::string::npos);
    // Further ahead than the queue keeps a job (dedupe_ttl, 7 days).
    due = first_reminder_due(cfg_, day_before_, event_with_appointment("2026-12-20T08:00:00+07:00"),
                             Channel::sms, now);
    EXPECT_FALSE(due.due_ms);
    EXPECT_NE(due.why_not.find("dedupe_ttl"), std::string::npos);
}

TEST_F(ReminderDueTimes, AfterTheEventAtTheNextLocalTimeAndRepeated) {
    const int64_t now = at("2026-11-27T05:00:00Z");  // 12:00 local
    auto due =
        first_reminder_due(cfg_, uncollected_, event_with_appointment(nullptr), Channel::sms, now);
    // Three days later is 12:00 on the 30th; the next 09:00 is on December 1st.
    ASSERT_TRUE(due.due_ms) << due.why_not;
    EXPECT_EQ(*due.due_ms, at("2026-12-01T09:00:00+07:00"));
    EXPECT_EQ(next_reminder_due(cfg_, uncollected_, Channel::sms, *due.due_ms),
              at("2026-12-04T09:00:00+07:00"));
    // Without `at`: exactly `after` later, unless that falls in quiet hours.
    uncollected_.at_minute.reset();
    due =
        first_reminder_due(cfg_, uncollected_, event_with_appointment(nullptr), Channel::sms, now);
    EXPECT_EQ(due.due_ms, now + 3 * kDayMs);
    const int64_t late = at("2026-11-27T15:00:00Z");  // 22:00 local
    due =
        first_reminder_due(cfg_, uncollected_, event_with_appointment(nullptr), Channel::sms, late);
    EXPECT_EQ(due.due_ms, at("2026-12-01T07:00:00+07:00"));
}

TEST(ReminderIds, FromTheRuleAndTheDossierAlone) {
    auto a = reminder_message_id("result_uncollected", "D-1", 1, "sms");
    EXPECT_EQ(a, reminder_message_id("result_uncollected", "D-1", 1, "sms"));
    EXPECT_EQ(a.size(), 26u);
    EXPECT_EQ(a.front(), 'r');
    EXPECT_TRUE(is_reminder_id(a));
    EXPECT_FALSE(is_reminder_id(message_id("e1", "1-0", "sms")));
    EXPECT_NE(a, reminder_message_id("result_uncollected", "D-1", 2, "sms"));
    EXPECT_NE(a, reminder_message_id("result_uncollected", "D-1", 1, "zalo"));
    EXPECT_NE(a, reminder_message_id("result_uncollected", "D-2", 1, "sms"));
    EXPECT_NE(a, reminder_message_id("appointment_tomorrow", "D-1", 1, "sms"));
    EXPECT_NE(reminder_key("result_uncollected", "D-1"),
              reminder_key("appointment_tomorrow", "D-1"));
}

TEST(ReminderJobs, TheReminderSurvivesTheSavedJob) {
    SavedJob job;
    job.event = R"({"event_id":"e1"})";
    job.entry_id = "1-0";
    job.channel = Channel::sms;
    job.channels = {Channel::zalo, Channel::sms};
    job.reminder = "result_uncollected";
    job.occurrence = 2;
    job.reminder_due_ms = 1796000000000;
    auto back = decode_job(encode_job(job));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->reminder, "result_uncollected");
    EXPECT_EQ(back->occurrence, 2);
    EXPECT_EQ(back->reminder_due_ms, 1796000000000);
    // A job without one (an event's notice) reads as none.
    job.reminder.clear();
    back = decode_job(encode_job(job));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->reminder.empty());
    EXPECT_EQ(back->occurrence, 0);
}

}  // namespace
}  // namespace tinbao
