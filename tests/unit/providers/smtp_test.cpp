// The smtp adapter: the MIME builder on its own, then whole sends through a real CurlMulti to
// tests/fakes/smtp_server.py (aiosmtpd), which decodes each message with Python's email package.
#include "providers/smtp/smtp.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "daemon/io/curl_multi.hpp"
#include "providers/reasons.hpp"
#include "providers/smtp/mime.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::ScratchDir;
using tinbao::test::YamlView;

namespace {

const std::string kSubject =
    "Hồ sơ 000.00.12.H62-261120-0007 đã có kết quả — mời Ông/Bà Nguyễn Thị Ánh Tuyết đến nhận "
    "tại Bộ phận Một cửa";
const std::string kText =
    "Kính gửi Ông/Bà Nguyễn Thị Ánh Tuyết,\n\nHồ sơ 000.00.12.H62-261120-0007 đã có kết quả.\n"
    ".Dòng bắt đầu bằng dấu chấm, và một dòng rất dài: " +
    std::string(300, 'x') + " hết.\nDấu bằng = và khoảng trắng cuối dòng   \n";
const std::string kHtml =
    "<p>Kính gửi Ông/Bà <b>Nguyễn Thị &lt;Ánh&gt; Tuyết &amp; gia đình</b>,</p>\n"
    "<p>Ghi chú: &lt;script&gt;alert(1)&lt;/script&gt;</p>\n";
const std::string kFrom = "Sở Tư pháp tỉnh Vĩnh Long <noreply@sotuphap.vinhlong.gov.vn>";

std::string python() {
    // Debian's interpreter carries python3-aiosmtpd; another python3 on PATH may not.
    return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> crlf_lines(const std::string& raw) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < raw.size()) {
        std::size_t end = raw.find("\r\n", start);
        if (end == std::string::npos) end = raw.size();
        lines.push_back(raw.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

OutboundMessage mail(std::string id, std::string to = "tuyet.nguyen@example.vn") {
    OutboundMessage m;
    m.id = std::move(id);
    m.event_id = "evt-1";
    m.dossier_code = "000.00.12.H62-261120-0007";
    m.channel = Channel::email;
    m.to = std::move(to);
    m.subject = kSubject;
    m.text = kText;
    m.html = kHtml;
    return m;
}

OutboundMessage mail_to_send() { return mail("msg-1"); }

ProviderSettings smtp_settings() {
    return test::provider_settings("mail", "smtp", Channel::email, std::chrono::seconds(10));
}

// --- the MIME builder ---

TEST(Mime, QuotedPrintableEncodesWhatMustBeEncoded) {
    EXPECT_EQ(mime::quoted_printable("a=b"), "a=3Db\r\n");
    EXPECT_EQ(mime::quoted_printable("end \nnext\t\n"), "end=20\r\nnext=09\r\n");
    EXPECT_EQ(mime::quoted_printable(".start"), "=2Estart\r\n");
    EXPECT_EQ(mime::quoted_printable("đ"), "=C4=91\r\n");
    std::string qp = mime::quoted_printable(std::string(200, 'a') + "ồ");
    for (const auto& line : crlf_lines(qp)) EXPECT_LE(line.size(), 76u) << line;
    EXPECT_NE(qp.find("=\r\n"), std::string::npos);  // soft breaks
}

TEST(Mime, HeaderTextIsRawWhenPlainAndEncodedWordsOtherwise) {
    EXPECT_EQ(mime::encode_header_text("Ho so da co ket qua", 9), "Ho so da co ket qua");
    EXPECT_EQ(mime::encode_header_text("Hồ sơ", 9), "=?UTF-8?B?SOG7kyBzxqE=?=");
    std::string folded = mime::encode_header_text(kSubject, 9);
    auto lines = crlf_lines(folded);
    ASSERT_GT(lines.size(), 1u);
    EXPECT_LE(lines[0].size() + 9, 76u);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i][0], ' ');
        EXPECT_LE(lines[i].size(), 76u) << lines[i];
    }
}

