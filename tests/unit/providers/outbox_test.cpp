// The outbox adapter: one JSON line per message, parent directories made on first send.
#include "providers/outbox/outbox.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <regex>

#include "providers/reasons.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::run_until_done;
using tinbao::test::ScratchDir;
using tinbao::test::YamlView;

namespace {

ProviderSettings outbox_settings(Channel c = Channel::sms) {
    ProviderSettings s;
    s.name = "outbox";
    s.type = "outbox";
    s.channel = c;
    return s;
}

std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

class OutboxTest : public ::testing::Test {
  protected:
    std::unique_ptr<Provider> make(const std::string& yaml, Channel c = Channel::sms) {
        YamlView cfg(yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = nullptr;
        ctx.state_dir = dir_.path().string();
        auto p = make_outbox_factory()->create(outbox_settings(c), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }
    SendResult send(Provider& p, const OutboundMessage& m) {
        return run_until_done(ioc_, p.send(m));
    }

    asio::io_context ioc_;
    ScratchDir dir_;
};

TEST_F(OutboxTest, WritesOneParseableLinePerMessageAndCreatesParentDirs) {
    auto path = dir_.path() / "a" / "b" / "outbox.jsonl";
    auto p = make("path: " + path.string() + "\n");
    ASSERT_TRUE(p);
    EXPECT_FALSE(std::filesystem::exists(path.parent_path()));  // create() does no I/O

    OutboundMessage sms;
    sms.id = "m-1";
    sms.event_id = "e-1";
    sms.dossier_code = "000.00.01.H62-250101-0001";
    sms.to = "84912345678";
    sms.text = "Hồ sơ đã có kết quả";
    sms.unicode = true;
    sms.segments = 1;
    SendResult r1 = send(*p, sms);
    ASSERT_TRUE(r1.ok) << r1.detail;
    EXPECT_EQ(r1.provider_message_id, "outbox-m-1");

    OutboundMessage zalo;
    zalo.id = "m-2";
    zalo.channel = Channel::zalo;
    zalo.to = "84912345678";
    zalo.template_id = "231245";
    zalo.params = {{"ho_ten", "Nguyễn Thị Tuyết"}, {"ma_ho_so", "H62-0001"}};
    ASSERT_TRUE(send(*p, zalo).ok);

    auto lines = lines_of(path);
    ASSERT_EQ(lines.size(), 2u);
    json::object a = json::parse(lines[0]).as_object();
    EXPECT_EQ(a.at("id"), "m-1");
    EXPECT_EQ(a.at("event_id"), "e-1");
    EXPECT_EQ(a.at("dossier_code"), "000.00.01.H62-250101-0001");
    EXPECT_EQ(a.at("channel"), "sms");
    EXPECT_EQ(a.at("to"), "84912345678");
    EXPECT_EQ(a.at("text"), "Hồ sơ đã có kết quả");
    EXPECT_EQ(a.at("unicode"), true);
    EXPECT_EQ(a.at("segments"), 1);
    for (const char* k : {"subject", "html", "template_id", "params"})
        EXPECT_TRUE(a.contains(k)) << k;
    std::string at(a.at("at").as_string());
    EXPECT_TRUE(std::regex_match(at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)")))
        << at;

    json::object b = json::parse(lines[1]).as_object();
    EXPECT_EQ(b.at("channel"), "zalo");
    EXPECT_EQ(b.at("template_id"), "231245");
    json::object params{{"ho_ten", "Nguyễn Thị Tuyết"}, {"ma_ho_so", "H62-0001"}};
    EXPECT_EQ(b.at("params"), params);
}

// Each line is a whole message with its recipient: owner-only whatever the umask.
TEST_F(OutboxTest, FilesAndDirectoriesItCreatesAreOwnerOnly) {
    auto path = dir_.path() / "a" / "b" / "outbox.jsonl";
    auto p = make("path: " + path.string() + "\n");
    ASSERT_TRUE(p);
    OutboundMessage sms;
    sms.id = "m-1";
    sms.to = "84912345678";
    sms.text = "x";
    const mode_t old = ::umask(0);
    SendResult r = send(*p, sms);
    ::umask(old);
    ASSERT_TRUE(r.ok) << r.detail;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    for (auto dir : {path.parent_path(), path.parent_path().parent_path()}) {
        ASSERT_EQ(::stat(dir.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
    }
}

TEST_F(OutboxTest, DefaultPathIsUnderStateDir) {
    auto p = make("");
    ASSERT_TRUE(p);
    OutboundMessage m;
    m.id = "m-default";
    ASSERT_TRUE(send(*p, m).ok);
    auto lines = lines_of(dir_.path() / "outbox.jsonl");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(json::parse(lines[0]).at("id"), "m-default");
}

TEST_F(OutboxTest, WriteErrorIsRetryableProviderUnavailable) {
    std::ofstream(dir_.path() / "not-a-dir") << "x";
    auto p = make("path: " + (dir_.path() / "not-a-dir" / "outbox.jsonl").string() + "\n");
    ASSERT_TRUE(p);
    OutboundMessage m;
    m.id = "m-err";
    SendResult r = send(*p, m);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kProviderUnavailable);
    EXPECT_NE(r.detail.find("ot a directory"), std::string::npos) << r.detail;
}

TEST(OutboxFactory, AnyChannelAndUnknownKeysRejected) {
    auto f = make_outbox_factory();
    EXPECT_EQ(f->type(), "outbox");
    EXPECT_TRUE(f->supports(Channel::sms));
    EXPECT_TRUE(f->supports(Channel::zalo));
    EXPECT_TRUE(f->supports(Channel::email));
    asio::io_context ioc;
    YamlView cfg("path: /tmp/x.jsonl\npaht: typo\n");
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    ctx.state_dir = "/tmp";
    EXPECT_EQ(f->create(outbox_settings(), cfg.view, ctx), nullptr);
    EXPECT_NE(cfg.all().find("paht"), std::string::npos) << cfg.all();
}

}  // namespace
