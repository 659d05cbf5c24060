// The runtime builder shared by tinbaod (start, reload, --check) and tinbaoctl: each problem of
// a config is reported once, the providers' own keys included.
#include "daemon/runtime_builder.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "tests/unit/config/temp_dir.hpp"

namespace tinbao {
namespace {

using testing::TempDir;

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += s + "\n";
    return out;
}

class BuildRuntime : public ::testing::Test {
  protected:
    std::filesystem::path write_config(const std::string& provider_keys) {
        tmp_.write("templates/received.yaml", "sms: \"Ho so {{ dossier.code }} da tiep nhan\"\n");
        return tmp_.write("tinbao.yaml",
                          "state_dir: " + (tmp_.path() / "state").string() +
                              "\n"
                              "http:\n"
                              "  clients:\n"
                              "    - { name: igate, token: \"0123456789abcdef-token\" }\n"
                              "providers:\n"
                              "  - name: out-sms\n"
                              "    channel: sms\n"
                              "    type: outbox\n" +
                              provider_keys +
                              "routes:\n"
                              "  - { status: [received], channels: [sms] }\n");
    }
    ProviderContext context() {
        ProviderContext ctx;
        ctx.executor = io_.get_executor();
        return ctx;
    }

    boost::asio::io_context io_;
    TempDir tmp_;
};

TEST_F(BuildRuntime, BuildsTheProvidersAndTemplatesOfAGoodConfig) {
    std::vector<std::string> problems;
    auto rt = load_runtime(write_config("    path: out.jsonl\n"), context(), problems);
    ASSERT_TRUE(rt) << joined(problems);
    EXPECT_TRUE(problems.empty());
    ASSERT_EQ(rt->providers.size(), 1u);
    EXPECT_EQ(rt->providers[0]->provider->name(), "out-sms");
    EXPECT_TRUE(rt->templates->find("received"));
}

TEST_F(BuildRuntime, ATypoInAnAdapterKeyIsReportedOnce) {
    std::vector<std::string> problems;
    auto rt = load_runtime(write_config("    pathh: out.jsonl\n"), context(), problems);
    EXPECT_FALSE(rt);
    ASSERT_EQ(problems.size(), 1u) << joined(problems);
    EXPECT_NE(problems[0].find(":9: providers[0].pathh: unknown key 'pathh'"), std::string::npos)
        << problems[0];
    EXPECT_NE(problems[0].find("did you mean 'path'?"), std::string::npos) << problems[0];
}

TEST_F(BuildRuntime, TheConfigsOwnProblemsAndTheAdaptersAreReportedTogether) {
    std::vector<std::string> problems;
    auto file = write_config("    pathh: out.jsonl\n");
    auto loaded = load_config(file);
    ASSERT_TRUE(loaded.config);
    loaded.diagnostics->add(file.string(), 2, "http", "a problem of the config itself");
    auto rt = build_runtime(std::move(loaded), context(), problems);
    EXPECT_FALSE(rt);
    ASSERT_EQ(problems.size(), 2u) << joined(problems);
    EXPECT_NE(problems[0].find("a problem of the config itself"), std::string::npos);
    EXPECT_NE(problems[1].find("pathh"), std::string::npos);
}

TEST_F(BuildRuntime, AFileThatCannotBeReadIsAProblem) {
    std::vector<std::string> problems;
    EXPECT_FALSE(load_runtime(tmp_.path() / "missing.yaml", context(), problems));
    ASSERT_EQ(problems.size(), 1u) << joined(problems);
    EXPECT_NE(problems[0].find("missing.yaml"), std::string::npos);
}

// A template-based provider's parameters are compiled at load: an error names the file, line
// and column where the expression stands; a status that is none is an error at its key.
TEST_F(BuildRuntime, TemplateParametersAreCheckedWhereTheConfigGivesThem) {
    const std::string vnpt =
        "    path: out.jsonl\n"
        "  - name: vnpt\n"
        "    channel: sms\n"
        "    type: vnpt\n"
        "    url: https://sms.vnpt.example/api\n"
        "    api_user: u\n"
        "    api_pass: p\n"
        "    username: n\n"
        "    agent_id: 1\n"
        "    label_id: 2\n"
        "    contract_type_id: 1\n"
        "    contract_id: 3\n"
        "    templates:\n"
        "      received: { id: 3100, params: [\"{{ dossier.code | nofilter }}\"] }\n"
        "      nonsense: { id: 1 }\n";
    std::vector<std::string> problems;
    auto path = write_config(vnpt);
    auto rt = load_runtime(path, context(), problems);
    EXPECT_FALSE(rt);
    const std::string all = joined(problems);
    EXPECT_NE(all.find(path.string() + ":22:"), std::string::npos) << all;
    EXPECT_NE(all.find("nofilter"), std::string::npos) << all;
    EXPECT_NE(all.find(path.string() + ":23: providers: vnpt: 'nonsense' is not a status"),
              std::string::npos)
        << all;
}

TEST_F(BuildRuntime, ATemplateBasedProviderDeclaresItsStatuses) {
    const std::string vnpt =
        "    path: out.jsonl\n"
        "  - name: vnpt\n"
        "    channel: sms\n"
        "    type: vnpt\n"
        "    url: https://sms.vnpt.example/api\n"
        "    api_user: u\n"
        "    api_pass: p\n"
        "    username: n\n"
        "    agent_id: 1\n"
        "    label_id: 2\n"
        "    contract_type_id: 1\n"
        "    contract_id: 3\n"
        "    templates: { received: { id: 3100, params: [\"{{ dossier.code }}\"] } }\n";
    std::vector<std::string> problems;
    auto rt = load_runtime(write_config(vnpt), context(), problems);
    ASSERT_TRUE(rt) << joined(problems);
    ASSERT_EQ(rt->providers.size(), 2u);
    EXPECT_FALSE(rt->providers[0]->template_based);
    EXPECT_TRUE(rt->providers[1]->template_based);
    ASSERT_EQ(rt->providers[1]->param_templates.count("received"), 1u);
    EXPECT_EQ(rt->providers[1]->param_templates.at("received").template_id, "3100");
}

}  // namespace
}  // namespace tinbao
