// load_config: the `reminders:` section, each problem at its line and key.
#include <gtest/gtest.h>

#include "daemon/config/config.hpp"
#include "tests/unit/config/temp_dir.hpp"

namespace tinbao {
namespace {

using namespace std::chrono_literals;
using testing::dump;
using testing::TempDir;

// Lines 1-9; the reminders start at line 10.
const std::string kRemindersBase =
    "http:\n"
    "  clients:\n"
    "    - { name: igate, token: \"0123456789abcdef-token\" }\n"
    "providers:\n"
    "  - { name: out-sms, channel: sms, type: outbox }\n"
    "routes:\n"
    "  - { status: [received, result_ready], channels: [sms] }\n"
    "quiet_hours: [{ channels: [sms], from: \"21:00\", to: \"07:00\" }]\n"
    "reminders:\n";

class ReminderConfig : public ::testing::Test {
  protected:
    ConfigLoad load(const std::string& reminders) {
        auto l = load_config(tmp_.write("tinbao.yaml", kRemindersBase + reminders));
        for (auto& p : l.config->providers) p.view->finish();
        return l;
    }
    TempDir tmp_;
};

TEST_F(ReminderConfig, TheThreeKindsLoad) {
    auto l = load(
        "  - { name: appointment_tomorrow, status: received, before_appointment: 1,"
        " at: \"17:00\" }\n"
        "  - name: result_uncollected\n"
        "    status: result_ready\n"
        "    after: 3d\n"
        "    at: \"09:00\"\n"
        "    repeat: 2\n"
        "    cancel_on: [returned, cancelled]\n"
        "  - { name: supplement_pending, status: supplement_requested, after: 5d,"
        " channels: [sms], cancel_on: [received, processing] }\n");
    ASSERT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    auto& r = l.config->reminders;
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].name, "appointment_tomorrow");
    EXPECT_EQ(r[0].before_appointment, 1);
    EXPECT_EQ(r[0].at_minute, 17 * 60);
    EXPECT_EQ(r[0].channels, (std::vector<Channel>{Channel::sms}));  // its route's
    EXPECT_EQ(r[0].line, 10);
    // By default the final statuses make it moot.
    EXPECT_TRUE(r[0].cancelled_by("returned"));
    EXPECT_TRUE(r[0].cancelled_by("rejected"));
    EXPECT_FALSE(r[0].cancelled_by("processing"));
    EXPECT_EQ(r[1].after, 72h);
    EXPECT_EQ(r[1].repeat, 2);
    EXPECT_TRUE(r[1].cancelled_by("cancelled"));
    EXPECT_FALSE(r[1].cancelled_by("rejected"));
    EXPECT_EQ(r[2].status, "supplement_requested");
    EXPECT_FALSE(r[2].at_minute);
    EXPECT_EQ(l.config->reminder("result_uncollected"), &r[1]);
    EXPECT_EQ(l.config->reminder("nope"), nullptr);
}

TEST_F(ReminderConfig, EachProblemNamesTheKeyAndLine) {
    auto l = load(
        "  - { name: Bad-Name, status: received, after: 1d }\n"  // 10
        "  - { name: twice, status: nope, after: 1d }\n"         // 11
        "  - { name: twice, status: received, after: 1d, before_appointment: 1,"
        " at: \"08:00\" }\n"                                                // 12
        "  - { name: no_time, status: received, before_appointment: 1 }\n"  // 13
        "  - { name: at_bad, status: received, after: 1d, at: \"7h\" }\n"   // 14
        "  - { name: repeat_before, status: received, before_appointment: 1,"
        " at: \"08:00\", repeat: 2 }\n"                                             // 15
        "  - { name: too_long, status: received, after: 8d }\n"                     // 16
        "  - { name: no_route, status: overdue, after: 1d }\n"                      // 17
        "  - { name: unserved, status: received, after: 1d, channels: [email] }\n"  // 18
        "  - { name: self, status: received, after: 1d, cancel_on: [received] }\n"  // 19
        "  - { name: extra, status: received, after: 1d, every: 1d }\n");           // 20
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 12u) << dump(*l.diagnostics);
    auto has = [&](int line, const std::string& path, const std::string& words) {
        for (auto& d : items)
            if (d.line == line && d.path == path && d.message.find(words) != std::string::npos)
                return true;
        ADD_FAILURE() << "no diagnostic at line " << line << " " << path << " with '" << words
                      << "' in\n"
                      << dump(*l.diagnostics);
        return false;
    };
    has(10, "reminders[0].name", "a-z, 0-9 and '_'");
    has(11, "reminders[1].status", "unknown status 'nope'");
    has(12, "reminders[2].name", "defined twice");
    has(12, "reminders[2].after", "one of the two");
    has(13, "reminders[3].before_appointment", "needs 'at'");
    has(14, "reminders[4].at", "HH:MM");
    has(15, "reminders[5].repeat", "needs 'after'");
    has(16, "reminders[6].after", "shorter than queue.dedupe_ttl (7d)");
    has(17, "reminders[7].channels", "has no route");
    has(18, "reminders[8].channels", "no enabled provider serves channel 'email'");
    has(19, "reminders[9].cancel_on", "the status that schedules");
    has(20, "reminders[10].every", "");
}

}  // namespace
}  // namespace tinbao
