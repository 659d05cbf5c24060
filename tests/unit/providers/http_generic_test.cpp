// The generic `http` adapter through the daemon's HttpPool: against the loopback server of the io
// tests (/echo answers with the request body, /status/<n> with that status) and against
// tests/fakes/fake_speedsms.py, configured as an operator would to reach SpeedSMS without code.
#include "providers/http_generic/http_generic.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <optional>

#include "daemon/io/http_pool.hpp"
#include "providers/reasons.hpp"
#include "tests/unit/io/test_http_server.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::TestHttpServer;
using tinbao::test::YamlView;

namespace {

OutboundMessage generic_sms(std::string text, int segments = 1) {
    OutboundMessage m;
    m.id = "msg-0007";
    m.event_id = "evt-7";
    m.dossier_code = "000.00.12.H62-261120-0007";
    m.channel = Channel::sms;
    m.to = "84912345678";
    m.text = std::move(text);
    m.unicode = true;
    m.segments = segments;
    return m;
}

ProviderSettings http_settings() { return test::provider_settings("gw", "http", Channel::sms); }

class HttpGenericTest : public ::testing::Test {
  protected:
    std::unique_ptr<Provider> make(const std::string& yaml) {
        YamlView cfg(yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        auto p = make_http_generic_factory()->create(http_settings(), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }
    SendResult send(Provider& p, const OutboundMessage& m) {
        return run_until_done(ioc_, p.send(m));
    }

    TestHttpServer server_;
    asio::io_context ioc_;
    HttpPool http_{ioc_.get_executor()};
};

TEST_F(HttpGenericTest, JsonBodyIsEscapedAndTheSuccessRuleReadsTheAnswer) {
    auto p = make(
        "url: " + server_.url("/echo") + "\n" +
        R"(body: '{"code": "00", "to": "{{ to }}", "text": "{{text}}", "unicode": {{ unicode }}, "data": {"ref": "X-{{ message_id }}"}}'
success: { status: [200, 201], json_field: code, equals: "00" }
message_id_field: data.ref
)");
    ASSERT_TRUE(p);
    const std::string text = "Hồ sơ \"A\\B\" đã có\nkết quả\t{{ to }}";
    SendResult r = send(*p, generic_sms(text));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail << " " << r.raw_response;
    EXPECT_EQ(r.provider_message_id, "X-msg-0007");
    // The echo is the body as sent: valid JSON holding the text unchanged.
    json::value sent = json::parse(r.raw_response);
    EXPECT_EQ(sent.at("text").as_string(), text);
    EXPECT_EQ(sent.at("to"), "84912345678");
    EXPECT_EQ(sent.at("unicode"), 1);
}

TEST_F(HttpGenericTest, AnAnswerThatFailsTheRuleIsRetryableUnlessListedPermanent) {
    std::string yaml = "url: " + server_.url("/echo") + "\n" +
                       R"(body: '{"code": "{{ segments }}"}'
success: { json_field: code, equals: "00" }
)";
    auto p = make(yaml);
    ASSERT_TRUE(p);
    SendResult r = send(*p, generic_sms("x", 7));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderError);
    EXPECT_NE(r.detail.find("code = 7"), std::string::npos) << r.detail;

