// The speedsms adapter through the daemon's HttpPool against tests/fakes/fake_speedsms.py on
// loopback.
#include "providers/speedsms/speedsms.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
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

constexpr const char* kSpeedsmsText = "Ho so 000.00.12.H62-261120-0007 da co ket qua.";

OutboundMessage speedsms_message(std::string id, std::string to = "84912345678") {
    OutboundMessage m;
    m.id = std::move(id);
    m.channel = Channel::sms;
    m.to = std::move(to);
    m.text = kSpeedsmsText;
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
    HttpPool http_{ioc_.get_executor()};
    std::optional<ChildProcess> fake_;
    std::string base_url_;
};

TEST_F(SpeedSmsTest, SuccessSendsTheDocumentedRequest) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, speedsms_message("msg-1"));
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
                          {"content", kSpeedsmsText},
                          {"sms_type", 3},
                          {"sender", "UBND-VLONG"}};
    EXPECT_EQ(req.at("body"), expected) << json::serialize(req.at("body"));
}

TEST_F(SpeedSmsTest, DefaultBrandnameTypeNeedsNoSender) {
    auto p = make("sms_type: 4\n");
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, speedsms_message("msg-2")).ok);
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& body = reqs[0].at("body").as_object();
    EXPECT_EQ(body.at("sms_type"), 4);
    EXPECT_FALSE(body.contains("sender"));
}

TEST_F(SpeedSmsTest, WrongTokenIsPermanentAuthFailed) {
    auto p = make("sender: UBND-VLONG\n", "wrong-token");
    ASSERT_TRUE(p);
    SendResult r = send(*p, speedsms_message("msg-3"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.detail.find("wrong-token"), std::string::npos);
}

TEST_F(SpeedSmsTest, InvalidNumberIsPermanentInvalidPhone) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, speedsms_message("msg-4", "8491234"));
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
        SendResult r = send(*p, speedsms_message("msg-5"));
        EXPECT_FALSE(r.ok) << c.code;
        EXPECT_EQ(r.failure, c.cls) << c.code;
        EXPECT_EQ(r.reason, c.reason) << c.code;
        EXPECT_NE(r.detail.find(std::string("code ") + c.code), std::string::npos) << r.detail;
    }
    EXPECT_TRUE(send(*p, speedsms_message("msg-5")).ok);
}

TEST_F(SpeedSmsTest, RateLimitIsThrottledWithTheResetTime) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http429", "reset_after": 42})");
    SendResult r = send(*p, speedsms_message("msg-6"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kThrottled);
    ASSERT_TRUE(r.retry_after);
    EXPECT_EQ(*r.retry_after, std::chrono::seconds(42));
}

TEST_F(SpeedSmsTest, ServerErrorIsProviderUnavailable) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": "http500"})");
    SendResult r = send(*p, speedsms_message("msg-7"));
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

// The webhook (docs/providers/speedsms.md): the body as the SDK alexzvn/speedsms-api reads it
// (src/Callback/Incoming.php: type, phone, content), with and without an id.
TEST(SpeedSmsWebhook, IncomingBecomesACitizensMessage) {
    using Kind = SpeedSmsWebhook::Kind;
    auto hook = parse_speedsms_webhook(
        R"({"type":"incoming","phone":"0987654321","content":"Cam on, đã nhận","smsId":77})",
        "speedsms", 1'700'000'000'000, std::chrono::hours(1));
    ASSERT_EQ(hook.kind, Kind::incoming) << hook.error;
    ASSERT_EQ(hook.messages.size(), 1u);
    const InboundMessage& m = hook.messages[0];
    EXPECT_EQ(m.provider, "speedsms");
    EXPECT_EQ(m.channel, Channel::sms);
    EXPECT_EQ(m.from, "84987654321");
    EXPECT_EQ(m.text, "Cam on, đã nhận");
    EXPECT_EQ(m.provider_message_id, "77");
    EXPECT_EQ(m.received_ms, 1'700'000'000'000);
    EXPECT_TRUE(m.dedupe_key.empty()) << "an id recognises it; no hash needed";
}

