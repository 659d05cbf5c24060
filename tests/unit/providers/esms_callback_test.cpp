// eSMS delivery reports: the CallbackUrl the adapter sends (checked on the wire with
// tests/fakes/fake_esms.py) and EsmsProvider::handle_callback for the GET eSMS makes.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>

#include "daemon/io/http_pool.hpp"
#include "providers/esms/esms.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::YamlView;

namespace {

constexpr const char* kToken = "cb-token-0123456789abcdef";

ProviderSettings settings(std::string name = "esms-main") {
    ProviderSettings s;
    s.name = std::move(name);
    s.type = "esms";
    s.channel = Channel::sms;
    s.timeout = std::chrono::seconds(5);
    return s;
}

std::string keys(const std::string& base_url = "http://127.0.0.1:1") {
    return "base_url: " + base_url + "\napi_key: k\nsecret_key: s\nbrandname: UBND-VLONG\n";
}

std::unique_ptr<Provider> make(asio::io_context& ioc, const std::string& yaml,
                               std::string public_base = {}, HttpClient* http = nullptr,
                               std::string* errors = nullptr) {
    YamlView cfg(yaml);
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    ctx.http = http;
    ctx.public_base_url = std::move(public_base);
    auto p = make_esms_factory()->create(settings(), cfg.view, ctx);
    if (errors) *errors = cfg.all();
    return p;
}

CallbackRequest report(std::vector<std::pair<std::string, std::string>> query) {
    CallbackRequest r;
    r.method = "GET";
    r.query = std::move(query);
    return r;
}

std::vector<std::pair<std::string, std::string>> finished(std::string status, std::string ok,
                                                          std::string failed,
                                                          std::string token = kToken) {
    return {{"SMSID", "5a7c3d1e-esms"},
            {"SendFailed", failed},
            {"SendStatus", status},
            {"SendSuccess", ok},
            {"TotalReceiver", "1"},
            {"RequestId", "msg-0042"},
            {"TypeId", "2"},
            {"telcoid", "1"},
            {"phonenumber", "84912345678"},
            {"token", token}};
}

TEST(EsmsCallbackUrl, BuiltFromThePublicBaseWithTheTokenAndSentOnTheWire) {
    ChildProcess fake({"python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_esms.py",
                       "--api-key", "k", "--secret-key", "s"});
    std::string line = fake.read_line(std::chrono::seconds(15));
    ASSERT_TRUE(line.starts_with("PORT ")) << line;
    std::string base = "http://127.0.0.1:" + line.substr(5);

    asio::io_context ioc;
    HttpPool http(ioc.get_executor());
    std::string errors;
    auto p = make(ioc, keys(base) + "callback_token: " + kToken + "\n",
                  "https://tinbao.vinhlong.gov.vn/", &http, &errors);
    ASSERT_TRUE(p) << errors;
    OutboundMessage m;
    m.id = "msg-0042";
    m.channel = Channel::sms;
    m.to = "84912345678";
    m.text = "Ho so da co ket qua";
    SendResult r = run_until_done(ioc, p->send(m));
    ASSERT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(json::parse(r.raw_response).at("SMSID").as_string(), r.provider_message_id)
        << r.raw_response;

    HttpRequest get;
    get.method = "GET";
    get.url = base + "/_requests";
    HttpResponse reqs = run_until_done(ioc, http.perform(get));
    json::array all = json::parse(reqs.body).as_array();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].at("body").at("CallbackUrl").as_string(),
              std::string("https://tinbao.vinhlong.gov.vn/v1/callbacks/esms-main?token=") + kToken);
}

TEST(EsmsCallbackUrl, ExplicitUrlGetsTheTokenToo) {
    asio::io_context ioc;
    std::string errors;
    auto p = make(
        ioc,
        keys() + "callback_url: https://gw.example.vn/cb?x=1\ncallback_token: " + kToken + "\n", "",
        nullptr, &errors);
    ASSERT_TRUE(p) << errors;
    // The token it expects is the one it sends.
    CallbackResult r = *p->handle_callback(report(finished("5", "1", "0")));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.updates.size(), 1u);
}

