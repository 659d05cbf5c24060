// Citizens' ratings: a provider's report matched to its message record, and the
// feedback.received document it makes (daemon/pipeline/feedback.hpp).
#include "daemon/pipeline/feedback.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/encoding.hpp"

namespace json = boost::json;

namespace tinbao::test {
namespace {

RatingReport rating() {
    RatingReport r;
    r.message_id = "mq3b2d6lkcx5yb4ffo2xqjq7aa";
    r.provider_message_id = "5dcf84fe1fd8bd85e4ca";
    r.answer_id = "5dcf84fe1fd8bd85e4ca:1795749302114";
    r.rating = 5;
    r.comments = {"Cán bộ hướng dẫn tận tình"};
    r.note = "Cảm ơn";
    r.submitted_ms = 1795749302114;
    return r;
}

// A message record as the queue's API view gives it.
json::object zalo_message() {
    MessageRecord m;
    m.id = "mq3b2d6lkcx5yb4ffo2xqjq7aa";
    m.event_id = "igate-2026-000123-returned";
    m.dossier_code = "000.00.12.H62-261120-0007";
    m.channel = "zalo";
    m.provider = "zalo";
    m.to = "84912345678";
    m.state = std::string(state::kDelivered);
    m.provider_message_id = "another-copy";
    return m.to_json();
}

TEST(Feedback, ARatingIsKeptAgainstItsMessageEventAndDossier) {
    auto f = feedback::record_of("zalo", Channel::zalo, rating(), zalo_message(), 1795749600000);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->id, "zalo:5dcf84fe1fd8bd85e4ca:1795749302114");
    EXPECT_EQ(f->kind, "rating");
    EXPECT_EQ(f->message_id, "mq3b2d6lkcx5yb4ffo2xqjq7aa");
    EXPECT_EQ(f->event_id, "igate-2026-000123-returned");
    EXPECT_EQ(f->dossier_code, "000.00.12.H62-261120-0007");
    EXPECT_EQ(f->channel, "zalo");
    EXPECT_EQ(f->provider, "zalo");
    // The copy the citizen rated, not the record's latest send.
    EXPECT_EQ(f->provider_message_id, "5dcf84fe1fd8bd85e4ca");
    EXPECT_EQ(f->rating, 5);
    EXPECT_EQ(f->comments, rating().comments);
    EXPECT_EQ(f->note, "Cảm ơn");
    EXPECT_EQ(f->submitted_at_ms, 1795749302114);
    EXPECT_EQ(f->received_at_ms, 1795749600000);
}

TEST(Feedback, ARatingOfAnotherMessageOrChannelIsNotMatched) {
    auto other = rating();
    other.message_id = "m-other";
    EXPECT_FALSE(feedback::record_of("zalo", Channel::zalo, other, zalo_message(), 1));
    EXPECT_FALSE(feedback::record_of("zalo", Channel::sms, rating(), zalo_message(), 1));
    auto no_dossier = zalo_message();
    no_dossier["dossier_code"] = "";
    EXPECT_FALSE(feedback::record_of("zalo", Channel::zalo, rating(), no_dossier, 1));
}

TEST(Feedback, TheCallBackDocumentCarriesTheRatingAndNothingPersonal) {
    Config cfg;
    ApiClient c;
    c.name = "igate";
    c.callbacks = CallbackEndpoint{};
    c.callbacks->url = "http://127.0.0.1:1/hooks";
    c.callbacks->secrets = {"whsec_" + base64_encode(std::string(32, 'k'))};
    c.callbacks->kinds = {"feedback.received"};
    cfg.http.clients.push_back(c);
    ApiClient sms_only = c;
    sms_only.name = "other";
    sms_only.callbacks->kinds = {"message.sent"};
    cfg.http.clients.push_back(sms_only);

    auto f = feedback::record_of("zalo", Channel::zalo, rating(), zalo_message(), 1795749600000);
    ASSERT_TRUE(f);
    auto n = feedback::notice_of(cfg, *f);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->kind, "feedback.received");
    ASSERT_EQ(n->to.size(), 1u);  // only the client that asked for the kind
    EXPECT_EQ(n->to[0].first, "igate");
    // One webhook-id per answer, whichever copy of it came.
    auto again = feedback::notice_of(cfg, *f);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->to[0].second, n->to[0].second);

    auto doc = json::parse(n->body).as_object();
    EXPECT_EQ(doc.at("kind").as_string(), "feedback.received");
    EXPECT_EQ(doc.at("feedback_id").as_string(), "zalo:5dcf84fe1fd8bd85e4ca:1795749302114");
    EXPECT_EQ(doc.at("event_id").as_string(), "igate-2026-000123-returned");
    EXPECT_EQ(doc.at("dossier_code").as_string(), "000.00.12.H62-261120-0007");
    EXPECT_EQ(doc.at("message_id").as_string(), "mq3b2d6lkcx5yb4ffo2xqjq7aa");
    EXPECT_EQ(doc.at("channel").as_string(), "zalo");
    EXPECT_EQ(doc.at("provider").as_string(), "zalo");
    EXPECT_EQ(doc.at("provider_message_id").as_string(), "5dcf84fe1fd8bd85e4ca");
    EXPECT_EQ(doc.at("rating").as_int64(), 5);
    EXPECT_EQ(doc.at("comments").as_array().size(), 1u);
    EXPECT_EQ(doc.at("note").as_string(), "Cảm ơn");
    EXPECT_EQ(doc.at("submitted_at").as_string(), "2026-11-27T03:15:02.114Z");
    EXPECT_EQ(doc.at("received_at").as_string(), "2026-11-27T03:20:00.000Z");
    EXPECT_EQ(doc.at("at").as_string(), "2026-11-27T03:20:00.000Z");
    EXPECT_EQ(n->body.find("84912345678"), std::string::npos) << n->body;

    // Nobody asked for the kind (and no status stream): no notice.
    cfg.http.clients.pop_back();
    cfg.http.clients[0].callbacks->kinds = {"message.sent"};
    EXPECT_FALSE(feedback::notice_of(cfg, *f).has_value());
}

}  // namespace
}  // namespace tinbao::test
