// The fpt adapter through the daemon's HttpPool against tests/fakes/fake_fpt.py on loopback, with
// its token and its MessageId -> message id map in a FileStateStore; its classification, its
// delivery reports and its keys.
#include "providers/fpt/fpt.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>

#include "common/encoding.hpp"
#include "daemon/io/http_pool.hpp"
#include "providers/reasons.hpp"
#include "providers/state/file_store.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::ScratchDir;
using tinbao::test::YamlView;

namespace {

constexpr const char* kFptVietnamese =
    "Hồ sơ 000.00.01.H62-250101-0001 của ông/bà đã có kết quả. Mời nhận tại Bộ phận Một cửa.";
constexpr const char* kFptToken = "fpt-callback-token-0123456789";

OutboundMessage fpt_sms(std::string id, std::string text = kFptVietnamese) {
    return test::sms_message(std::move(id), std::move(text));
}

ProviderSettings fpt_settings() { return test::provider_settings("fpt", "fpt", Channel::sms); }

HttpResponse answer(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

class FptTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_fpt.py"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_fpt did not start: '" << line << "'";
        base_url_ = "http://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& extra_yaml = "",
                                   const std::string& secret = "test-client-secret",
                                   StateStore* store = nullptr) {
        YamlView cfg("base_url: " + base_url_ +
                     "\nclient_id: test-client-id\nclient_secret: " + secret +
                     "\nbrandname: TINBAO\ncallback_token: " + kFptToken + "\n" + extra_yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        ctx.state = store ? store : &store_;
        auto p = make_fpt_factory()->create(fpt_settings(), cfg.view, ctx);
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
    json::array requests(const std::string& path) {
        HttpResponse r = call("GET", "/_requests");
        EXPECT_EQ(r.status, 200) << r.error_text;
        json::array out;
        json::value all = json::parse(r.body);
        for (auto& v : all.as_array())
            if (v.at("path").as_string() == path) out.push_back(v);
        return out;
    }
    int64_t tokens_issued() {
        return json::parse(call("GET", "/_stats").body).at("tokens_issued").as_int64();
    }
    CallbackRequest report(std::string body, std::string token = kFptToken) {
        CallbackRequest r;
        r.method = "POST";
        r.query = {{"token", std::move(token)}};
        r.headers = {{"content-type", "application/json"}};
        r.body = std::move(body);
        return r;
    }

    ScratchDir dir_;
    FileStateStore store_{(dir_.path() / "state.json").string()};
    asio::io_context ioc_;
    HttpPool http_{ioc_.get_executor()};
    std::optional<ChildProcess> fake_;
    std::string base_url_;
};

TEST_F(FptTest, GetsATokenThenSendsTheDocumentedFields) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, fpt_sms("mabc"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(r.provider_message_id, "1000");
    auto tokens = requests("/oauth2/token");
    ASSERT_EQ(tokens.size(), 1u);
    const auto& t = tokens[0].at("body").as_object();
    EXPECT_EQ(t.at("grant_type"), "client_credentials");
    EXPECT_EQ(t.at("client_id"), "test-client-id");
    EXPECT_EQ(t.at("client_secret"), "test-client-secret");
    EXPECT_EQ(t.at("scope"), "send_brandname_otp");
    std::string session(t.at("session_id").as_string());
    EXPECT_EQ(session.size(), 32u);
    auto pushes = requests("/api/push-brandname-otp");
    ASSERT_EQ(pushes.size(), 1u);
    const auto& b = pushes[0].at("body").as_object();
    EXPECT_EQ(b.size(), 6u) << json::serialize(b);
    EXPECT_EQ(b.at("session_id").as_string(), session);
    EXPECT_EQ(b.at("BrandName"), "TINBAO");
    EXPECT_EQ(b.at("Phone"), "84912345678");
    EXPECT_EQ(b.at("Message").as_string(), base64_encode(kFptVietnamese));
    EXPECT_EQ(b.at("RequestId"), "mabc");
    EXPECT_EQ(pushes[0].at("text"), kFptVietnamese);
    // The secret is nowhere in what a record or a log gets.
    EXPECT_EQ(r.detail.find("test-client-secret"), std::string::npos);
    EXPECT_EQ(r.raw_response.find("test-client-secret"), std::string::npos);
    // The way back from FPT's id to the message, for the delivery report.
    EXPECT_EQ(run_until_done(ioc_, store_.get("fpt:fpt:sms:1000")).value, "mabc");
}

TEST_F(FptTest, TheTokenIsReusedAndSharedThroughTheStore) {
    auto p = make();
    ASSERT_TRUE(p);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(send(*p, fpt_sms("m" + std::to_string(i))).ok);
    EXPECT_EQ(tokens_issued(), 1);
    // Another instance on the same store uses the token the first one got.
    FileStateStore other_store((dir_.path() / "state.json").string());
    auto q = make("", "test-client-secret", &other_store);
    ASSERT_TRUE(send(*q, fpt_sms("m-other")).ok);
    EXPECT_EQ(tokens_issued(), 1);
}

TEST_F(FptTest, ConcurrentSendsAskForOneToken) {
    auto p = make();
    ASSERT_TRUE(p);
    int done = 0;
    for (int i = 0; i < 4; ++i)
        asio::co_spawn(
            ioc_,
            [&, i]() -> asio::awaitable<void> {
                SendResult r = co_await p->send(fpt_sms("mc" + std::to_string(i)));
                EXPECT_TRUE(r.ok) << r.detail;
                ++done;
            },
            asio::detached);
    ioc_.restart();
    while (done < 4)
        if (ioc_.run_one() == 0) ioc_.restart();
    EXPECT_EQ(tokens_issued(), 1);
}

TEST_F(FptTest, ARefusedTokenIsRefreshedOnceAndTheMessageSent) {
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, fpt_sms("m1")).ok);
    control(R"({"expire_tokens": true})");
    SendResult r = send(*p, fpt_sms("m2"));
    EXPECT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(tokens_issued(), 2);
    EXPECT_EQ(requests("/api/push-brandname-otp").size(), 3u);
}