TEST(SpeedSmsWebhook, WithoutAnIdTheSameDocumentHasTheSameKey) {
    const char* body =
        R"({"type":"incoming","phone":"84987654321","content":"OK","time":1700000000})";
    auto a = parse_speedsms_webhook(body, "speedsms", 1, std::chrono::minutes(30));
    auto b = parse_speedsms_webhook(body, "speedsms", 2, std::chrono::minutes(30));
    ASSERT_EQ(a.messages.size(), 1u);
    ASSERT_EQ(b.messages.size(), 1u);
    EXPECT_TRUE(a.messages[0].provider_message_id.empty());
    EXPECT_FALSE(a.messages[0].dedupe_key.empty());
    EXPECT_EQ(a.messages[0].dedupe_key, b.messages[0].dedupe_key);
    EXPECT_EQ(a.messages[0].dedupe_window, std::chrono::minutes(30));
    EXPECT_EQ(a.messages[0].received_ms, 1'700'000'000'000) << "Unix seconds read";
    EXPECT_EQ(a.messages[0].dedupe_key.find("987654321"), std::string::npos)
        << "a hash, not the number";
    auto other = parse_speedsms_webhook(
        R"({"type":"incoming","phone":"84987654321","content":"OK.","time":1700000000})",
        "speedsms", 1, std::chrono::minutes(30));
    ASSERT_EQ(other.messages.size(), 1u);
    EXPECT_NE(other.messages[0].dedupe_key, a.messages[0].dedupe_key);
    auto off = parse_speedsms_webhook(body, "speedsms", 1, std::chrono::milliseconds(0));
    ASSERT_EQ(off.messages.size(), 1u);
    EXPECT_TRUE(off.messages[0].dedupe_key.empty()) << "window 0: no recognition";
}

TEST(SpeedSmsWebhook, ReportsAndOtherTypesCarryNoMessage) {
    using Kind = SpeedSmsWebhook::Kind;
    auto report =
        parse_speedsms_webhook(R"({"type":"report","tranId":123,"phone":"84987654321","status":0})",
                               "s", 1, std::chrono::hours(1));
    EXPECT_EQ(report.kind, Kind::report);
    EXPECT_TRUE(report.messages.empty());
    auto other = parse_speedsms_webhook(R"({"type":"balance"})", "s", 1, std::chrono::hours(1));
    EXPECT_EQ(other.kind, Kind::other);
    auto list = parse_speedsms_webhook(
        R"([{"type":"report","tranId":1},{"type":"INCOMING","phone":"84912345678","content":"a"}])",
        "s", 1, std::chrono::hours(1));
    EXPECT_EQ(list.kind, Kind::incoming);
    EXPECT_EQ(list.messages.size(), 1u);
    for (const char* bad : {"not json", "42", R"({"type":"incoming","phone":"84912345678"})",
                            R"([{"type":"incoming","content":"a"}, 3])"}) {
        auto r = parse_speedsms_webhook(bad, "s", 1, std::chrono::hours(1));
        EXPECT_EQ(r.kind, Kind::invalid) << bad;
        EXPECT_FALSE(r.error.empty()) << bad;
        EXPECT_TRUE(r.messages.empty()) << bad;
    }
}

TEST(SpeedSmsWebhook, TakenOnlyWithTheCallbackToken) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    CallbackRequest req;
    req.method = "POST";
    req.body = R"({"type":"incoming","phone":"84987654321","content":"Cam on"})";

    YamlView none("access_token: t\nsender: UBND-VLONG\n");
    auto without = make_speedsms_factory()->create(speedsms_settings(), none.view, ctx);
    ASSERT_TRUE(without) << none.all();
    EXPECT_FALSE(without->handle_callback(req)) << "no callback_token: no webhook (404)";

    YamlView short_token("access_token: t\nsender: S\ncallback_token: short\n");
    EXPECT_EQ(make_speedsms_factory()->create(speedsms_settings(), short_token.view, ctx), nullptr);
    EXPECT_NE(short_token.all().find("callback_token"), std::string::npos);

    YamlView with(
        "access_token: t\nsender: S\ncallback_token: hook-token-0123456789\n"
        "inbound_dedupe_window: 10m\n");
    auto p = make_speedsms_factory()->create(speedsms_settings(), with.view, ctx);
    ASSERT_TRUE(p) << with.all();
    auto forged = p->handle_callback(req);
    ASSERT_TRUE(forged);
    EXPECT_EQ(forged->status, 403);
    EXPECT_TRUE(forged->inbound.empty());
    req.query = {{"token", "hook-token-0123456789x"}};
    EXPECT_EQ(p->handle_callback(req)->status, 403);

    req.query = {{"token", "hook-token-0123456789"}};
    auto ok = p->handle_callback(req);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    ASSERT_EQ(ok->inbound.size(), 1u);
    EXPECT_EQ(ok->inbound[0].text, "Cam on");
    EXPECT_EQ(ok->inbound[0].dedupe_window, std::chrono::minutes(10));

    req.body = "{";
    auto bad = p->handle_callback(req);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_TRUE(bad->inbound.empty());
}

}  // namespace
