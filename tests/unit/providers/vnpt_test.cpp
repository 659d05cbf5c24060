// The vnpt adapter through the daemon's HttpPool against tests/fakes/fake_vnpt.py on loopback, its
// keys and its classification of answers.
#include "providers/vnpt/vnpt.hpp"

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

ProviderSettings vnpt_settings() { return test::provider_settings("vnpt", "vnpt", Channel::sms); }

const std::string kKeys =
    "api_user: the-user\napi_pass: the-pass\nusername: ubnd\nagent_id: 191\nlabel_id: 12911\n"
    "contract_type_id: 1\ncontract_id: 19741\n";

OutboundMessage message(std::string id = "m1") {
    OutboundMessage m;
    m.id = std::move(id);
    m.channel = Channel::sms;
    m.to = "84912345678";
    m.text = "tinbao's own text";
    m.provider_params.template_id = "3101";
    m.provider_params.values = {"H12.34-261127-0001", "Nguyễn Văn An"};
    m.provider_params.unicode = true;
    return m;
}

class VnptTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_vnpt.py", "--api-user",
            "the-user", "--api-pass", "the-pass", "--templates", "3101:2"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_vnpt did not start: '" << line << "'";
        base_url_ = "http://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& extra = "") {
        YamlView cfg("url: " + base_url_ + "/smsbn/api\n" + kKeys +
                     "templates: { result_ready: { id: 3101, params: ['{{ dossier.code }}', "
                     "'{{ applicant.name }}'] } }\n" +
                     extra);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        auto p = make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx);
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
        ASSERT_EQ(call("POST", "/_control", body).status, 200);
    }
    json::array requests() { return json::parse(call("GET", "/_requests").body).as_array(); }

    asio::io_context ioc_;
    HttpPool http_{ioc_.get_executor()};
    std::optional<ChildProcess> fake_;
    std::string base_url_;
};

TEST_F(VnptTest, SendsTheTemplateAndItsNumberedParameters) {
    auto p = make();
    ASSERT_TRUE(p);
    auto r = send(*p, message("mABC"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(r.detail, "ERROR 0: success");
    auto reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].at("path").as_string(), "/smsbn/api");
    EXPECT_EQ(
        reqs[0].at("raw").as_string(),
        R"({"RQST":{"name":"send_sms_list","REQID":"mABC","LABELID":"12911",)"
        R"("CONTRACTTYPEID":"1","CONTRACTID":"19741","TEMPLATEID":"3101","PARAMS":[)"
        R"({"NUM":"1","CONTENT":"H12.34-261127-0001"},{"NUM":"2","CONTENT":"Nguyễn Văn An"}],)"
        R"("SCHEDULETIME":"","MOBILELIST":"84912345678","ISTELCOSUB":"0","AGENTID":"191",)"
        R"("APIUSER":"the-user","APIPASS":"the-pass","USERNAME":"ubnd","DATACODING":"8"}})");
}

TEST_F(VnptTest, DataCodingFollowsTheFormAndTheConfiguredValues) {
    auto p = make("is_telco_sub: 1\ndata_coding: { gsm7: '0', ucs2: '18' }\n");
    ASSERT_TRUE(p);
    auto m = message();
    ASSERT_TRUE(send(*p, m).ok);
    m.provider_params.unicode = false;
    m.provider_params.values[1] = "Nguyen Van An";
    ASSERT_TRUE(send(*p, m).ok);
    auto reqs = requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].at("body").at("RQST").at("DATACODING").as_string(), "18");
    EXPECT_EQ(reqs[1].at("body").at("RQST").at("DATACODING").as_string(), "0");
    EXPECT_EQ(reqs[1].at("body").at("RQST").at("ISTELCOSUB").as_string(), "1");
}

TEST_F(VnptTest, ErrorCodesAreClassified) {
    auto p = make(
        "error_reasons: { '1': auth_failed, '3': template_not_registered, "
        "'9': quota_exceeded }\n");
    ASSERT_TRUE(p);
    control(R"({"fail_next":1,"code":"9","desc":"het han muc"})");
    auto r = send(*p, message());
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kQuotaExceeded);
    EXPECT_EQ(r.detail, "ERROR 9: het han muc");
    // A code nobody classified is the provider's trouble: retryable.
    control(R"({"fail_next":1,"code":"77","desc":"?"})");
    r = send(*p, message());
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderError);
    // The fake's own refusal of a template it does not know.
    auto m = message();
    m.provider_params.template_id = "4000";
    r = send(*p, m);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kTemplateNotRegistered);
    EXPECT_EQ(r.detail, "ERROR 3: template not found");
    control(R"({"fail_next":1,"code":"http500"})");
    r = send(*p, message());
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    control(R"({"fail_next":1,"code":"http429","retry_after":9})");
    r = send(*p, message());
    EXPECT_EQ(r.reason, reason::kThrottled);
    EXPECT_EQ(r.retry_after, std::chrono::seconds(9));
}

