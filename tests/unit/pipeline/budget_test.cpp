// Budgets: the local month, spend added and refreshed, thresholds reported once, and the
// price lookup that feeds them.
#include "daemon/pipeline/budget.hpp"

#include <gtest/gtest.h>

namespace tinbao {
namespace {

Agency agency(std::string code, int64_t dong, int64_t segments) {
    Agency a;
    a.code = std::move(code);
    a.name = a.code;
    a.budget_dong = dong;
    a.budget_segments = segments;
    return a;
}

TEST(Budgets, MonthIsLocal) {
    // 2026-11-30T17:00:00Z is 2026-12-01 00:00 in Hanoi.
    EXPECT_EQ(Budgets::month_of(1796058000000), "2026-12");
    EXPECT_EQ(Budgets::month_of(1796058000000 - 1), "2026-11");
    EXPECT_EQ(Budgets::month_of(0), "1970-01");
}

TEST(Budgets, SpendAgainstDongAndSegments) {
    Config cfg;
    cfg.agencies = {agency("A", 10000, 0), agency("B", 0, 10), agency("C", 0, 0)};
    Budgets b;
    const std::string m = "2026-12";
    EXPECT_FALSE(b.exhausted(cfg.agencies[0], m));
    b.add(m, "A", 7900, 10);
    EXPECT_TRUE(b.crossings(cfg, m).empty());  // 79 %
    b.add(m, "A", 100, 0);
    auto x = b.crossings(cfg, m);
    ASSERT_EQ(x.size(), 1u);
    EXPECT_EQ(x[0].agency, "A");
    EXPECT_EQ(x[0].percent, 80);
    EXPECT_TRUE(b.crossings(cfg, m).empty());  // once
    EXPECT_FALSE(b.exhausted(cfg.agencies[0], m));
    b.add(m, "A", 2000, 0);
    EXPECT_TRUE(b.exhausted(cfg.agencies[0], m));
    x = b.crossings(cfg, m);
    ASSERT_EQ(x.size(), 1u);
    EXPECT_EQ(x[0].percent, 100);

    // Segments: B's budget counts segments only.
    b.add(m, "B", 999999, 9);
    EXPECT_FALSE(b.exhausted(cfg.agencies[1], m));
    b.add(m, "B", 0, 1);
    EXPECT_TRUE(b.exhausted(cfg.agencies[1], m));
    // No budget: never exhausted.
    b.add(m, "C", 1000000, 1000);
    EXPECT_FALSE(b.exhausted(cfg.agencies[2], m));

    // A raised budget (a reload) lets SMS go again.
    cfg.agencies[0].budget_dong = 20000;
    EXPECT_FALSE(b.exhausted(cfg.agencies[0], m));
}

TEST(Budgets, RefreshTakesTheLargerAndANewMonthStartsAtZero) {
    Config cfg;
    cfg.agencies = {agency("A", 1000, 0)};
    Budgets b;
    b.add("2026-12", "A", 500, 0);
    // The queue's figures include other instances' messages.
    b.refresh("2026-12", {queue::Spend{"2026-12", "A", 1200, 3}});
    EXPECT_EQ(b.spent("2026-12", "A").dong, 1200);
    EXPECT_EQ(b.spent("2026-12", "A").segments, 3);
    EXPECT_TRUE(b.exhausted(cfg.agencies[0], "2026-12"));
    // This instance's messages not yet written in the queue are not lost by a refresh.
    b.add("2026-12", "A", 100, 0);
    b.refresh("2026-12", {queue::Spend{"2026-12", "A", 1250, 3}});
    EXPECT_EQ(b.spent("2026-12", "A").dong, 1300);
    // Next month: nothing spent yet.
    EXPECT_FALSE(b.exhausted(cfg.agencies[0], "2027-01"));
    b.refresh("2027-01", {});
    EXPECT_EQ(b.spent("2027-01", "A").dong, 0);
    EXPECT_EQ(b.crossings(cfg, "2027-01").size(), 0u);
}

TEST(Prices, LookupPerProviderChannelTelcoAndSegment) {
    Config cfg;
    Price esms;
    esms.provider = "esms";
    esms.per = Price::Per::segment;
    esms.dong = 800;
    esms.telcos = {{"viettel", 850}};
    Price sms;
    sms.channel = Channel::sms;
    sms.dong = 700;
    Price zalo;
    zalo.channel = Channel::zalo;
    zalo.dong = 300;
    cfg.prices = {esms, sms, zalo};
    EXPECT_EQ(cfg.cost_of("esms", Channel::sms, "viettel", 2), 1700);     // 2 x 850
    EXPECT_EQ(cfg.cost_of("esms", Channel::sms, "mobifone", 3), 2400);    // 3 x 800
    EXPECT_EQ(cfg.cost_of("esms", Channel::sms, "viettel", 0), 850);      // at least one
    EXPECT_EQ(cfg.cost_of("speedsms", Channel::sms, "viettel", 3), 700);  // per message
    EXPECT_EQ(cfg.cost_of("zns", Channel::zalo, "", 0), 300);
    EXPECT_EQ(cfg.cost_of("smtp", Channel::email, "", 0), 0);  // unpriced
}

}  // namespace
}  // namespace tinbao
