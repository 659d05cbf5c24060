// Usage reports: grouping, the counts by state, medians, cost, and the CSV and JSON forms.
#include "daemon/model/usage_report.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace tinbao::usage {
namespace {

// 2026-12-04 10:00 local (03:00 UTC).
constexpr int64_t kDay = 1796353200000;

MessageRecord rec(std::string agency, std::string channel, std::string state, int segments,
                  int64_t cost, int64_t accept_ms = 0, int64_t deliver_ms = 0) {
    MessageRecord r;
    r.id = "m" + std::to_string(kDay);
    r.agency = std::move(agency);
    r.procedure = "1.001612";
    r.channel = std::move(channel);
    r.provider = r.channel == "sms" ? "esms" : "zns";
    r.telco = r.channel == "sms" ? "viettel" : "";
    r.state = std::move(state);
    r.segments = segments;
    r.cost_dong = cost;
    r.created_at_ms = kDay;
    r.event_at_ms = kDay;
    if (accept_ms) r.sent_at_ms = kDay + accept_ms;
    if (deliver_ms) r.delivered_at_ms = kDay + deliver_ms;
    return r;
}

TEST(UsageKeys, ParsesAndRefuses) {
    std::string err;
    auto k = parse_keys("agency,channel,month", err);
    ASSERT_TRUE(k);
    EXPECT_EQ(*k, (std::vector<Key>{Key::agency, Key::channel, Key::month}));
    EXPECT_TRUE(parse_keys("", err)->empty());
    EXPECT_FALSE(parse_keys("agency,agency", err));
    EXPECT_NE(err.find("twice"), std::string::npos);
    EXPECT_FALSE(parse_keys("day,month", err));
    EXPECT_FALSE(parse_keys("agnecy", err));
    EXPECT_NE(err.find("unknown grouping 'agnecy'"), std::string::npos);
}

TEST(UsageMedian, OddEvenAndEmpty) {
    std::vector<int64_t> none;
    EXPECT_FALSE(median(none));
    std::vector<int64_t> odd{9, 1, 5};
    EXPECT_EQ(*median(odd), 5);
    std::vector<int64_t> even{4000, 1000, 3000, 2000};
    EXPECT_EQ(*median(even), 2500);  // the mean of the middle two
    std::vector<int64_t> one{7};
    EXPECT_EQ(*median(one), 7);
}

TEST(UsageReport, GroupsCountsAndCosts) {
    std::vector<MessageRecord> records = {
        rec("A", "sms", "delivered", 2, 1600, 1000, 5000),
        rec("A", "sms", "sent", 1, 800, 3000),
        rec("A", "sms", "failed", 1, 0),
        rec("A", "sms", "superseded", 1, 0),  // failed, handed to the next channel
        rec("A", "zalo", "sent", 0, 300, 2000),
        rec("B", "sms", "delivered", 3, 2400, 2000, 9000),
        rec("B", "email", "skipped", 0, 0),
    };
    records[3].last_error_reason = "budget_exceeded";
    auto rep = build(records, {Key::agency, Key::channel});
    ASSERT_EQ(rep.rows.size(), 4u);
    const Row& a_sms = rep.rows[0];
    EXPECT_EQ(a_sms.key, (std::vector<std::string>{"A", "sms"}));
    EXPECT_EQ(a_sms.messages, 4);
    EXPECT_EQ(a_sms.sent, 2);
    EXPECT_EQ(a_sms.delivered, 1);
    EXPECT_EQ(a_sms.failed, 2);
    EXPECT_EQ(a_sms.segments, 3);  // accepted messages only
    EXPECT_EQ(a_sms.cost_dong, 2400);
    EXPECT_DOUBLE_EQ(*a_sms.delivered_rate(), 0.5);
    EXPECT_EQ(rep.rows[1].key, (std::vector<std::string>{"A", "zalo"}));
    EXPECT_EQ(rep.rows[2].key, (std::vector<std::string>{"B", "email"}));
    EXPECT_EQ(rep.rows[2].failed, 0);  // skipped: no address
    EXPECT_FALSE(rep.rows[2].delivered_rate());
    EXPECT_EQ(rep.total.messages, 7);
    EXPECT_EQ(rep.total.cost_dong, 5100);
    EXPECT_EQ(rep.total.segments, 6);

    auto j = to_json(rep);
    auto& row0 = j.at("rows").as_array().at(0).as_object();
    EXPECT_EQ(row0.at("agency").as_string(), "A");
    EXPECT_EQ(row0.at("channel").as_string(), "sms");
    EXPECT_DOUBLE_EQ(row0.at("median_accept_seconds").as_double(), 2.0);  // 1 s and 3 s
    EXPECT_DOUBLE_EQ(row0.at("median_delivery_seconds").as_double(), 5.0);
    EXPECT_TRUE(j.at("rows").as_array().at(2).as_object().at("delivered_rate").is_null());
    EXPECT_EQ(j.at("total").as_object().at("cost_dong").as_int64(), 5100);

    const std::string csv = to_csv(rep);
    EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
              "agency,channel,messages,segments,sent,delivered,failed,delivered_rate,"
              "median_accept_seconds,median_delivery_seconds,cost_dong");
    EXPECT_NE(csv.find("\r\nA,sms,4,3,2,1,2,0.5000,2.000,5.000,2400\r\n"), std::string::npos)
        << csv;
    EXPECT_NE(csv.find("\r\nB,email,1,0,0,0,0,,,,0\r\n"), std::string::npos) << csv;
}

TEST(UsageReport, DayMonthTelcoAndCsvQuoting) {
    auto r1 = rec("A", "sms", "sent", 1, 800, 1000);
    auto r2 = rec("A", "sms", "sent", 1, 800, 1000);
    r2.created_at_ms = kDay + 15 * 3600 * 1000;  // 01:00 local the next day
    r2.procedure = "=cmd,\"x\"";
    auto rep = build({r1, r2}, {Key::day, Key::telco});
    ASSERT_EQ(rep.rows.size(), 2u);
    EXPECT_EQ(rep.rows[0].key, (std::vector<std::string>{"2026-12-04", "viettel"}));
    EXPECT_EQ(rep.rows[1].key, (std::vector<std::string>{"2026-12-05", "viettel"}));
    auto by_month = build({r1, r2}, {Key::month, Key::procedure});
    EXPECT_EQ(by_month.rows.size(), 2u);
    EXPECT_EQ(by_month.rows[0].key[0], "2026-12");
    const std::string csv = to_csv(by_month);
    // Quoted (a comma and quotes), and not taken for a formula by a spreadsheet.
    EXPECT_NE(csv.find("\r\n2026-12,\"'=cmd,\"\"x\"\"\",1,"), std::string::npos) << csv;
}

}  // namespace
}  // namespace tinbao::usage