    auto strict = make(yaml + "permanent_values: ['7', '9']\n");
    ASSERT_TRUE(strict);
    SendResult s = send(*strict, generic_sms("x", 7));
    EXPECT_EQ(s.failure, FailureClass::permanent);
    EXPECT_EQ(s.reason, reason::kRejectedContent);
    EXPECT_TRUE(send(*strict, generic_sms("x", 8)).failure == FailureClass::retryable);
}

TEST_F(HttpGenericTest, FormBodyIsUrlEncoded) {
    auto p = make("url: " + server_.url("/echo") + "\n" +
                  "content_type: form\nbody: 'to={{ to }}&text={{ text }}&ok=OK'\n"
                  "success: { body_contains: 'ok=OK' }\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, generic_sms("Hồ sơ & x=y"));
    ASSERT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.raw_response, "to=84912345678&text=H%E1%BB%93+s%C6%A1+%26+x%3Dy&ok=OK");

    auto q = make("url: " + server_.url("/echo") + "\n" +
                  "content_type: form\nbody: 'to={{ to }}'\nsuccess: { body_contains: 'OK' }\n");
    ASSERT_TRUE(q);
    SendResult f = send(*q, generic_sms("t"));
    EXPECT_FALSE(f.ok);
    EXPECT_EQ(f.failure, FailureClass::retryable);
}

TEST_F(HttpGenericTest, HttpStatusesAreClassified) {
    struct Case {
        int status;
        FailureClass cls;
        std::string_view reason;
    };
    for (const Case& c : {Case{400, FailureClass::permanent, reason::kRejectedContent},
                          Case{401, FailureClass::permanent, reason::kAuthFailed},
                          Case{404, FailureClass::permanent, reason::kConfigError},
                          Case{409, FailureClass::retryable, reason::kProviderError},
                          Case{503, FailureClass::retryable, reason::kProviderUnavailable},
                          Case{429, FailureClass::retryable, reason::kThrottled}}) {
        auto p =
            make("url: " + server_.url("/status/" + std::to_string(c.status)) + "\nbody: 'x'\n");
        ASSERT_TRUE(p);
        SendResult r = send(*p, generic_sms("t"));
        EXPECT_FALSE(r.ok) << c.status;
        EXPECT_EQ(r.failure, c.cls) << c.status;
        EXPECT_EQ(r.reason, c.reason) << c.status;
        if (c.status == 429 || c.status == 503) {
            ASSERT_TRUE(r.retry_after) << c.status;
            EXPECT_EQ(*r.retry_after, std::chrono::seconds(7));
        }
    }
    auto p = make("url: " + server_.url("/status/503") + "\npermanent_status: [503]\n");
    ASSERT_TRUE(p);
    EXPECT_EQ(send(*p, generic_sms("t")).failure, FailureClass::permanent);
}

class HttpGenericSpeedSms : public HttpGenericTest {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_speedsms.py", "--token",
            "the-access-token"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << line;
        base_ = "http://127.0.0.1:" + line.substr(5);
    }
    json::array requests() {
        HttpRequest r;
        r.method = "GET";
        r.url = base_ + "/_requests";
        return json::parse(run_until_done(ioc_, http_.perform(r)).body).as_array();
    }
    std::optional<ChildProcess> fake_;
    std::string base_;
};

TEST_F(HttpGenericSpeedSms, AGatewayReachedByConfigurationOnly) {
    auto p = make("url: " + base_ + "/index.php/sms/send\n" + R"(headers:
  Authorization: Basic dGhlLWFjY2Vzcy10b2tlbjp4
body: |
  {"to": ["{{ to }}"], "content": "{{ text }}", "sms_type": 3, "sender": "UBND-VLONG"}
success: { status: [200], json_field: status, equals: success }
message_id_field: data.tranId
)");
    ASSERT_TRUE(p);
    const std::string text = "Ho so \"000.00.12\" da co ket qua";
    SendResult r = send(*p, generic_sms(text));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail << " " << r.raw_response;
    EXPECT_EQ(r.provider_message_id, "1001");

    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].at("authorization"), "Basic dGhlLWFjY2Vzcy10b2tlbjp4");
    EXPECT_EQ(reqs[0].at("content_type"), "application/json; charset=utf-8");
    json::object expected{{"to", json::array{"84912345678"}},
                          {"content", text},
                          {"sms_type", 3},
                          {"sender", "UBND-VLONG"}};
    EXPECT_EQ(reqs[0].at("body"), expected) << json::serialize(reqs[0].at("body"));

    // The gateway's own error code fails the rule.
    auto bad = make("url: " + base_ + "/index.php/sms/send\n" +
                    R"(headers: { Authorization: Basic d3Jvbmc6eA== }
body: '{"to": ["{{ to }}"], "content": "{{ text }}", "sms_type": 3, "sender": "B"}'
)");
    ASSERT_TRUE(bad);
    SendResult f = send(*bad, generic_sms(text));
    EXPECT_EQ(f.failure, FailureClass::permanent);
    EXPECT_EQ(f.reason, reason::kAuthFailed);
}

TEST_F(HttpGenericSpeedSms, GetPutsPercentEncodedValuesInTheUrl) {
    auto p = make("url: '" + base_ + "/api/send?to={{ to }}&msg={{ text }}&id={{ message_id }}'\n" +
                  "method: get\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, generic_sms("Hồ sơ & x=y"));
    EXPECT_EQ(r.failure, FailureClass::permanent);  // the fake has no such path: 404
    EXPECT_EQ(r.reason, reason::kConfigError);
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].at("method"), "GET");
    EXPECT_EQ(reqs[0].at("path"),
              "/api/send?to=84912345678&msg=H%E1%BB%93%20s%C6%A1%20%26%20x%3Dy&id=msg-0007");
}