TEST(Mime, LineBreaksInValuesCannotAddHeaders) {
    mime::Message m;
    EXPECT_FALSE(mime::parse_mailbox("Evil\r\nBcc: x@y.vn <a@b.vn>"));
    m.from = mime::Mailbox{"Evil\r\nBcc: x@y.vn", "a@b.vn"};
    m.to = "c@d.vn";
    m.subject = "Hello\r\nBcc: victim@example.vn";
    m.text = "t";
    m.message_id = "x@b.vn";
    std::string raw = mime::build_message(m);
    for (const auto& line : crlf_lines(raw)) EXPECT_FALSE(line.starts_with("Bcc:")) << raw;
}

TEST(Mime, ParsesMailboxes) {
    auto a = mime::parse_mailbox(kFrom);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->display_name, "Sở Tư pháp tỉnh Vĩnh Long");
    EXPECT_EQ(a->address, "noreply@sotuphap.vinhlong.gov.vn");
    auto b = mime::parse_mailbox("\"Phòng \\\"A\\\"\" <a@b.vn>");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->display_name, "Phòng \"A\"");
    EXPECT_FALSE(mime::parse_mailbox("no-at-sign"));
    EXPECT_FALSE(mime::parse_mailbox("a b@c.vn"));
    EXPECT_FALSE(mime::parse_mailbox("Name <a@b.vn"));
    EXPECT_FALSE(mime::valid_address("a@b.vn\r\nRCPT TO:<x@y>"));
}

TEST(Mime, DateIsRfc5322InVietnamTime) {
    // 2026-11-27T04:05:38Z is Friday 11:05:38 in Asia/Ho_Chi_Minh.
    auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1795752338));
    EXPECT_EQ(mime::rfc5322_date(t, 420), "Fri, 27 Nov 2026 11:05:38 +0700");
    EXPECT_EQ(mime::rfc5322_date(t, 0), "Fri, 27 Nov 2026 04:05:38 +0000");
}

TEST(Mime, MessageIdKeepsOnlySafeCharacters) {
    EXPECT_EQ(mime::make_message_id("msg-01.A_b", "noreply@x.gov.vn"), "msg-01.A_b@x.gov.vn");
    EXPECT_EQ(mime::make_message_id("a b<c>", "n@x.vn"), "a_b_c_@x.vn");
}

// --- sends against a real SMTP server ---