TEST_F(FptTest, WrongCredentialsAreAuthFailedAndNothingIsPushed) {
    auto p = make("", "wrong-secret");
    ASSERT_TRUE(p);
    SendResult r = send(*p, fpt_sms("m1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_NE(r.detail.find("1008"), std::string::npos) << r.detail;
    EXPECT_EQ(r.detail.find("wrong-secret"), std::string::npos);
    EXPECT_TRUE(requests("/api/push-brandname-otp").empty());
    EXPECT_FALSE(p->problem().empty());
}

TEST_F(FptTest, ScriptedAnswersAreClassified) {
    auto p = make();
    ASSERT_TRUE(p);
    struct Case {
        const char* control;
        bool ok;
        FailureClass cls;
        std::string_view reason;
    } cases[] = {
        {R"({"fail_next":1,"code":"2518"})", false, FailureClass::permanent,
         reason::kTemplateNotRegistered},
        {R"({"fail_next":1,"code":"2519"})", false, FailureClass::permanent,
         reason::kRejectedContent},
        {R"({"fail_next":1,"code":"2513"})", false, FailureClass::permanent, reason::kConfigError},
        {R"({"fail_next":1,"code":"http500"})", false, FailureClass::retryable,
         reason::kProviderUnavailable},
        {R"({"fail_next":1,"code":"http429"})", false, FailureClass::retryable, reason::kThrottled},
        {R"({"fail_next":1,"code":"2501"})", true, FailureClass::retryable, {}},
    };
    for (const auto& c : cases) {
        control(c.control);
        SendResult r = send(*p, fpt_sms("m-case"));
        EXPECT_EQ(r.ok, c.ok) << c.control << ": " << r.detail;
        if (!c.ok) {
            EXPECT_EQ(r.failure, c.cls) << c.control;
            EXPECT_EQ(r.reason, c.reason) << c.control << ": " << r.detail;
        }
    }
    control(R"({"fail_next":1,"code":"http429"})");
    SendResult r = send(*p, fpt_sms("m-429"));
    ASSERT_TRUE(r.retry_after);
    EXPECT_EQ(r.retry_after->count(), 7);
}

TEST_F(FptTest, TokenEndpointDownIsRetryableAndShownAsAProblem) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"token_fail_next": 1, "code": "http500"})");
    SendResult r = send(*p, fpt_sms("m1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    EXPECT_NE(p->problem().find("token"), std::string::npos);
}

TEST_F(FptTest, DeliveryReportsFindTheirMessageThroughTheStore) {
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, fpt_sms("m-dlr")).ok);  // MessageId 1000
    // A new provider (a restart) on the same store.
    auto after = make();
    auto res = after->handle_callback(
        report(R"({"smsid":"1000","Status":1,"Telco":"viettel","Error":"0","mt_count":1})"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_TRUE(res->updates.empty());
    ASSERT_TRUE(res->resolve);
    auto updates = run_until_done(ioc_, res->resolve());
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].message_id, "m-dlr");
    EXPECT_EQ(updates[0].provider_message_id, "1000");
    EXPECT_EQ(updates[0].state, "delivered");
    EXPECT_EQ(updates[0].dedupe_key, "fpt:1000:1");
    // An unknown id resolves to nothing.
    res = after->handle_callback(report(R"({"smsid":"999","Status":0})"));
    ASSERT_TRUE(res && res->resolve);
    EXPECT_TRUE(run_until_done(ioc_, res->resolve()).empty());
}

