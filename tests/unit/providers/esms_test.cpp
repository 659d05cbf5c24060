// The esms adapter through the daemon's HttpPool against tests/fakes/fake_esms.py on loopback.
#include "providers/esms/esms.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <optional>

#include "daemon/io/http_pool.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::YamlView;

namespace {

constexpr const char* kEsmsVietnamese =
    "Hồ sơ 000.00.01.H62-250101-0001 của ông/bà đã có kết quả. Mời nhận tại Bộ phận Một cửa.";

OutboundMessage esms_sms(std::string id, std::string text = kEsmsVietnamese, bool unicode = true) {
    return test::sms_message(std::move(id), std::move(text), unicode);
}

ProviderSettings esms_settings() { return test::provider_settings("esms", "esms", Channel::sms); }

class EsmsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_esms.py", "--api-key",
            "the-api-key", "--secret-key", "the-secret-key"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_esms did not start: '" << line << "'";
        port_ = line.substr(5);
        base_url_ = "http://127.0.0.1:" + port_;
    }
    void TearDown() override { fake_.reset(); }

    std::unique_ptr<Provider> make(const std::string& extra_yaml = "",
                                   const std::string& api_key = "the-api-key",
                                   std::string base_url = {}) {
        if (base_url.empty()) base_url = base_url_;
        YamlView cfg("base_url: " + base_url + "\napi_key: " + api_key +
                     "\nsecret_key: the-secret-key\nbrandname: UBND-VLONG\n" + extra_yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        ctx.state_dir = "/nonexistent";
        auto p = make_esms_factory()->create(esms_settings(), cfg.view, ctx);
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
        r.headers = {{"Content-Type", "application/json"}};
        return run_until_done(ioc_, http_.perform(std::move(r)));
    }

    void control(const std::string& body) {
        HttpResponse r = call("POST", "/_control", body);
        ASSERT_EQ(r.status, 200) << r.error_text << r.body;
    }

    json::array requests() {
        HttpResponse r = call("GET", "/_requests");
        EXPECT_EQ(r.status, 200) << r.error_text;
        return json::parse(r.body).as_array();
    }

    asio::io_context ioc_;
    HttpPool http_{ioc_.get_executor()};
    std::optional<ChildProcess> fake_;
    std::string port_;
    std::string base_url_;
};

TEST_F(EsmsTest, SuccessSendsTheDocumentedFields) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, esms_sms("msg-0001"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_FALSE(r.provider_message_id.empty());

    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& req = reqs[0].as_object();
    EXPECT_EQ(req.at("path").as_string(),
              "/MainService.svc/json/SendMultipleMessage_V4_post_json/");
    EXPECT_NE(std::string(req.at("content_type").as_string()).find("application/json"),
              std::string::npos);
    const json::object& body = req.at("body").as_object();
    json::object expected{{"ApiKey", "the-api-key"},   {"SecretKey", "the-secret-key"},
                          {"Phone", "84912345678"},    {"Content", kEsmsVietnamese},
                          {"Brandname", "UBND-VLONG"}, {"SmsType", "2"},
                          {"IsUnicode", "1"},          {"Sandbox", "0"},
                          {"RequestId", "msg-0001"}};
    EXPECT_EQ(body, expected) << json::serialize(body);
}

TEST_F(EsmsTest, OptionalKeysReachTheWire) {
    auto p = make("sms_type: 8\nsandbox: true\ncallback_url: https://tinbao.example.vn/cb\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, esms_sms("msg-0002", "Ho so da co ket qua", false));
    ASSERT_TRUE(r.ok) << r.detail;
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& body = reqs[0].at("body").as_object();
    EXPECT_EQ(body.at("IsUnicode"), "0");
    EXPECT_EQ(body.at("Sandbox"), "1");
    EXPECT_EQ(body.at("SmsType"), "8");
    EXPECT_EQ(body.at("CallbackUrl"), "https://tinbao.example.vn/cb");
    EXPECT_EQ(body.at("Content"), "Ho so da co ket qua");
}

TEST_F(EsmsTest, DuplicateRequestIdMeansAlreadySent) {
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, esms_sms("msg-dup")).ok);
    SendResult again = send(*p, esms_sms("msg-dup"));
    EXPECT_TRUE(again.ok) << again.reason;
    EXPECT_NE(again.detail.find("CodeResult 124"), std::string::npos) << again.detail;
    EXPECT_EQ(requests().size(), 2u);
}

