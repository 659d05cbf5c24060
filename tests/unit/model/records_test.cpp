// MessageRecord's two JSON writers agree: to_json_text() (what the queue stores) is the same
// document as to_json() (what the API answers), and reads back into the same record.
#include "daemon/model/records.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace tinbao {
namespace {

MessageRecord sample(std::string channel) {
    MessageRecord m;
    m.id = "m0123456789abcdefghijklmn";
    m.event_id = "ev-\"quoted\"\\back\\slash";
    m.dossier_code = "000.00.12.H56-241127-0001";
    m.channel = std::move(channel);
    m.provider = "esms";
    m.to = "84912345678";
    m.state = state::kFailed;
    m.attempts = 3;
    m.last_error_reason = "provider_error";
    m.last_error_detail = std::string("line one\nline two\ttab\r\x01\x1f") + '\0' + "end";
    m.provider_message_id = "";
    m.created_at_ms = 1764201600123;
    m.updated_at_ms = 1764201612345;
    m.encoding = "ucs2";
    m.segments = 2;
    m.body = "Hồ sơ 000.00.12.H56 của ông/bà Nguyễn Thị Ánh đã có kết quả 📄";
    m.subject = "Thông báo: hồ sơ đã có kết quả";
    m.template_id = "245213";
    m.agency = "000.00.12.H62";
    m.procedure = "1.001612";
    m.telco = "vinaphone";
    m.cost_dong = 1600;
    m.event_at_ms = 1764201600000;
    m.sent_at_ms = 1764201601500;
    m.delivered_at_ms = 1764201609000;
    return m;
}

TEST(MessageRecordJson, TextWriterMatchesTheDocumentForEveryChannel) {
    for (std::string channel : {"sms", "email", "zalo"}) {
        auto m = sample(channel);
        auto text = m.to_json_text();
        boost::system::error_code ec;
        auto parsed = boost::json::parse(text, ec);
        ASSERT_FALSE(ec) << channel << ": " << text;
        EXPECT_EQ(parsed, boost::json::value(m.to_json())) << channel;
        auto back = MessageRecord::from_json(text);
        ASSERT_TRUE(back) << channel;
        EXPECT_EQ(back->last_error_detail, m.last_error_detail);
        EXPECT_EQ(back->event_id, m.event_id);
        EXPECT_EQ(back->attempts, 3);
        EXPECT_EQ(back->agency, "000.00.12.H62");
        EXPECT_EQ(back->procedure, "1.001612");
        EXPECT_EQ(back->telco, "vinaphone");
        EXPECT_EQ(back->cost_dong, 1600);
        EXPECT_EQ(back->event_at_ms, 1764201600000);
        EXPECT_EQ(back->sent_at_ms, 1764201601500);
        EXPECT_EQ(back->delivered_at_ms, 1764201609000);
    }
}

TEST(MessageRecordJson, EmptyOptionalFieldsAreNull) {
    auto m = sample("sms");
    m.provider.clear();
    m.last_error_reason.clear();
    m.encoding.clear();
    m.provider_message_id = "esms-123";
    auto parsed = boost::json::parse(m.to_json_text());
    EXPECT_EQ(parsed, boost::json::value(m.to_json()));
    EXPECT_TRUE(parsed.at("provider").is_null());
    EXPECT_TRUE(parsed.at("last_error").is_null());
    EXPECT_TRUE(parsed.at("encoding").is_null());
    EXPECT_EQ(parsed.at("provider_message_id").as_string(), "esms-123");
}

}  // namespace
}  // namespace tinbao