TEST_F(VnptTest, WrongCredentialsAreRefused) {
    YamlView cfg("url: " + base_url_ +
                 "/api\napi_user: the-user\napi_pass: wrong\n"
                 "username: u\nagent_id: 1\nlabel_id: 2\ncontract_type_id: 1\ncontract_id: 3\n"
                 "templates: { result_ready: { id: 3101, params: [a, b] } }\n"
                 "error_reasons: { '1': auth_failed }\n");
    ProviderContext ctx;
    ctx.executor = ioc_.get_executor();
    ctx.http = &http_;
    auto p = make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx);
    ASSERT_TRUE(p) << cfg.all();
    auto r = send(*p, message());
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.detail.find("wrong"), std::string::npos);  // the password is never repeated
}

TEST_F(VnptTest, AMessageWithoutAPlannedTemplateIsNotSent) {
    auto p = make();
    ASSERT_TRUE(p);
    auto m = message();
    m.provider_params = {};
    auto r = send(*p, m);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kTemplateNotRegistered);
    EXPECT_TRUE(requests().empty());
}

TEST_F(VnptTest, AnUnreachableGatewayIsRetryable) {
    // Nothing listens on port 1: the request fails at once, retryable.
    YamlView cfg("url: http://127.0.0.1:1/api\n" + kKeys +
                 "templates: { result_ready: { id: 3101 } }\n");
    ProviderContext ctx;
    ctx.executor = ioc_.get_executor();
    ctx.http = &http_;
    auto p = make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx);
    ASSERT_TRUE(p) << cfg.all();
    auto r = send(*p, message());
    EXPECT_EQ(r.failure, FailureClass::retryable);
}

TEST(VnptConfig, DeclaresItsTemplatesWithWhereTheyStand) {
    YamlView cfg("url: https://sms.vnpt.example/api\n" + kKeys +
                 "templates:\n"
                 "  result_ready:\n"
                 "    id: 3101\n"
                 "    params: [\"{{ dossier.code }}\", '{{ applicant.name }}']\n"
                 "    text: 'Ho so {1} cua {2} da co ket qua'\n"
                 "  received: { id: 3100, params: [x] }\n");
    ProviderContext ctx;
    auto p = make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx);
    ASSERT_TRUE(p) << cfg.all();
    auto t = p->param_templates();
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0].status, "result_ready");
    EXPECT_EQ(t[0].file, "test.yaml");
    EXPECT_EQ(t[0].line, 10);
    EXPECT_EQ(t[0].template_id, "3101");
    ASSERT_EQ(t[0].params.size(), 2u);
    EXPECT_EQ(t[0].params[0].text, "{{ dossier.code }}");
    EXPECT_EQ(t[0].params[0].line, 12);
    EXPECT_EQ(t[0].params[0].column, 15);  // after the quote
    EXPECT_EQ(t[0].wording, "Ho so {1} cua {2} da co ket qua");
    EXPECT_EQ(t[1].params[0].text, "x");
}

TEST(VnptConfig, ReportsEveryBadKeyWithItsLine) {
    YamlView cfg(
        "url: ftp://x\napi_user: u\nusername: n\nagent_id: 1\nlabel_id: ''\n"
        "contract_type_id: 1\ncontract_id: 2\nis_telco_sub: 2\n"
        "error_reasons: { '5': nonsense }\n"
        "templates:\n"
        "  result_ready: { id: abc, params: [a], text: 'Ho so {2}', colour: red }\n");
    ProviderContext ctx;
    auto p = make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx);
    EXPECT_FALSE(p);
    const std::string all = cfg.all();
    for (const char* expected :
         {"test.yaml:1: providers[0].url: must be an http:// or https:// URL",
          "providers[0].api_pass: required key is missing",
          "test.yaml:5: providers[0].label_id: must not be empty",
          "test.yaml:8: providers[0].is_telco_sub: must be between 0 and 1",
          "test.yaml:9: providers[0].error_reasons.5: unknown reason 'nonsense'",
          "test.yaml:11: providers[0].templates.result_ready.id: must be the VNPT template id",
          "providers[0].templates.result_ready.text: {2} but only 1 params",
          "providers[0].templates.result_ready.colour"})
        EXPECT_NE(all.find(expected), std::string::npos) << expected << "\n" << all;
}

TEST(VnptConfig, NeedsAtLeastOneTemplate) {
    YamlView cfg("url: https://x/api\n" + kKeys + "templates: {}\n");
    ProviderContext ctx;
    EXPECT_FALSE(make_vnpt_factory()->create(vnpt_settings(), cfg.view, ctx));
    EXPECT_NE(cfg.all().find("templates: needs the VNPT template of at least one status"),
              std::string::npos)
        << cfg.all();
}

TEST(VnptReply, UnknownAnswersAreRetryable) {
    HttpResponse r;
    r.status = 200;
    r.body = "<html>gateway</html>";
    auto s = classify_vnpt_reply(r);
    EXPECT_EQ(s.failure, FailureClass::retryable);
    EXPECT_EQ(s.reason, reason::kProviderError);
    r.body = R"({"RPLY":{"name":"send_sms_list","ERROR":0,"ERROR_DESC":"success"}})";
    EXPECT_TRUE(classify_vnpt_reply(r).ok);  // a number where a string is documented
    r.status = 401;
    EXPECT_EQ(classify_vnpt_reply(r).reason, reason::kAuthFailed);
}

}  // namespace