TEST_F(EsmsTest, WrongKeysArePermanentAuthFailed) {
    auto p = make("", "wrong-key");
    ASSERT_TRUE(p);
    SendResult r = send(*p, esms_sms("msg-auth"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.detail, "CodeResult 101: Authorize Failed");
    EXPECT_EQ(r.detail.find("wrong-key"), std::string::npos);
    EXPECT_EQ(r.detail.find("the-secret-key"), std::string::npos);
}

TEST_F(EsmsTest, LowBalanceIsRetryableAndTheNextSendGoesThrough) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "103"})");
    SendResult r = send(*p, esms_sms("msg-103"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kQuotaExceeded);
    EXPECT_NE(r.detail.find("CodeResult 103"), std::string::npos);
    EXPECT_TRUE(send(*p, esms_sms("msg-103")).ok);  // the failed attempt was not recorded as seen
}

TEST_F(EsmsTest, UnregisteredTemplateIsPermanent) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "146"})");
    SendResult r = send(*p, esms_sms("msg-146"));
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kTemplateNotRegistered);
}

TEST_F(EsmsTest, ServerErrorIsProviderUnavailable) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http500"})");
    SendResult r = send(*p, esms_sms("msg-500"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    EXPECT_EQ(r.detail, "HTTP 500");
}

TEST_F(EsmsTest, TooManyRequestsIsThrottledWithRetryAfter) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http429", "retry_after": 7})");
    SendResult r = send(*p, esms_sms("msg-429"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kThrottled);
    ASSERT_TRUE(r.retry_after.has_value());
    EXPECT_EQ(*r.retry_after, std::chrono::seconds(7));
}

