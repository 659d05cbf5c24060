// FileStateStore: durable values across instances, leases across instances and processes.
#include "providers/state/file_store.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "common/time.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::run_until_done;
using tinbao::test::ScratchDir;

namespace {

class FileStoreTest : public ::testing::Test {
  protected:
    std::string path() const { return (dir_.path() / "state.json").string(); }
    void write_leases(const json::object& leases) {
        std::ofstream(path() + ".lock", std::ios::trunc) << json::serialize(leases);
    }
    ScratchDir dir_;
    asio::io_context ioc_;
};

TEST_F(FileStoreTest, ValuesSurviveANewInstance) {
    {
        FileStateStore a(path());
        StoreRead none = run_until_done(ioc_, a.get("k1"));
        EXPECT_TRUE(none.ok);
        EXPECT_FALSE(none.value.has_value());
        EXPECT_TRUE(run_until_done(ioc_, a.put("k1", R"({"x":1})")));
        EXPECT_TRUE(run_until_done(ioc_, a.put("k2", "two")));
        EXPECT_TRUE(run_until_done(ioc_, a.put("k1", "one")));
    }
    FileStateStore b(path());
    StoreRead k1 = run_until_done(ioc_, b.get("k1"));
    ASSERT_TRUE(k1.ok);
    EXPECT_EQ(k1.value, "one");
    EXPECT_EQ(run_until_done(ioc_, b.get("k2")).value, "two");
    // Nothing but the data file and the lock file is left behind.
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(dir_.path()))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"state.json", "state.json.lock"}));
}

TEST_F(FileStoreTest, AnUnreadableFileIsAnErrorNotEmpty) {
    std::ofstream(path()) << "{not json";
    FileStateStore s(path());
    EXPECT_FALSE(s.get_now("k").ok);
    EXPECT_FALSE(s.put_now("k", "v"));  // would lose whatever else was in there
}

TEST_F(FileStoreTest, LeasesExcludeOtherCallersAndInstances) {
    FileStateStore a(path());
    FileStateStore b(path());
    EXPECT_TRUE(run_until_done(ioc_, a.try_lock("refresh", std::chrono::seconds(30))));
    EXPECT_FALSE(run_until_done(ioc_, a.try_lock("refresh", std::chrono::seconds(30))));
    EXPECT_FALSE(run_until_done(ioc_, b.try_lock("refresh", std::chrono::seconds(30))));
    EXPECT_TRUE(run_until_done(ioc_, b.try_lock("other", std::chrono::seconds(30))));
    run_until_done(ioc_, b.unlock("refresh"));  // not b's: changes nothing
    EXPECT_FALSE(run_until_done(ioc_, b.try_lock("refresh", std::chrono::seconds(30))));
    run_until_done(ioc_, a.unlock("refresh"));
    EXPECT_TRUE(run_until_done(ioc_, b.try_lock("refresh", std::chrono::seconds(30))));
    EXPECT_FALSE(run_until_done(ioc_, a.try_lock("refresh", std::chrono::seconds(30))));
}

TEST_F(FileStoreTest, ALeaseEndsAtTheExpiryWrittenInTheLockFile) {
    FileStateStore s(path());
    // Another process holds it for a minute.
    write_leases(json::object{
        {"refresh", json::object{{"owner", "other"}, {"expires_at_ms", now_ms() + 60000}}}});
    EXPECT_FALSE(s.try_lock_now("refresh", std::chrono::seconds(30)));
    // That process died and its lease ran out.
    write_leases(json::object{
        {"refresh", json::object{{"owner", "other"}, {"expires_at_ms", now_ms() - 1}}}});
    EXPECT_TRUE(s.try_lock_now("refresh", std::chrono::seconds(30)));

    // Our own lease with a tiny ttl expires too (waiting on the clock, not on a sleep).
    FileStateStore t(path());
    ASSERT_TRUE(t.try_lock_now("short", std::chrono::milliseconds(1)));
    int64_t start = now_ms();
    while (now_ms() <= start + 2) {
    }
    EXPECT_TRUE(s.try_lock_now("short", std::chrono::seconds(30)));
    EXPECT_TRUE(t.try_lock_now("short2", std::chrono::seconds(30)));
}

TEST_F(FileStoreTest, ALeaseExcludesAnotherProcess) {
    FileStateStore parent(path());
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        FileStateStore child(path());
        char ok = child.try_lock_now("refresh", std::chrono::seconds(30)) ? '1' : '0';
        ssize_t n = write(fds[1], &ok, 1);
        _exit(n == 1 ? 0 : 1);  // exits holding the lease
    }
    close(fds[1]);
    char got = 0;
    ASSERT_EQ(read(fds[0], &got, 1), 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(got, '1');
    EXPECT_FALSE(parent.try_lock_now("refresh", std::chrono::seconds(30)));
    EXPECT_TRUE(parent.try_lock_now("something-else", std::chrono::seconds(30)));
}

}  // namespace
