// The period of a usage report: local dates include their whole day, date-times are exact, the
// default is the current month, and mistakes name their parameter.
#include "daemon/http/usage_api.hpp"

#include <gtest/gtest.h>

namespace tinbao::http {
namespace {

// 2026-12-04 10:00 local (03:00 UTC).
constexpr int64_t kNow = 1796353200000;
constexpr int64_t kHour = 3600 * 1000;

TEST(UsagePeriod, DatesDateTimesAndDefault) {
    std::string err, field;
    auto p = parse_period("2026-12-01", "2026-12-31", kNow, err, field);
    ASSERT_TRUE(p) << err;
    EXPECT_EQ(p->from_ms, 1796058000000);                  // 2026-12-01 00:00 local
    EXPECT_EQ(p->to_ms, 1796058000000 + 31 * 24 * kHour);  // 2027-01-01 00:00 local
    p = parse_period("2026-12-04T08:00:00+07:00", "2026-12-04T09:00:00Z", kNow, err, field);
    ASSERT_TRUE(p) << err;
    EXPECT_EQ(p->from_ms, kNow - 2 * kHour);
    EXPECT_EQ(p->to_ms, kNow + 6 * kHour);
    p = parse_period("", "", kNow, err, field);
    ASSERT_TRUE(p) << err;
    EXPECT_EQ(p->from_ms, 1796058000000);  // the first of the month
    EXPECT_EQ(p->to_ms, kNow);
}

TEST(UsagePeriod, MistakesNameTheirParameter) {
    std::string err, field;
    EXPECT_FALSE(parse_period("yesterday", "", kNow, err, field));
    EXPECT_EQ(field, "from");
    EXPECT_FALSE(parse_period("", "2026-13-01", kNow, err, field));
    EXPECT_EQ(field, "to");
    EXPECT_FALSE(parse_period("2026-12-05", "2026-12-04", kNow, err, field));
    EXPECT_EQ(field, "to");
    EXPECT_NE(err.find("ends before it starts"), std::string::npos);
}

}  // namespace
}  // namespace tinbao::http
