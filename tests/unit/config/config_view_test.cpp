// ConfigView: typed getters, error positions and paths, unknown keys, ${...} expansion, durations.
#include "providers/config_view.hpp"

#include <gtest/gtest.h>

#include "tests/unit/config/temp_dir.hpp"

namespace tinbao {
namespace {

using namespace std::chrono_literals;
using testing::dump;
using testing::ScopedEnv;
using testing::TempDir;

struct Loaded {
    std::shared_ptr<Diagnostics> diags = std::make_shared<Diagnostics>();
    ConfigView view;
    explicit Loaded(const std::string& yaml, std::string file = "f.yaml")
        : view(YAML::Load(yaml), "", std::move(file), diags) {}
};

TEST(ParseDuration, AcceptsEveryUnit) {
    EXPECT_EQ(parse_duration("500ms"), 500ms);
    EXPECT_EQ(parse_duration("2s"), 2s);
    EXPECT_EQ(parse_duration("10m"), 10min);
    EXPECT_EQ(parse_duration("24h"), 24h);
    EXPECT_EQ(parse_duration("7d"), std::chrono::milliseconds(7LL * 24 * 3600 * 1000));
    EXPECT_EQ(parse_duration("0s"), 0ms);
    EXPECT_EQ(parse_duration("1ms"), 1ms);
}

TEST(ParseDuration, RejectsMalformed) {
    for (const char* bad :
         {"", "10", "-5s", "+5s", "5 s", " 5s", "1.5s", "5sec", "s", "10M", "5ms5", "5sm", "ms",
          "1e3ms", "99999999999999999999d", "999999999999999d"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << "'" << bad << "'";
    }
}

TEST(Diagnostic, FormatsFileLinePathMessage) {
    Diagnostic d{"conf.yaml", 12, "http.listen", "bad"};
    EXPECT_EQ(d.str(), "conf.yaml:12: http.listen: bad");
    Diagnostic no_path{"conf.yaml", 3, "", "bad"};
    EXPECT_EQ(no_path.str(), "conf.yaml:3: bad");
    Diagnostic no_line{"conf.yaml", 0, "x", "bad"};
    EXPECT_EQ(no_line.str(), "conf.yaml: x: bad");
}

TEST(ConfigView, ReadsTypedValues) {
    Loaded l(
        "name: abc\n"
        "count: 42\n"
        "rate: 2.5\n"
        "on: true\n"
        "off: no\n"
        "wait: 3s\n"
        "list: [a, b]\n"
        "single: c\n");
    auto& v = l.view;
    EXPECT_EQ(v.string("name"), "abc");
    EXPECT_EQ(v.integer("count", 0, 100), 42);
    EXPECT_EQ(v.number("rate", 0, 10), 2.5);
    EXPECT_EQ(v.boolean("on"), true);
    EXPECT_EQ(v.boolean("off"), false);
    EXPECT_EQ(v.duration("wait"), 3s);
    EXPECT_EQ(v.string_list("list"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(v.string_list("single"), (std::vector<std::string>{"c"}));
    EXPECT_EQ(v.string("absent"), std::nullopt);
    v.finish();
    EXPECT_TRUE(l.diags->empty()) << dump(*l.diags);
}

TEST(ConfigView, TypeErrorsNameLineAndPath) {
    Loaded l(
        "a:\n"
        "  b:\n"
        "    port: abc\n"
        "    rate: fast\n"
        "    flag: maybe\n"
        "    wait: -5s\n"
        "    wait2: 10\n"
        "    big: 70000\n"
        "    list: {x: 1}\n");
    auto b = l.view.child("a").child("b");
    EXPECT_EQ(b.integer("port", 0, 65535), std::nullopt);
    EXPECT_EQ(b.number("rate", 0, 10), std::nullopt);
    EXPECT_EQ(b.boolean("flag"), std::nullopt);
    EXPECT_EQ(b.duration("wait"), std::nullopt);
    EXPECT_EQ(b.duration("wait2"), std::nullopt);
    EXPECT_EQ(b.integer("big", 0, 65535), std::nullopt);
    EXPECT_EQ(b.string_list("list"), std::nullopt);
    auto& items = l.diags->items;
    ASSERT_EQ(items.size(), 7u) << dump(*l.diags);
    EXPECT_EQ(items[0].str(), "f.yaml:3: a.b.port: expected a whole number, got 'abc'");
    EXPECT_EQ(items[1].str(), "f.yaml:4: a.b.rate: expected a number, got 'fast'");
    EXPECT_EQ(items[2].str(), "f.yaml:5: a.b.flag: expected true or false, got 'maybe'");
    EXPECT_EQ(items[3].line, 6);
    EXPECT_NE(items[3].message.find("negative"), std::string::npos) << items[3].message;
    EXPECT_EQ(items[4].line, 7);
    EXPECT_NE(items[4].message.find("expected a duration"), std::string::npos);
    EXPECT_EQ(items[5].str(), "f.yaml:8: a.b.big: must be between 0 and 65535, got 70000");
    EXPECT_EQ(items[6].line, 9);
    EXPECT_EQ(items[6].path, "a.b.list");
}

TEST(ConfigView, MissingRequiredKeyPointsAtItsMapping) {
    Loaded l(
        "top: 1\n"
        "section:\n"
        "  other: x\n");
    auto s = l.view.child("section");
    EXPECT_EQ(s.string("token", true), std::nullopt);
    auto missing = l.view.child("nothing", true);
    EXPECT_FALSE(missing.node().IsMap());
    EXPECT_EQ(missing.path(), "nothing");
    ASSERT_EQ(l.diags->items.size(), 2u) << dump(*l.diags);
    EXPECT_EQ(l.diags->items[0].line, 3);
    EXPECT_EQ(l.diags->items[0].path, "section.token");
    EXPECT_EQ(l.diags->items[1].path, "nothing");
}

TEST(ConfigView, ChildThatIsNotAMappingIsAnError) {
    Loaded l("log: verbose\n");
    auto log = l.view.child("log");
    EXPECT_EQ(log.string("level"), std::nullopt);
    ASSERT_EQ(l.diags->items.size(), 1u);
    EXPECT_EQ(l.diags->items[0].path, "log");
    EXPECT_EQ(l.diags->items[0].line, 1);
}

TEST(ConfigView, ChildrenCarryIndexedPaths) {
    Loaded l(
        "providers:\n"
        "  - name: a\n"
        "    rate_per_second: 5\n"
        "  - name: b\n"
        "    rate_per_second: -1\n"
        "  - just a string\n");
    auto ps = l.view.children("providers");
    ASSERT_EQ(ps.size(), 2u);
    EXPECT_EQ(ps[0].path(), "providers[0]");
    EXPECT_EQ(ps[1].path(), "providers[1]");
    EXPECT_EQ(ps[0].number("rate_per_second", 0, 100), 5.0);
    EXPECT_EQ(ps[1].number("rate_per_second", 0, 100), std::nullopt);
    ASSERT_EQ(l.diags->items.size(), 2u) << dump(*l.diags);
    EXPECT_EQ(l.diags->items[0].str(),
              "f.yaml:6: providers[2]: expected a mapping (key: value pairs)");
    EXPECT_EQ(l.diags->items[1].line, 5);
    EXPECT_EQ(l.diags->items[1].path, "providers[1].rate_per_second");
}

TEST(ConfigView, FinishReportsUnknownKeysWithAHint) {
    Loaded l(
        "providers:\n"
        "  - name: a\n"
        "    rate_per_secnd: 5\n"
        "    zzz: 1\n");
    auto ps = l.view.children("providers");
    ASSERT_EQ(ps.size(), 1u);
    ps[0].string("name");
    ps[0].number("rate_per_second", 0, 100);
    ps[0].finish();
    l.view.finish();
    ASSERT_EQ(l.diags->items.size(), 2u) << dump(*l.diags);
    EXPECT_EQ(l.diags->items[0].str(),
              "f.yaml:3: providers[0].rate_per_secnd: unknown key 'rate_per_secnd' "
              "(did you mean 'rate_per_second'?)");
    EXPECT_EQ(l.diags->items[1].str(), "f.yaml:4: providers[0].zzz: unknown key 'zzz'");
}

TEST(ConfigView, AcceptedKeysAreNotUnknownButDuplicatesAre) {
    Loaded l(
        "a: 1\n"
        "b: 2\n"
        "a: 3\n");
    l.view.accept("a");
    l.view.accept("b");
    l.view.finish();
    ASSERT_EQ(l.diags->items.size(), 1u) << dump(*l.diags);
    EXPECT_EQ(l.diags->items[0].line, 3);
    EXPECT_NE(l.diags->items[0].message.find("duplicate"), std::string::npos);
}

TEST(ConfigView, NullViewAnswersNothingAndFinishesQuietly) {
    auto diags = std::make_shared<Diagnostics>();
    ConfigView v(YAML::Node(), "x", "f.yaml", diags);
    EXPECT_FALSE(v.has("a"));
    EXPECT_EQ(v.string("a"), std::nullopt);
    EXPECT_TRUE(v.children("a").empty());
    v.finish();
    EXPECT_TRUE(diags->empty());
}

TEST(ConfigView, StringMapKeepsFileOrderAndNumericKeys) {
    Loaded l(
        "m:\n"
        "  z: one\n"
        "  5: two\n"
        "  a: three\n");
    auto m = l.view.string_map("m");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->size(), 3u);
    EXPECT_EQ((*m)[0], (std::pair<std::string, std::string>{"z", "one"}));
    EXPECT_EQ((*m)[1], (std::pair<std::string, std::string>{"5", "two"}));
    EXPECT_EQ((*m)[2], (std::pair<std::string, std::string>{"a", "three"}));
    EXPECT_TRUE(l.diags->empty()) << dump(*l.diags);
}

TEST(ConfigViewExpand, EnvironmentVariablesSeveralPerString) {
    ScopedEnv a("TINBAO_CFGTEST_A", "alpha");
    ScopedEnv b("TINBAO_CFGTEST_B", "beta");
    Loaded l(
        "x: \"${TINBAO_CFGTEST_A}-${TINBAO_CFGTEST_B}/${TINBAO_CFGTEST_A}\"\n"
        "lit: \"$${TINBAO_CFGTEST_A} and $$ and $5\"\n"
        "n: ${TINBAO_CFGTEST_N}\n");
    EXPECT_EQ(l.view.string("x"), "alpha-beta/alpha");
    EXPECT_EQ(l.view.string("lit"), "${TINBAO_CFGTEST_A} and $$ and $5");
    {
        ScopedEnv n("TINBAO_CFGTEST_N", "17");
        EXPECT_EQ(l.view.integer("n", 0, 100), 17);
    }
    EXPECT_TRUE(l.diags->empty()) << dump(*l.diags);
}

TEST(ConfigViewExpand, MissingVariableIsNamedButNoValueIsPrinted) {
    ScopedEnv set("TINBAO_CFGTEST_SECRET", "hunter2-very-secret");
    ScopedEnv unset("TINBAO_CFGTEST_MISSING", nullptr);
    Loaded l(
        "http:\n"
        "  clients:\n"
        "    - token: \"${TINBAO_CFGTEST_SECRET}${TINBAO_CFGTEST_MISSING}\"\n");
    auto clients = l.view.child("http").children("clients");
    ASSERT_EQ(clients.size(), 1u);
    EXPECT_EQ(clients[0].string("token"), std::nullopt);
    ASSERT_EQ(l.diags->items.size(), 1u) << dump(*l.diags);
    const auto& d = l.diags->items[0];
    EXPECT_EQ(d.line, 3);
    EXPECT_EQ(d.path, "http.clients[0].token");
    EXPECT_NE(d.message.find("TINBAO_CFGTEST_MISSING"), std::string::npos) << d.message;
    EXPECT_EQ(d.str().find("hunter2"), std::string::npos) << d.str();
}

TEST(ConfigViewExpand, MalformedReferences) {
    Loaded l(
        "a: \"${UNCLOSED\"\n"
        "b: \"${}\"\n"
        "c: \"${bad-name}\"\n");
    EXPECT_EQ(l.view.string("a"), std::nullopt);
    EXPECT_EQ(l.view.string("b"), std::nullopt);
    EXPECT_EQ(l.view.string("c"), std::nullopt);
    ASSERT_EQ(l.diags->items.size(), 3u) << dump(*l.diags);
    EXPECT_EQ(l.diags->items[0].line, 1);
    EXPECT_EQ(l.diags->items[1].line, 2);
    EXPECT_EQ(l.diags->items[2].line, 3);
}

TEST(ConfigViewExpand, FilesRelativeToTheConfigFolderTrailingNewlineStripped) {
    TempDir tmp;
    tmp.write("conf/creds/token", "s3cr3t-token-value\n");
    auto crlf = tmp.write("elsewhere/crlf", "line-one\r\n");
    tmp.write("conf/two-newlines", "keep\n\n");
    auto conf = tmp.path() / "conf" / "tinbao.yaml";
    Loaded l(
        "a: \"${file:creds/token}\"\n"
        "b: \"[${file:" +
            crlf.string() +
            "}]\"\n"
            "c: \"${file:two-newlines}\"\n",
        conf.string());
    EXPECT_EQ(l.view.string("a"), "s3cr3t-token-value");
    EXPECT_EQ(l.view.string("b"), "[line-one]");
    EXPECT_EQ(l.view.string("c"), "keep\n");
    EXPECT_TRUE(l.diags->empty()) << dump(*l.diags);
}

TEST(ConfigViewExpand, UnreadableFileIsNamedWithoutContent) {
    TempDir tmp;
    tmp.write("conf/present", "top-secret-content");
    auto conf = tmp.path() / "conf" / "tinbao.yaml";
    Loaded l(
        "a: \"${file:present}${file:absent.txt}\"\n"
        "b: \"${file:.}\"\n",
        conf.string());
    EXPECT_EQ(l.view.string("a"), std::nullopt);
    EXPECT_EQ(l.view.string("b"), std::nullopt);
    ASSERT_EQ(l.diags->items.size(), 2u) << dump(*l.diags);
    EXPECT_NE(l.diags->items[0].message.find("absent.txt"), std::string::npos);
    EXPECT_EQ(l.diags->items[0].str().find("top-secret"), std::string::npos);
    EXPECT_EQ(l.diags->items[1].line, 2);
}

}  // namespace
}  // namespace tinbao
