// Tests of the record rules both queue backends share: the event's state, delivery reports,
// per-dossier waiting.
#include "daemon/model/rules.hpp"

#include <gtest/gtest.h>

#include "providers/provider.hpp"

namespace tinbao {
namespace {

using V = std::vector<std::string_view>;

TEST(EventState, FollowsTheMessages) {
    EXPECT_EQ(event_state(V{}), "skipped");  // no route covers the status
    EXPECT_EQ(event_state(V{"queued"}), "accepted");
    EXPECT_EQ(event_state(V{"sent", "sending"}), "accepted");
    EXPECT_EQ(event_state(V{"failed", "queued"}), "accepted");
    EXPECT_EQ(event_state(V{"sent"}), "done");
    EXPECT_EQ(event_state(V{"failed", "delivered"}), "done");
    EXPECT_EQ(event_state(V{"superseded", "sent"}), "done");      // fallback, then sent
    EXPECT_EQ(event_state(V{"superseded", "failed"}), "failed");  // fallback, then failed
    EXPECT_EQ(event_state(V{"failed"}), "failed");
    EXPECT_EQ(event_state(V{"expired", "skipped"}), "failed");
    EXPECT_EQ(event_state(V{"skipped"}), "failed");  // no address for any routed channel
    EXPECT_EQ(event_state(V{"something new"}), "failed");
}

// Coalesced into a newer event of the dossier: not sent by choice, so not a failure.
TEST(EventState, OnlySupersededMessagesReadSkipped) {
    EXPECT_EQ(event_state(V{"superseded"}), "skipped");
    EXPECT_EQ(event_state(V{"superseded", "superseded"}), "skipped");
}

MessageRecord sent_record() {
    MessageRecord m;
    m.id = "m1";
    m.event_id = "ev1";
    m.channel = "sms";
    m.state = "sent";
    m.created_at_ms = 1000;
    m.updated_at_ms = 2000;
    m.provider_message_id = "P-1";
    return m;
}

TEST(DeliveryReport, MovesASentMessageForward) {
    auto m = sent_record();
    DeliveryUpdate u{"m1", "P-2", "delivered", "", "", ""};
    ASSERT_TRUE(apply_delivery_report(m, u, 5000));
    EXPECT_EQ(m.state, "delivered");
    EXPECT_EQ(m.updated_at_ms, 5000);
    EXPECT_EQ(m.provider_message_id, "P-2");
    EXPECT_TRUE(m.last_error_reason.empty());
    // Written back whole: updated_at follows updated_at_ms.
    auto again = MessageRecord::from_json(m.to_json_text());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->updated_at_ms, 5000);
    EXPECT_EQ(m.to_json().at("updated_at").as_string(), rfc3339_utc(5000));
}

TEST(DeliveryReport, AFailureKeepsItsReason) {
    auto m = sent_record();
    DeliveryUpdate u{"m1", "", "failed", "rejected_by_carrier", "blocked", ""};
    ASSERT_TRUE(apply_delivery_report(m, u, 5000));
    EXPECT_EQ(m.state, "failed");
    EXPECT_EQ(m.provider_message_id, "P-1");  // kept when the report has none
    EXPECT_EQ(m.last_error_reason, "rejected_by_carrier");
    EXPECT_EQ(m.last_error_detail, "blocked");
}

TEST(DeliveryReport, NeverMovesBackwardsNorTwice) {
    auto m = sent_record();
    DeliveryUpdate delivered{"m1", "", "delivered", "", "", ""};
    DeliveryUpdate failed{"m1", "", "failed", "x", "", ""};
    ASSERT_TRUE(apply_delivery_report(m, delivered, 5000));
    EXPECT_FALSE(apply_delivery_report(m, failed, 6000));
    EXPECT_FALSE(apply_delivery_report(m, delivered, 6000));
    EXPECT_EQ(m.state, "delivered");
    EXPECT_EQ(m.updated_at_ms, 5000);
    for (std::string_view st : {"queued", "sending", "failed", "expired", "superseded"}) {
        auto other = sent_record();
        other.state = st;
        EXPECT_FALSE(apply_delivery_report(other, delivered, 5000)) << st;
        EXPECT_EQ(other.state, st);
    }
    auto odd = sent_record();
    EXPECT_FALSE(apply_delivery_report(odd, {"m1", "", "queued", "", "", ""}, 5000));
    EXPECT_EQ(odd.state, "sent");
}

TEST(DossierWaiting, TheLatestOlderNoticeOtherThanItselfHoldsTheDossier) {
    std::vector<WaitingNotice> w{{"a", 100, 9000}, {"b", 200, 7000}, {"c", 300, 12000}};
    EXPECT_EQ(dossier_blocked_until(w, std::nullopt, ""), 12000);
    EXPECT_EQ(dossier_blocked_until(w, 300, ""), 9000);   // c is not older
    EXPECT_EQ(dossier_blocked_until(w, 301, "c"), 9000);  // nor itself
    EXPECT_EQ(dossier_blocked_until(w, 100, ""), 0);      // nothing older
    EXPECT_EQ(dossier_blocked_until({}, std::nullopt, ""), 0);
    // A reminder waits for its day: it holds nothing back.
    auto reminder = reminder_message_id("result_uncollected", "D-1", 1, "sms");
    w.push_back({reminder, 50, 900000000});
    EXPECT_EQ(dossier_blocked_until(w, std::nullopt, ""), 12000);
}

}  // namespace
}  // namespace tinbao