TEST_F(FptTest, DeliveryReportsByRequestIdPendingAndRefused) {
    auto p = make();
    ASSERT_TRUE(p);
    auto res = p->handle_callback(report(R"({"smsid":"7","RequestId":"m-7","Status":"0",
                                              "Error":"UNDELIV"})"));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->updates.size(), 1u);
    EXPECT_FALSE(res->resolve);
    EXPECT_EQ(res->updates[0].message_id, "m-7");
    EXPECT_EQ(res->updates[0].state, "failed");
    EXPECT_EQ(res->updates[0].reason, reason::kProviderError);
    EXPECT_NE(res->updates[0].detail.find("UNDELIV"), std::string::npos);
    for (const char* pending : {R"({"smsid":"7","Status":2})", R"({"smsid":"7","Status":-11})"}) {
        res = p->handle_callback(report(pending));
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_TRUE(res->updates.empty());
        EXPECT_FALSE(res->resolve);
    }
    // The same as a GET with query parameters.
    CallbackRequest get;
    get.method = "GET";
    get.query = {{"token", kFptToken}, {"RequestId", "m-8"}, {"smsid", "8"}, {"Status", "1"}};
    res = p->handle_callback(get);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->updates.size(), 1u);
    EXPECT_EQ(res->updates[0].message_id, "m-8");
    res = p->handle_callback(report(R"({"smsid":"7","Status":1})", "wrong-token-0123456789"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403);
    EXPECT_TRUE(res->updates.empty());
    EXPECT_FALSE(res->resolve);
    res = p->handle_callback(report("{not json"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
}

TEST(FptAdapter, WithoutCallbackTokenItTakesNoCallBacks) {
    YamlView cfg("client_id: i\nclient_secret: s\nbrandname: B\n");
    ProviderContext ctx;
    auto p = make_fpt_factory()->create(fpt_settings(), cfg.view, ctx);
    ASSERT_TRUE(p) << cfg.all();
    CallbackRequest r;
    r.method = "GET";
    r.query = {{"token", ""}, {"smsid", "1"}, {"Status", "1"}};
    EXPECT_FALSE(p->handle_callback(r));
}

TEST(FptAdapter, KeysAreCheckedWithTheirPath) {
    YamlView cfg(
        "base_url: ftp://x\nclient_id: \"\"\nscope: \"\"\ncallback_token: short\n"
        "colour: red\n");
    ProviderContext ctx;
    EXPECT_FALSE(make_fpt_factory()->create(fpt_settings(), cfg.view, ctx));
    std::string all = cfg.all();
    for (const char* want :
         {"providers[0].base_url: must be an http", "providers[0].client_id: must not be empty",
          "providers[0].client_secret", "providers[0].brandname", "providers[0].scope",
          "providers[0].callback_token: must be at least 16", "providers[0].colour"})
        EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
}

TEST(FptClassify, AnswersAndCodes) {
    auto r = classify_fpt_reply(answer(200, R"({"MessageId":"42","Telco":"mobi"})"));
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.provider_message_id, "42");
    r = classify_fpt_reply(answer(200, R"({"error":0,"MessageId":"43"})"));
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.provider_message_id, "43");
    r = classify_fpt_reply(answer(401, R"({"error":1013,"error_description":"expired"})"));
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    r = classify_fpt_reply(answer(200, R"({"error":1008})"));
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    r = classify_fpt_reply(answer(200, R"({"error":"9999"})"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderError);
    r = classify_fpt_reply(answer(200, "<html>"));
    EXPECT_EQ(r.reason, reason::kProviderError);
    r = classify_fpt_reply(answer(404, ""));
    EXPECT_EQ(r.reason, reason::kConfigError);
    HttpResponse timeout;
    timeout.error = HttpResponse::Error::timeout;
    EXPECT_EQ(classify_fpt_reply(timeout).reason, reason::kTimeout);
}

}  // namespace
