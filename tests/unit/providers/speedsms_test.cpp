// The speedsms adapter through a real CurlMulti against tests/fakes/fake_speedsms.py on loopback.
#include "providers/speedsms/speedsms.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>

#include "daemon/io/curl_multi.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::YamlView;

namespace {

constexpr const char* kText = "Ho so 000.00.12.H62-261120-0007 da co ket qua.";

OutboundMessage sms(std::string id, std::string to = "84912345678") {
    OutboundMessage m;
    m.id = std::move(id);
    m.channel = Channel::sms;
    m.to = std::move(to);
    m.text = kText;
    m.segments = 1;
    return m;
}

ProviderSettings speedsms_settings() {
    return test::provider_settings("speedsms", "speedsms", Channel::sms);
}

class SpeedSmsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_speedsms.py", "--token",
            "the-access-token"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_speedsms did not start: '" << line << "'";
        base_url_ = "http://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& yaml_tail = "sender: UBND-VLONG\n",
                                   const std::string& token = "the-access-token") {
        YamlView cfg("base_url: " + base_url_ + "\naccess_token: " + token + "\n" + yaml_tail);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        auto p = make_speedsms_factory()->create(speedsms_settings(), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }

    SendResult send(Provider& p, const OutboundMessage& m) {
        return run_until_done(ioc_, p.send(m));
    }

    HttpResponse call(std::string method, std::string target, std::string body = {}) {
        HttpRequest r;
        r.method = std::move(method);
        r.url = base_url_ + target;
        r.body = std::move(body);
        return run_until_done(ioc_, http_.perform(std::move(r)));
    }

    void control(const std::string& body) {
        ASSERT_EQ(call("POST", "/_control", body).status, 200);
    }

    json::array requests() { return json::parse(call("GET", "/_requests").body).as_array(); }

    asio::io_context ioc_;
    CurlMulti http_{ioc_.get_executor()};
    std::optional<ChildProcess> fake_;
    std::string base_url_;
};

TEST_F(SpeedSmsTest, SuccessSendsTheDocumentedRequest) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, sms("msg-1"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(r.provider_message_id, "1001");
    EXPECT_EQ(json::parse(r.raw_response).at("status"), "success") << r.raw_response;

    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& req = reqs[0].as_object();
    EXPECT_EQ(req.at("path"), "/index.php/sms/send");
    EXPECT_EQ(req.at("method"), "POST");
    EXPECT_EQ(req.at("authorization"), "Basic dGhlLWFjY2Vzcy10b2tlbjp4");  // the-access-token:x
    EXPECT_NE(std::string(req.at("content_type").as_string()).find("application/json"),
              std::string::npos);
    json::object expected{{"to", json::array{"84912345678"}},
                          {"content", kText},
                          {"sms_type", 3},
                          {"sender", "UBND-VLONG"}};
    EXPECT_EQ(req.at("body"), expected) << json::serialize(req.at("body"));
}

TEST_F(SpeedSmsTest, DefaultBrandnameTypeNeedsNoSender) {
    auto p = make("sms_type: 4\n");
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, sms("msg-2")).ok);
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& body = reqs[0].at("body").as_object();
    EXPECT_EQ(body.at("sms_type"), 4);
    EXPECT_FALSE(body.contains("sender"));
}

TEST_F(SpeedSmsTest, WrongTokenIsPermanentAuthFailed) {
    auto p = make("sender: UBND-VLONG\n", "wrong-token");
    ASSERT_TRUE(p);
    SendResult r = send(*p, sms("msg-3"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.detail.find("wrong-token"), std::string::npos);
}

TEST_F(SpeedSmsTest, InvalidNumberIsPermanentInvalidPhone) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, sms("msg-4", "8491234"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kInvalidPhone);
    EXPECT_NE(r.detail.find("code 105"), std::string::npos) << r.detail;
}

TEST_F(SpeedSmsTest, ErrorCodesAreClassified) {
    auto p = make();
    ASSERT_TRUE(p);
    struct Case {
        const char* code;
        FailureClass cls;
        std::string_view reason;
    };
    for (const Case& c : {Case{"300", FailureClass::retryable, reason::kQuotaExceeded},
                          Case{"113", FailureClass::permanent, reason::kTooLong},
                          Case{"007", FailureClass::permanent, reason::kConfigError},
                          Case{"500", FailureClass::retryable, reason::kProviderUnavailable},
                          Case{"999", FailureClass::retryable, reason::kProviderError}}) {
        control(std::string(R"({"fail_next": 1, "code": ")") + c.code + "\"}");
        SendResult r = send(*p, sms("msg-5"));
        EXPECT_FALSE(r.ok) << c.code;
        EXPECT_EQ(r.failure, c.cls) << c.code;
        EXPECT_EQ(r.reason, c.reason) << c.code;
        EXPECT_NE(r.detail.find(std::string("code ") + c.code), std::string::npos) << r.detail;
    }
    EXPECT_TRUE(send(*p, sms("msg-5")).ok);
}

TEST_F(SpeedSmsTest, RateLimitIsThrottledWithTheResetTime) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http429", "reset_after": 42})");
    SendResult r = send(*p, sms("msg-6"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kThrottled);
    ASSERT_TRUE(r.retry_after);
    EXPECT_EQ(*r.retry_after, std::chrono::seconds(42));
}

TEST_F(SpeedSmsTest, ServerErrorIsProviderUnavailable) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http500"})");
    SendResult r = send(*p, sms("msg-7"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    EXPECT_EQ(r.detail, "HTTP 500");
}

TEST(SpeedSmsFactory, ChecksItsKeys) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    YamlView bad("base_url: ftp://x\nsms_type: 3\nsender_name: typo\n");
    EXPECT_EQ(make_speedsms_factory()->create(speedsms_settings(), bad.view, ctx), nullptr);
    std::string all = bad.all();
    for (const char* key : {"base_url", "access_token", "sender", "sender_name"})
        EXPECT_NE(all.find(key), std::string::npos) << key << "\n" << all;

    YamlView good("base_url: https://api.speedsms.vn/index.php/\naccess_token: t\nsms_type: 2\n");
    EXPECT_NE(make_speedsms_factory()->create(speedsms_settings(), good.view, ctx), nullptr)
        << good.all();
}

}  // namespace