TEST_F(EsmsTest, ClosedPortIsRetryableProviderUnavailable) {
    unsigned short port;
    {
        asio::io_context tmp;
        asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    auto p = make("", "the-api-key", "http://127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(p);
    SendResult r = send(*p, esms_sms("msg-closed"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
}

// Factory checks need no fake.

ProviderContext no_io_context(asio::io_context& ioc) {
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    return ctx;
}

TEST(EsmsFactory, MissingRequiredKeysAreNamed) {
    asio::io_context ioc;
    YamlView cfg("api_key: k\nsecret_key: s\n");
    auto p = make_esms_factory()->create(esms_settings(), cfg.view, no_io_context(ioc));
    EXPECT_EQ(p, nullptr);
    std::string all = cfg.all();
    EXPECT_NE(all.find("base_url"), std::string::npos) << all;
    EXPECT_NE(all.find("brandname"), std::string::npos) << all;
    EXPECT_EQ(all.find("api_key"), std::string::npos) << all;
}

TEST(EsmsFactory, UnknownKeyAndBadValuesAreErrors) {
    asio::io_context ioc;
    YamlView cfg(
        "base_url: ftp://x\napi_key: k\nsecret_key: s\nbrandname: B\nsms_type: '1'\n"
        "brand_name: typo\n");
    auto p = make_esms_factory()->create(esms_settings(), cfg.view, no_io_context(ioc));
    EXPECT_EQ(p, nullptr);
    std::string all = cfg.all();
    EXPECT_NE(all.find("providers[0].base_url"), std::string::npos) << all;
    EXPECT_NE(all.find("sms_type"), std::string::npos) << all;
    EXPECT_NE(all.find("brand_name"), std::string::npos) << all;
}

TEST(EsmsFactory, ValidConfigNeedsNoHttpClientToCreate) {
    asio::io_context ioc;
    YamlView cfg("base_url: https://rest.esms.vn/\napi_key: k\nsecret_key: s\nbrandname: B\n");
    auto p = make_esms_factory()->create(esms_settings(), cfg.view, no_io_context(ioc));
    EXPECT_NE(p, nullptr) << cfg.all();
    EXPECT_TRUE(cfg.diags->empty());
}

TEST(EsmsFactory, SmsOnly) {
    auto f = make_esms_factory();
    EXPECT_EQ(f->type(), "esms");
    EXPECT_TRUE(f->supports(Channel::sms));
    EXPECT_FALSE(f->supports(Channel::zalo));
    EXPECT_FALSE(f->supports(Channel::email));
}

// Every documented CodeResult, classified without a server.

HttpResponse reply(std::string body, int status = 200) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

SendResult code(const std::string& c) {
    return classify_esms_reply(
        reply(R"({"CodeResult":")" + c + R"(","ErrorMessage":"msg","SMSID":"")" + "}"));
}

TEST(EsmsClassify, DocumentedCodes) {
    struct Case {
        const char* code;
        bool ok;
        FailureClass cls;
        std::string_view reason;
    };
    const Case cases[] = {
        {"100", true, FailureClass::retryable, ""},
        {"124", true, FailureClass::retryable, ""},
        {"99", false, FailureClass::permanent, reason::kBlocked},
        {"101", false, FailureClass::permanent, reason::kAuthFailed},
        {"102", false, FailureClass::permanent, reason::kConfigError},
        {"104", false, FailureClass::permanent, reason::kConfigError},
        {"107", false, FailureClass::permanent, reason::kConfigError},
        {"140", false, FailureClass::permanent, reason::kConfigError},
        {"177", false, FailureClass::permanent, reason::kConfigError},
        {"103", false, FailureClass::retryable, reason::kQuotaExceeded},
        {"108", false, FailureClass::permanent, reason::kInvalidPhone},
        {"110", false, FailureClass::permanent, reason::kRejectedContent},
        {"146", false, FailureClass::permanent, reason::kTemplateNotRegistered},
        {"105", false, FailureClass::retryable, reason::kProviderError},
        {"120", false, FailureClass::retryable, reason::kProviderError},
        {"999", false, FailureClass::retryable, reason::kProviderError},
    };
    for (const auto& c : cases) {
        SendResult r = code(c.code);
        EXPECT_EQ(r.ok, c.ok) << c.code;
        if (!c.ok) {
            EXPECT_EQ(r.failure, c.cls) << c.code;
            EXPECT_EQ(r.reason, c.reason) << c.code;
            EXPECT_EQ(r.detail, std::string("CodeResult ") + c.code + ": msg");
        }
    }
}

TEST(EsmsClassify, SuccessCarriesSmsidAndNumericCodesWork) {
    SendResult r = classify_esms_reply(reply(R"({"CodeResult":100,"SMSID":"abc-123"})"));
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.provider_message_id, "abc-123");
}

TEST(EsmsClassify, UnreadableRepliesAreRetryableProviderErrors) {
    for (const char* body : {"<html>oops</html>", "", "[]", R"({"SMSID":"x"})"}) {
        SendResult r = classify_esms_reply(reply(body));
        EXPECT_FALSE(r.ok) << body;
        EXPECT_EQ(r.failure, FailureClass::retryable) << body;
        EXPECT_EQ(r.reason, reason::kProviderError) << body;
    }
}

TEST(EsmsClassify, TransportErrors) {
    HttpResponse t;
    t.error = HttpResponse::Error::timeout;
    EXPECT_EQ(classify_esms_reply(t).reason, reason::kTimeout);
    EXPECT_EQ(classify_esms_reply(t).failure, FailureClass::retryable);
    t.error = HttpResponse::Error::connect;
    EXPECT_EQ(classify_esms_reply(t).reason, reason::kProviderUnavailable);
    t.error = HttpResponse::Error::tls;
    EXPECT_EQ(classify_esms_reply(t).reason, reason::kProviderUnavailable);
    HttpResponse busy = reply("", 503);
    busy.headers = {{"retry-after", "30"}};
    EXPECT_EQ(classify_esms_reply(busy).reason, reason::kProviderUnavailable);
    EXPECT_EQ(classify_esms_reply(busy).retry_after, std::chrono::seconds(30));
    HttpResponse throttled = reply("", 429);
    EXPECT_EQ(classify_esms_reply(throttled).reason, reason::kThrottled);
    EXPECT_FALSE(classify_esms_reply(throttled).retry_after.has_value());
}

}  // namespace