// A SOAP gateway without an adapter of its own, reached by configuration: the Viettel fake.
class HttpGenericSoap : public HttpGenericTest {
  protected:
    void SetUp() override {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_viettel.py"});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << line;
        base_ = "http://127.0.0.1:" + line.substr(5);
    }
    std::string yaml(const std::string& user = "smsbrand_test", const std::string& extra = "") {
        return "url: " + base_ + "/bulkapi\n" +
               "content_type: xml\nheaders: { SOAPAction: '\"\"' }\n" +
               "body: '<?xml version=\"1.0\" encoding=\"UTF-8\"?><s:Envelope "
               "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><w:wsCpMt "
               "xmlns:w=\"http://impl.bulkSms.ws/\"><User>" +
               user +
               "</User><Password>test-password</Password><CPCode>TESTCP</CPCode>"
               "<RequestID>1</RequestID><UserID>{{ to }}</UserID><ReceiverID>{{ to }}</ReceiverID>"
               "<ServiceID>TINBAO</ServiceID><CommandCode>bulksms</CommandCode>"
               "<Content>{{ text }}</Content><ContentType>{{ unicode }}</ContentType>"
               "</w:wsCpMt></s:Body></s:Envelope>'\n" +
               "success: { xml_element: result, equals: '1' }\n" + extra;
    }
    json::array requests() {
        HttpRequest r;
        r.method = "GET";
        r.url = base_ + "/_requests";
        return json::parse(run_until_done(ioc_, http_.perform(r)).body).as_array();
    }
    std::optional<ChildProcess> fake_;
    std::string base_;
};

TEST_F(HttpGenericSoap, XmlBodyIsEscapedAndTheSuccessRuleReadsAnElement) {
    auto p = make(yaml());
    ASSERT_TRUE(p);
    const std::string text = "Hồ sơ <A&B> \"đã\" 'có' kết quả";
    SendResult r = send(*p, generic_sms(text));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail << " " << r.raw_response;
    json::array reqs = requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].at("content_type"), "text/xml; charset=utf-8");
    EXPECT_EQ(reqs[0].at("soap_action"), "\"\"");
    // The fake's XML parser reads back every value as it was.
    const auto& f = reqs[0].at("fields");
    EXPECT_EQ(std::string(f.at("Content").as_string()), text);
    EXPECT_EQ(f.at("ReceiverID"), "84912345678");
    EXPECT_EQ(f.at("ContentType"), "1");
    std::string raw(reqs[0].at("raw").as_string());
    EXPECT_NE(raw.find("<Content>Hồ sơ &lt;A&amp;B&gt; &quot;đã&quot; &apos;có&apos; kết quả"
                       "</Content>"),
              std::string::npos)
        << raw;
}

TEST_F(HttpGenericSoap, AnotherResultFailsTheRuleAndPermanentValuesApply) {
    auto p = make(yaml("wrong-user"));
    ASSERT_TRUE(p);
    SendResult r = send(*p, generic_sms("t"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderError);
    EXPECT_NE(r.detail.find("element result = 0"), std::string::npos) << r.detail;
    auto strict = make(yaml("wrong-user", "permanent_values: ['0']\n"));
    ASSERT_TRUE(strict);
    SendResult s = send(*strict, generic_sms("t"));
    EXPECT_EQ(s.failure, FailureClass::permanent);
    EXPECT_EQ(s.reason, reason::kRejectedContent);
}

TEST(HttpGenericFactory, ChecksItsXmlKeys) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    YamlView bad(R"(url: http://gw.example.vn/send
body: '<a>{{ text }}</a>'
content_type: xml
success: { xml_element: "a b", json_field: code, equals: "1" }
)");
    EXPECT_EQ(make_http_generic_factory()->create(http_settings(), bad.view, ctx), nullptr);
    std::string all = bad.all();
    for (const char* what : {"must be an element name", "exclude each other"})
        EXPECT_NE(all.find(what), std::string::npos) << what << "\n" << all;
    YamlView missing(R"(url: http://gw.example.vn/send
body: '<a>{{ text }}</a>'
content_type: xml
success: { xml_element: result }
)");
    EXPECT_EQ(make_http_generic_factory()->create(http_settings(), missing.view, ctx), nullptr);
    EXPECT_NE(missing.all().find("equals: required with json_field or xml_element"),
              std::string::npos)
        << missing.all();
}

TEST(HttpGenericFactory, ChecksItsKeys) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    YamlView bad(R"(url: http://gw.example.vn/send
method: DELETE
body: '{"to": "{{ phone }}"}'
content_type: yaml
success: { equals: "00", status: [200, 999] }
permanent_status: [abc]
)");
    EXPECT_EQ(make_http_generic_factory()->create(http_settings(), bad.view, ctx), nullptr);
    std::string all = bad.all();
    for (const char* what :
         {"method", "phone", "content_type", "json_field", "999", "permanent_status"})
        EXPECT_NE(all.find(what), std::string::npos) << what << "\n" << all;

    YamlView good("url: https://gw.example.vn/send\nbody: 'to={{ to }}'\ncontent_type: form\n");
    EXPECT_NE(make_http_generic_factory()->create(http_settings(), good.view, ctx), nullptr)
        << good.all();
}

}  // namespace
