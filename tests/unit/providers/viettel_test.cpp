// The viettel adapter (SOAP wsCpMt) through the daemon's HttpPool against
// tests/fakes/fake_viettel.py on loopback, its classification, its keys, and the XML reader.
#include "providers/viettel/viettel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>

#include "daemon/io/http_pool.hpp"
#include "providers/reasons.hpp"
#include "providers/xml.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::YamlView;

namespace {

constexpr const char* kViettelVietnamese =
    "Hồ sơ 000.00.01.H62-250101-0001 <đã có> kết quả \"A\" 'B'. Mời nhận tại Bộ phận Một cửa.";

OutboundMessage viettel_sms(std::string id, std::string text = kViettelVietnamese,
                            bool unicode = true) {
    return test::sms_message(std::move(id), std::move(text), unicode);
}

ProviderSettings viettel_settings() {
    return test::provider_settings("viettel", "viettel", Channel::sms);
}

std::string soap_result(const std::string& message, int result) {
    return R"(<?xml version="1.0" ?><S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">)"
           R"(<S:Body><ns2:wsCpMtResponse xmlns:ns2="http://impl.bulkSms.ws/"><return><message>)" +
           message + "</message><result>" + std::to_string(result) +
           "</result></return></ns2:wsCpMtResponse></S:Body></S:Envelope>";
}

HttpResponse viettel_answer(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

class ViettelTest : public ::testing::Test {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_viettel.py"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_viettel did not start: '" << line << "'";
        base_url_ = "http://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& extra_yaml = "",
                                   const std::string& password = "test-password") {
        YamlView cfg("url: " + base_url_ + "/bulkapi\nuser: smsbrand_test\npassword: " + password +
                     "\ncp_code: TESTCP\nservice_id: TINBAO\n" + extra_yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        auto p = make_viettel_factory()->create(viettel_settings(), cfg.view, ctx);
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
    std::string base_url_;
};

TEST_F(ViettelTest, SendsTheSoapEnvelopeByteForByte) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, viettel_sms("mabc"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    const std::string rid = viettel_numeric_request_id("mabc");
    EXPECT_EQ(r.detail, "result 1: Insert MT_QUEUE: OK [RequestID " + rid + "]");
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json::object& req = reqs[0].as_object();
    EXPECT_EQ(req.at("path").as_string(), "/bulkapi");
    EXPECT_EQ(req.at("content_type").as_string(), "text/xml; charset=utf-8");
    EXPECT_EQ(req.at("soap_action").as_string(), "\"\"");
    const std::string expected =
        R"(<?xml version="1.0" encoding="UTF-8"?>)"
        R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" )"
        R"(xmlns:impl="http://impl.bulkSms.ws/"><soapenv:Header/><soapenv:Body><impl:wsCpMt>)"
        "<User>smsbrand_test</User><Password>test-password</Password><CPCode>TESTCP</CPCode>"
        "<RequestID>" +
        rid +
        "</RequestID><UserID>84912345678</UserID><ReceiverID>84912345678</ReceiverID>"
        "<ServiceID>TINBAO</ServiceID><CommandCode>bulksms</CommandCode>"
        "<Content>Hồ sơ 000.00.01.H62-250101-0001 &lt;đã có&gt; kết quả &quot;A&quot; "
        "&apos;B&apos;. Mời nhận tại Bộ phận Một cửa.</Content><ContentType>1</ContentType>"
        "</impl:wsCpMt></soapenv:Body></soapenv:Envelope>";
    EXPECT_EQ(std::string(req.at("raw").as_string()), expected);
    // The fake's XML parser reads the text back as it was.
    EXPECT_EQ(req.at("fields").at("Content").as_string(), kViettelVietnamese);
}

TEST_F(ViettelTest, UnaccentedTextGoesAsContentTypeZeroAndTheIdCanGoAsIs) {
    auto p = make("request_id: message_id\ncommand_code: bulksms\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, viettel_sms("m123", "Ho so da co ket qua", false));
    // The fake, like the integrators' gateway, wants a number.
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kConfigError);
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].at("fields").at("ContentType").as_string(), "0");
    EXPECT_EQ(reqs[0].at("fields").at("RequestID").as_string(), "m123");
}

