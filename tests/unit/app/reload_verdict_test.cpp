// reload.json, between tinbaod and `tinbaoctl reload`: written whole, read back, and placed in
// systemd's RuntimeDirectory when there is one.
#include "daemon/reload_verdict.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tinbao {
namespace {

namespace fs = std::filesystem;

TEST(ReloadVerdict, WrittenWholeAndReadBack) {
    auto dir = fs::temp_directory_path() / ("tinbao-verdict-" + std::to_string(getpid()));
    fs::create_directories(dir);
    auto file = dir / kReloadVerdictFile;
    ReloadVerdict v;
    v.pid = 4242;
    v.config = "/etc/tinbao/tinbao.yaml";
    v.requested = 3;
    v.generation = 2;
    v.result = "refused";
    v.problems = {"/etc/tinbao/tinbao.yaml:41: providers[0].api_kye: unknown key 'api_kye'",
                  "a \"quoted\"\nsecond line"};
    v.at_ms = 1733280000123;
    std::string error;
    ASSERT_TRUE(write_verdict(file, v, error)) << error;
    EXPECT_FALSE(fs::exists(dir / "reload.json.new"));  // renamed into place
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto back = read_verdict(file);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->pid, 4242);
    EXPECT_EQ(back->config, v.config);
    EXPECT_EQ(back->requested, 3u);
    EXPECT_EQ(back->generation, 2u);
    EXPECT_EQ(back->result, "refused");
    EXPECT_EQ(back->problems, v.problems);
    EXPECT_EQ(back->at_ms, v.at_ms);
    fs::remove_all(dir);
    EXPECT_FALSE(read_verdict(file));
    EXPECT_FALSE(parse_verdict("{\"pid\": 1}"));
    EXPECT_FALSE(parse_verdict("not json"));
}

TEST(ReloadVerdict, KeptInTheRuntimeDirectoryUnderSystemd) {
    unsetenv("RUNTIME_DIRECTORY");
    EXPECT_EQ(reload_verdict_dir("/var/lib/tinbao"), fs::path("/var/lib/tinbao"));
    setenv("RUNTIME_DIRECTORY", "/run/tinbao:/run/other", 1);
    EXPECT_EQ(reload_verdict_dir("/var/lib/tinbao"), fs::path("/run/tinbao"));
    unsetenv("RUNTIME_DIRECTORY");
}

}  // namespace
}  // namespace tinbao
