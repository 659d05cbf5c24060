// Tests of common/time: Asia/Ho_Chi_Minh local time, RFC 3339 in and out.
#include "common/time.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace tinbao {
namespace {

// 2026-11-27T01:15:00Z = 08:15 in Vietnam.
constexpr int64_t kMorning = 1795742100000;

TEST(LocalTime, OffsetIsSevenHours) {
    EXPECT_EQ(kLocalUtcOffsetMinutes, 420);
    EXPECT_EQ(kLocalUtcOffsetMs, 7 * 3600 * 1000);
}

TEST(LocalTime, DayStartAndMinute) {
    // Local midnight of 2026-11-27 is 2026-11-26T17:00:00Z.
    EXPECT_EQ(local_day_start_ms(kMorning), kMorning - (8 * 60 + 15) * 60000LL);
    EXPECT_EQ(rfc3339_utc(local_day_start_ms(kMorning)), "2026-11-26T17:00:00.000Z");
    EXPECT_EQ(local_minute_of_day(kMorning), 8 * 60 + 15);
    // 23:30 UTC is already 06:30 the next local day.
    const int64_t late = *parse_rfc3339_ms("2026-11-27T23:30:00Z");
    EXPECT_EQ(local_minute_of_day(late), 6 * 60 + 30);
    EXPECT_EQ(rfc3339_utc(local_day_start_ms(late)), "2026-11-27T17:00:00.000Z");
    // Before 1970 the day still starts at local midnight (floor, not truncation).
    const int64_t old = *parse_rfc3339_ms("1969-12-31T20:00:00+07:00");
    EXPECT_EQ(rfc3339_utc(local_day_start_ms(old)), "1969-12-30T17:00:00.000Z");
}

TEST(LocalTime, BrokenDown) {
    std::tm tm = local_tm(kMorning / 1000);
    EXPECT_EQ(tm.tm_year, 126);
    EXPECT_EQ(tm.tm_mon, 10);
    EXPECT_EQ(tm.tm_mday, 27);
    EXPECT_EQ(tm.tm_hour, 8);
    EXPECT_EQ(tm.tm_min, 15);
    EXPECT_EQ(tm.tm_wday, 5);  // a Friday
}

TEST(Rfc3339, Format) {
    EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339_utc(kMorning + 7), "2026-11-27T01:15:00.007Z");
    EXPECT_EQ(rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Rfc3339, ParseOffsetsAndFractions) {
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T08:15:00+07:00"), kMorning);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T01:15:00Z"), kMorning);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27t01:15:00z"), kMorning);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-26T23:45:00-01:30"), kMorning);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T01:15:00.25Z"), kMorning + 250);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T01:15:00.123456789Z"), kMorning + 123);
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27T01:14:60Z"), kMorning - 1000);  // leap second
    EXPECT_EQ(parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1709164800000);
}

TEST(Rfc3339, ParseRejects) {
    for (const char* bad :
         {"", "2026-11-27", "2026-11-27T08:15:00", "2026-11-27 08:15:00Z", "2026-13-01T00:00:00Z",
          "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-27T24:00:00Z",
          "2026-11-27T08:60:00Z", "2026-11-27T08:15:00.Z", "2026-11-27T08:15:00+7:00",
          "2026-11-27T08:15:00+07:00x", "2026-11-27T08:15:00+24:00", "2026-11-27T08:15Z",
          "26-11-27T08:15:00Z", "2026-11-27T08:15:00 Z"})
        EXPECT_FALSE(parse_rfc3339_ms(bad)) << bad;
}

TEST(Rfc3339, LenientOptions) {
    Rfc3339Options lenient{.allow_date_only = true, .allow_space_separator = true};
    // A bare date is local midnight.
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27", lenient),
              *parse_rfc3339_ms("2026-11-27T00:00:00+07:00"));
    EXPECT_EQ(parse_rfc3339_ms("2026-11-27 01:15:00Z", lenient), kMorning);
    EXPECT_FALSE(parse_rfc3339_ms("2026-11-27 01:15:00", lenient));
}

TEST(Clock, NowMsIsUnixMilliseconds) {
    // After 2020-01-01 and before 2100-01-01: milliseconds, not seconds or microseconds.
    EXPECT_GT(now_ms(), 1577836800000);
    EXPECT_LT(now_ms(), 4102444800000);
}

TEST(Saturating, SecondsFromOutsideDoNotOverflow) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    EXPECT_EQ(seconds_to_ms_saturated(7), 7000);
    EXPECT_EQ(seconds_to_ms_saturated(-7), -7000);
    EXPECT_EQ(seconds_to_ms_saturated(kMax / 1000 + 1), kMax);
    EXPECT_EQ(seconds_to_ms_saturated(kMax), kMax);
    EXPECT_EQ(seconds_to_ms_saturated(kMin), kMin);
    EXPECT_EQ(add_saturated(1, 2), 3);
    EXPECT_EQ(add_saturated(kMax - 1, 5), kMax);
    EXPECT_EQ(add_saturated(kMin + 1, -5), kMin);
}

}  // namespace
}  // namespace tinbao