TEST_F(ViettelTest, WrongPasswordIsAuthFailedWithoutTheSecret) {
    auto p = make("", "wrong-password");
    ASSERT_TRUE(p);
    SendResult r = send(*p, viettel_sms("m1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(r.detail.find("wrong-password"), std::string::npos);
    EXPECT_EQ(r.raw_response.find("wrong-password"), std::string::npos);
}

TEST_F(ViettelTest, ScriptedAnswersAreClassified) {
    auto p = make();
    ASSERT_TRUE(p);
    struct Case {
        const char* control;
        bool ok;
        FailureClass cls;
        std::string_view reason;
    } cases[] = {
        {R"({"fail_next":1,"message":"Check ServiceID: ALIAS_INVALID:TELCO=VT"})", false,
         FailureClass::permanent, reason::kConfigError},
        {R"({"fail_next":1,"code":"http500"})", false, FailureClass::retryable,
         reason::kProviderUnavailable},
        {R"({"fail_next":1,"code":"http429"})", false, FailureClass::retryable, reason::kThrottled},
        {R"({"fail_next":1,"code":"fault_server"})", false, FailureClass::retryable,
         reason::kProviderUnavailable},
        {R"({"fail_next":1,"code":"fault_client"})", false, FailureClass::permanent,
         reason::kConfigError},
        {R"({"fail_next":1,"message":"Check information error"})", false, FailureClass::retryable,
         reason::kProviderError},
        {R"({"fail_next":1,"message":"Check ServiceID: DUPLICATE MESSAGE"})",
         true,
         FailureClass::retryable,
         {}},
    };
    for (const auto& c : cases) {
        control(c.control);
        SendResult r = send(*p, viettel_sms("m-case"));
        EXPECT_EQ(r.ok, c.ok) << c.control << ": " << r.detail;
        if (!c.ok) {
            EXPECT_EQ(r.failure, c.cls) << c.control;
            EXPECT_EQ(r.reason, c.reason) << c.control << ": " << r.detail;
        }
    }
    control(R"({"fail_next":1,"code":"http429"})");
    SendResult r = send(*p, viettel_sms("m-429"));
    ASSERT_TRUE(r.retry_after);
    EXPECT_EQ(r.retry_after->count(), 7);
}

TEST(ViettelClassify, EveryKnownCheck) {
    struct Case {
        const char* message;
        bool ok;
        FailureClass cls;
        std::string_view reason;
    } cases[] = {
        {"Authenticate: WRONG_INFORMATION_AUTHENTICATE", false, FailureClass::permanent,
         reason::kAuthFailed},
        {"Authenticate: CP_CODE_NOT_FOUND", false, FailureClass::permanent, reason::kAuthFailed},
        {"Authenticate: IP_INVALID (YOUR IP: 10.0.0.1)", false, FailureClass::permanent,
         reason::kAuthFailed},
        {"Authenticate: Cp_code: NULL_OR_BLANK", false, FailureClass::permanent,
         reason::kConfigError},
        {"Check RequestID: REQUEST_ID_NOT_NUMBER", false, FailureClass::permanent,
         reason::kConfigError},
        {"Check ReceiverID: FORMAT_ERROR", false, FailureClass::permanent, reason::kInvalidPhone},
        {"Unable to check telco from input receiver", false, FailureClass::permanent,
         reason::kInvalidPhone},
        {"Length of ReceiverID is invalid.", false, FailureClass::permanent, reason::kInvalidPhone},
        {"Check ServiceID: ALIAS_INVALID:TELCO=VN", false, FailureClass::permanent,
         reason::kConfigError},
        {"Check CommandCode: COMMAND_CODE_ERROR", false, FailureClass::permanent,
         reason::kConfigError},
        {"Check Content: MAXLENGTH_LIMIT_480_BYTE (YOUR_CONTENT: 500 BYTE)", false,
         FailureClass::permanent, reason::kTooLong},
        {"Check Content: MSG_ERROR_CONTAIN_BLACKLIST", false, FailureClass::permanent,
         reason::kRejectedContent},
        {"Check template: CONTENT_NOT_MATCH_TEMPLATE", false, FailureClass::permanent,
         reason::kTemplateNotRegistered},
        {"Check information error", false, FailureClass::retryable, reason::kProviderError},
        {"Something new", false, FailureClass::retryable, reason::kProviderError},
        {"Check ServiceID: DUPLICATE MESSAGE", true, FailureClass::retryable, {}},
    };
    for (const auto& c : cases) {
        SendResult r = classify_viettel_reply(viettel_answer(200, soap_result(c.message, 0)));
        EXPECT_EQ(r.ok, c.ok) << c.message;
        if (!c.ok) {
            EXPECT_EQ(r.failure, c.cls) << c.message;
            EXPECT_EQ(r.reason, c.reason) << c.message;
        }
    }
    EXPECT_TRUE(
        classify_viettel_reply(viettel_answer(200, soap_result("Insert MT_QUEUE: OK", 1))).ok);
    // Success is result 1, whatever the message says.
    EXPECT_FALSE(
        classify_viettel_reply(viettel_answer(200, soap_result("Insert MT_QUEUE: OK", 0))).ok);
}

TEST(ViettelClassify, HttpAnswersAndGarbage) {
    auto r = classify_viettel_reply(viettel_answer(404, "Not Found"));
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kConfigError);
    r = classify_viettel_reply(viettel_answer(401, ""));
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    r = classify_viettel_reply(viettel_answer(503, "busy"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    r = classify_viettel_reply(viettel_answer(200, "<html>proxy login</html>"));
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderError);
    r = classify_viettel_reply(viettel_answer(200, "<result>1"));  // cut short
    EXPECT_EQ(r.reason, reason::kProviderError);
    HttpResponse timeout;
    timeout.error = HttpResponse::Error::timeout;
    r = classify_viettel_reply(timeout);
    EXPECT_EQ(r.reason, reason::kTimeout);
}

TEST(ViettelAdapter, ReplacesAmpersandsInTheTextItSends) {
    ProviderContext ctx;
    YamlView cfg(
        "url: http://127.0.0.1:1/bulkapi\nuser: u\npassword: p\ncp_code: c\n"
        "service_id: s\n");
    auto p = make_viettel_factory()->create(viettel_settings(), cfg.view, ctx);
    ASSERT_TRUE(p) << cfg.all();
    EXPECT_EQ(p->sms_text("Ho so A & B, C&D"), "Ho so A va B, CvaD");
    YamlView custom(
        "url: http://127.0.0.1:1/bulkapi\nuser: u\npassword: p\ncp_code: c\n"
        "service_id: s\nampersand_replacement: \"+\"\n");
    p = make_viettel_factory()->create(viettel_settings(), custom.view, ctx);
    ASSERT_TRUE(p) << custom.all();
    EXPECT_EQ(p->sms_text("A & B"), "A + B");
}

TEST(ViettelAdapter, KeysAreCheckedWithTheirPath) {
    ProviderContext ctx;
    YamlView cfg(
        "url: ftp://x\nuser: \"\"\ncp_code: c\nrequest_id: uuid\n"
        "ampersand_replacement: \"&amp;\"\ncolour: red\n");
    auto p = make_viettel_factory()->create(viettel_settings(), cfg.view, ctx);
    EXPECT_FALSE(p);
    std::string all = cfg.all();
    for (const char* want :
         {"providers[0].url: must be an http:// or https:// URL",
          "providers[0].user: must not be empty", "providers[0].password",
          "providers[0].service_id", "providers[0].request_id: must be",
          "providers[0].ampersand_replacement: must not contain '&'", "providers[0].colour"})
        EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
    EXPECT_NE(all.find("test.yaml:1:"), std::string::npos) << all;
}

TEST(ViettelAdapter, NumericRequestIdIsStableAndSmall) {
    auto a = viettel_numeric_request_id("mabcdefghijklmnopqrstuvwxy");
    EXPECT_EQ(a, viettel_numeric_request_id("mabcdefghijklmnopqrstuvwxy"));
    EXPECT_NE(a, viettel_numeric_request_id("mabcdefghijklmnopqrstuvwxz"));
    EXPECT_LE(a.size(), 9u);
    EXPECT_EQ(a.find_first_not_of("0123456789"), std::string::npos);
}

TEST(XmlReader, FindsElementsByLocalNameAndDecodes) {
    EXPECT_EQ(xml::element_text("<a><ns2:result>1</ns2:result></a>", "result"), "1");
    EXPECT_EQ(xml::element_text("<r x='>'>a &amp; b &lt;c&gt; &#273;&#x1EBF;</r>", "r"),
              "a & b <c> đế");
    EXPECT_EQ(xml::element_text("<r><![CDATA[<x> & y]]></r>", "r"), "<x> & y");
    EXPECT_EQ(xml::element_text("<!-- <r>no</r> --><r>yes</r>", "r"), "yes");
    EXPECT_EQ(xml::element_text("<r><b>in</b>side</r>", "r"), "inside");
    EXPECT_EQ(xml::element_text("<r/>", "r"), "");
    EXPECT_EQ(xml::element_text("<results>2</results><result>3</result>", "result"), "3");
    EXPECT_FALSE(xml::element_text("<r>cut", "r"));
    EXPECT_FALSE(xml::element_text("<x>1</x>", "r"));
    EXPECT_FALSE(xml::element_text("<r", "r"));
    EXPECT_EQ(xml::element_text("<r>&bogus; &#xZZ;</r>", "r"), "&bogus; &#xZZ;");
    EXPECT_EQ(xml::escaped("a&b<c>\"d'\r\x01"), "a&amp;b&lt;c&gt;&quot;d&apos;&#13; ");
}

}  // namespace
