// The process figures of /metrics, from proc(5)'s /proc/self/stat and /proc/stat text, and
// read from this test's own process.
#include "daemon/process_stats.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>

namespace tinbao {
namespace {

TEST(ProcessStats, ParsesTheStatLineWhateverTheCommandName) {
    // A command name with spaces and a parenthesis; utime 250 + stime 150 ticks, starttime
    // 1000 ticks after boot, 300 resident pages.
    const char* line =
        "4242 (tin baod) x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 3 0 1000 "
        "123456789 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
    ProcessStats s;
    ASSERT_TRUE(parse_proc_stat(line, 100, 4096, 1700000000, s));
    EXPECT_DOUBLE_EQ(s.cpu_seconds, 4.0);
    EXPECT_DOUBLE_EQ(s.resident_bytes, 300.0 * 4096);
    EXPECT_DOUBLE_EQ(s.start_time_seconds, 1700000010.0);
    ProcessStats none;
    EXPECT_FALSE(parse_proc_stat("4242 (short) S 1 2 3", 100, 4096, 0, none));
    EXPECT_EQ(none.cpu_seconds, -1);
}

TEST(ProcessStats, BootTimeFromProcStat) {
    EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1733280000\nprocesses 9\n"), 1733280000);
    EXPECT_EQ(parse_boot_time("cpu  1 2 3\n"), -1);
}

TEST(ProcessStats, ReadsThisProcess) {
    auto s = read_process_stats();
    EXPECT_GT(s.resident_bytes, 1024 * 1024);  // a gtest binary is more than a megabyte
    EXPECT_GE(s.cpu_seconds, 0);
    EXPECT_GE(s.open_fds, 3);  // stdin, stdout, stderr
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY) {
        EXPECT_EQ(s.max_fds, static_cast<double>(rl.rlim_cur));
    }
    auto now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_LE(s.start_time_seconds, now + 1);
    EXPECT_GT(s.start_time_seconds, now - 24 * 3600);  // started by this test run
}

}  // namespace
}  // namespace tinbao