class SmtpTest : public ::testing::Test {
  protected:
    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{
            python(), std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/smtp_server.py", "--dir",
            dir_.path().string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        server_.emplace(argv);
        std::string line = server_->read_line(std::chrono::seconds(20));
        ASSERT_TRUE(line.starts_with("PORT ")) << "smtp_server did not start: '" << line << "'";
        url_ = "smtp://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& extra_yaml = "", std::string url = {}) {
        if (url.empty()) url = url_;
        YamlView cfg("url: " + url + "\nfrom: \"" + kFrom + "\"\n" + extra_yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &curl_;
        ctx.mail = &curl_;
        auto p = make_smtp_factory()->create(smtp_settings(), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }

    SendResult send(Provider& p, const OutboundMessage& m) {
        return run_until_done(ioc_, p.send(m));
    }

    json::object received(int n) {
        auto path = dir_.path() / (std::to_string(n) + ".json");
        if (!std::filesystem::exists(path)) {
            ADD_FAILURE() << "no message " << n;
            return {};
        }
        return json::parse(read_file(path)).as_object();
    }

    std::string header(const json::object& msg, const char* name) {
        const json::value* v = msg.at("headers").as_object().if_contains(name);
        if (!v || v->as_array().size() != 1) return "<absent or repeated>";
        return std::string(v->as_array()[0].as_string());
    }

    ScratchDir dir_;
    std::optional<ChildProcess> server_;
    std::string url_;
    asio::io_context ioc_;
    CurlMulti curl_{ioc_.get_executor()};
};

TEST_F(SmtpTest, MultipartMessageDecodesToWhatWasSent) {
    start();
    auto p = make("reply_to: \"Bộ phận Một cửa <motcua@vinhlong.gov.vn>\"\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-0001"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(r.provider_message_id, "msg-0001@sotuphap.vinhlong.gov.vn");

    json::object m = received(1);
    EXPECT_EQ(m.at("mail_from"), "noreply@sotuphap.vinhlong.gov.vn");
    EXPECT_EQ(m.at("rcpt_tos"), json::array({"tuyet.nguyen@example.vn"}));
    EXPECT_EQ(m.at("subject").as_string(), kSubject);
    EXPECT_EQ(m.at("from").as_string(), kFrom);
    EXPECT_EQ(m.at("to"), "tuyet.nguyen@example.vn");
    EXPECT_EQ(m.at("reply_to"), "Bộ phận Một cửa <motcua@vinhlong.gov.vn>");
    EXPECT_EQ(m.at("content_type"), "multipart/alternative");
    EXPECT_EQ(m.at("text").as_string(), kText) << json::serialize(m.at("text"));
    EXPECT_EQ(m.at("html").as_string(), kHtml);  // escaped HTML arrives escaped, byte for byte
    EXPECT_TRUE(m.at("defects").as_array().empty()) << json::serialize(m.at("defects"));
    EXPECT_EQ(header(m, "Message-ID"), "<msg-0001@sotuphap.vinhlong.gov.vn>");
    EXPECT_EQ(header(m, "MIME-Version"), "1.0");
    std::string date = header(m, "Date");
    EXPECT_TRUE(date.ends_with(" +0700")) << date;
    EXPECT_EQ(date.size(), std::string("Fri, 27 Nov 2026 11:05:38 +0700").size()) << date;
    EXPECT_EQ(date[3], ',') << date;

    // On the wire: CRLF only, no line over 998, encoded-word lines within 76.
    std::string raw = read_file(dir_.path() / "1.eml");
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\n') {
            ASSERT_TRUE(i > 0 && raw[i - 1] == '\r') << "bare LF at " << i;
        }
        if (raw[i] == '\r') {
            ASSERT_TRUE(i + 1 < raw.size() && raw[i + 1] == '\n');
        }
    }
    for (const auto& line : crlf_lines(raw)) {
        EXPECT_LE(line.size(), 998u);
        if (line.find("=?UTF-8?") != std::string::npos) {
            EXPECT_LE(line.size(), 76u) << line;
        }
    }
    EXPECT_NE(raw.find("Subject: =?UTF-8?B?"), std::string::npos);
}

TEST_F(SmtpTest, TextOnlyMessageIsTextPlain) {
    start();
    auto p = make();
    ASSERT_TRUE(p);
    OutboundMessage m = mail("msg-0002");
    m.html.clear();
    m.subject = "Ho so da co ket qua";
    ASSERT_TRUE(send(*p, m).ok);
    json::object got = received(1);
    EXPECT_EQ(got.at("content_type"), "text/plain");
    EXPECT_EQ(got.at("subject"), "Ho so da co ket qua");
    EXPECT_EQ(got.at("text").as_string(), kText);
    EXPECT_TRUE(got.at("html").is_null());
    EXPECT_EQ(header(got, "Content-Transfer-Encoding"), "quoted-printable");
}

TEST_F(SmtpTest, AuthWithTheRightPasswordSucceeds) {
    start({"--user", "mailer", "--password", "s3cret"});
    auto p = make("username: mailer\npassword: s3cret\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-auth"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(received(1).at("auth_user"), "mailer");
}

TEST_F(SmtpTest, WrongPasswordIsPermanentAuthFailed) {
    start({"--user", "mailer", "--password", "s3cret"});
    auto p = make("username: mailer\npassword: wrong-pass\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-badauth"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kAuthFailed) << r.detail;
    EXPECT_EQ(r.detail.find("wrong-pass"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "1.json"));
}

TEST_F(SmtpTest, UnknownMailboxIsPermanentNoContact) {
    start();
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-550", "nobody@example.vn"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kNoContact);
    EXPECT_NE(r.detail.find("SMTP 550"), std::string::npos) << r.detail;
}

TEST_F(SmtpTest, TemporaryRefusalIsRetryable) {
    start();
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-451", "greylist@example.vn"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kThrottled);
    EXPECT_NE(r.detail.find("SMTP 451"), std::string::npos) << r.detail;
}

TEST_F(SmtpTest, StartTlsIsUsedWhenOffered) {
    start({"--tls"});
    auto p = make("tls_verify: false\nrequire_tls: true\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-tls"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(received(1).at("tls"), true);
}

TEST_F(SmtpTest, UntrustedCertificateFailsWhenVerifying) {
    start({"--tls"});
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-tls-verify"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable) << r.detail;
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "1.json"));
}

TEST_F(SmtpTest, RequiredTlsRefusesAPlainServer) {
    start();
    auto p = make("require_tls: true\n");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-plain"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_FALSE(std::filesystem::exists(dir_.path() / "1.json"));
}

TEST_F(SmtpTest, ClosedPortIsRetryable) {
    unsigned short port;
    {
        asio::io_context tmp;
        asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    auto p = make("", "smtp://127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-closed"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
}

TEST_F(SmtpTest, BadRecipientAddressIsPermanentWithoutSending) {
    auto p = make("", "smtp://127.0.0.1:1");
    ASSERT_TRUE(p);
    SendResult r = send(*p, mail("msg-bad", "a@b.vn>\r\nRCPT TO:<x@y.vn"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kNoContact);
}

// Records what the adapter asks of the transport, and accepts it.
class RecordingMail final : public MailClient {
  public:
    asio::awaitable<MailResult> send_mail(MailRequest request) override {
        requests.push_back(std::move(request));
        co_return MailResult{};
    }
    std::vector<MailRequest> requests;
};

// A stripped STARTTLS offer must not send the password in clear: STARTTLS is required unless
// the server is on loopback or the operator turns it off.
TEST(SmtpRequireTls, DefaultsToRequiredUnlessTheServerIsOnLoopback) {
    struct Case {
        std::string url, extra;
        bool required;
    };
    for (const Case& c :
         std::vector<Case>{{"smtp://mail.example.gov.vn:587", "", true},
                           {"smtp://user@10.0.0.5:25", "", true},
                           {"smtp://127.0.0.1:25", "", false},
                           {"smtp://localhost:25", "", false},
                           {"smtp://[::1]:25", "", false},
                           {"smtp://127.0.0.1.example.vn:25", "", true},
                           {"smtp://mail.example.gov.vn:587", "require_tls: false\n", false},
                           {"smtp://127.0.0.1:25", "require_tls: true\n", true},
                           {"smtps://mail.example.gov.vn:465", "", false}}) {
        asio::io_context ioc;
        RecordingMail mail;
        YamlView cfg("url: " + c.url + "\nfrom: a@example.vn\n" + c.extra);
        ProviderContext ctx;
        ctx.executor = ioc.get_executor();
        ctx.mail = &mail;
        auto p = make_smtp_factory()->create(smtp_settings(), cfg.view, ctx);
        ASSERT_TRUE(p) << c.url;
        SendResult r = run_until_done(ioc, p->send(mail_to_send()));
        ASSERT_TRUE(r.ok) << c.url << " " << r.detail;
        ASSERT_EQ(mail.requests.size(), 1u);
        EXPECT_EQ(mail.requests[0].require_tls, c.required) << c.url << " " << c.extra;
    }
}

TEST(SmtpClassify, ReplyCodes) {
    MailResult m;
    m.error = MailResult::Error::rejected;
    m.reply_code = 554;
    EXPECT_EQ(classify_smtp_result(m).reason, reason::kRejectedContent);
    EXPECT_EQ(classify_smtp_result(m).failure, FailureClass::permanent);
    m.reply_code = 421;
    EXPECT_EQ(classify_smtp_result(m).reason, reason::kProviderUnavailable);
    EXPECT_EQ(classify_smtp_result(m).failure, FailureClass::retryable);
    m.reply_code = 503;
    EXPECT_EQ(classify_smtp_result(m).failure, FailureClass::permanent);
    m.error = MailResult::Error::timeout;
    EXPECT_EQ(classify_smtp_result(m).reason, reason::kTimeout);
    EXPECT_EQ(classify_smtp_result(m).failure, FailureClass::retryable);
}

TEST(SmtpFactory, ChecksItsKeys) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    YamlView cfg("url: http://x\nfrom: not-an-address\nusername: u\nreply_to: \"<bad\"\nfoo: 1\n");
    EXPECT_EQ(make_smtp_factory()->create(smtp_settings(), cfg.view, ctx), nullptr);
    std::string all = cfg.all();
    for (const char* key : {"url", "from", "password", "reply_to", "foo"})
        EXPECT_NE(all.find(key), std::string::npos) << key << "\n" << all;

    YamlView good("url: smtps://smtp.example.vn:465\nfrom: noreply@example.vn\n");
    EXPECT_NE(make_smtp_factory()->create(smtp_settings(), good.view, ctx), nullptr) << good.all();
}

}  // namespace