TEST(EsmsCallbackUrl, PublicBaseWithoutTokenOrWithAShortOneIsAnError) {
    asio::io_context ioc;
    std::string errors;
    EXPECT_EQ(make(ioc, keys(), "https://tinbao.example.vn", nullptr, &errors), nullptr);
    EXPECT_NE(errors.find("callback_token"), std::string::npos) << errors;
    EXPECT_EQ(make(ioc, keys() + "callback_token: short\n", "", nullptr, &errors), nullptr);
    EXPECT_NE(errors.find("16 characters"), std::string::npos) << errors;
    // Without a public base and without callback keys, reports are simply not asked for.
    EXPECT_NE(make(ioc, keys(), "", nullptr, &errors), nullptr) << errors;
}

class EsmsCallback : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string errors;
        p_ = make(ioc_, keys() + "callback_token: " + kToken + "\n", "https://t.example.vn",
                  nullptr, &errors);
        ASSERT_TRUE(p_) << errors;
    }
    CallbackResult call(std::vector<std::pair<std::string, std::string>> q) {
        auto r = p_->handle_callback(report(std::move(q)));
        EXPECT_TRUE(r.has_value());
        return r ? *r : CallbackResult{};
    }
    asio::io_context ioc_;
    std::unique_ptr<Provider> p_;
};

TEST_F(EsmsCallback, FinishedWithSuccessIsDelivered) {
    CallbackResult r = call(finished("5", "1", "0"));
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(r.updates.size(), 1u);
    EXPECT_EQ(r.updates[0].message_id, "msg-0042");
    EXPECT_EQ(r.updates[0].provider_message_id, "5a7c3d1e-esms");
    EXPECT_EQ(r.updates[0].state, "delivered");
    EXPECT_TRUE(r.updates[0].reason.empty());
    EXPECT_EQ(r.updates[0].detail.find("84912345678"), std::string::npos);
}

TEST_F(EsmsCallback, RejectedIsFailedRejectedContent) {
    CallbackResult r = call(finished("4", "0", "0"));
    ASSERT_EQ(r.updates.size(), 1u);
    EXPECT_EQ(r.updates[0].state, "failed");
    EXPECT_EQ(r.updates[0].reason, reason::kRejectedContent);
}

TEST_F(EsmsCallback, FinishedWithFailureIsFailedProviderError) {
    CallbackResult r = call(finished("5", "0", "1"));
    ASSERT_EQ(r.updates.size(), 1u);
    EXPECT_EQ(r.updates[0].state, "failed");
    EXPECT_EQ(r.updates[0].reason, reason::kProviderError);
    EXPECT_NE(r.updates[0].detail.find("SendFailed 1"), std::string::npos) << r.updates[0].detail;
}

TEST_F(EsmsCallback, NonFinalStatusesChangeNothing) {
    for (const char* status : {"1", "2", "7"}) {
        CallbackResult r = call(finished(status, "0", "0"));
        EXPECT_EQ(r.status, 200) << status;
        EXPECT_TRUE(r.updates.empty()) << status;
    }
    EXPECT_TRUE(call(finished("5", "0", "0")).updates.empty());
}

TEST_F(EsmsCallback, WrongOrMissingTokenIsForbiddenWithoutUpdates) {
    std::string almost = kToken;
    almost.back() = almost.back() == 'f' ? 'e' : 'f';
    for (const std::string& bad :
         {almost, std::string(kToken) + "x", std::string(""), std::string(kToken).substr(0, 10)}) {
        CallbackResult r = call(finished("5", "1", "0", bad));
        EXPECT_EQ(r.status, 403) << bad;
        EXPECT_TRUE(r.updates.empty()) << bad;
    }
    auto q = finished("5", "1", "0");
    q.pop_back();  // no token at all
    CallbackResult r = call(q);
    EXPECT_EQ(r.status, 403);
    EXPECT_TRUE(r.updates.empty());
}

TEST(EsmsCallbackNoToken, EveryReportIsForbidden) {
    asio::io_context ioc;
    auto p = make(ioc, keys());
    ASSERT_TRUE(p);
    auto r = p->handle_callback(report(finished("5", "1", "0", "")));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 403);
    EXPECT_TRUE(r->updates.empty());
}

}  // namespace
