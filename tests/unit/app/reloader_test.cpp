// The Reloader: a reload's outcome arrives on the loop, one reload at a time, and a Reloader
// destroyed with a reload in flight waits for it and drops its outcome, so nothing runs
// against its owner once the owner is gone.
#include "daemon/reloader.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <thread>

#include "daemon/pipeline/processor.hpp"

namespace tinbao {
namespace {

Reloader::Outcome refused(std::string why) { return {nullptr, {std::move(why)}}; }

TEST(Reloader, HandsTheOutcomeToTheLoop) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    Reloader reloader(io.get_executor());
    std::thread::id loaded_on, done_on;
    std::vector<std::string> problems;
    ASSERT_TRUE(reloader.start(
        [&] {
            loaded_on = std::this_thread::get_id();
            return refused("bad key");
        },
        [&](Reloader::Outcome out) {
            done_on = std::this_thread::get_id();
            problems = out.problems;
            work.reset();
        }));
    io.run();
    EXPECT_EQ(problems, std::vector<std::string>{"bad key"});
    EXPECT_EQ(done_on, std::this_thread::get_id());
    EXPECT_NE(loaded_on, std::this_thread::get_id()) << "the load runs off the loop";
    EXPECT_FALSE(reloader.busy());
}

TEST(Reloader, OneReloadAtATime) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    Reloader reloader(io.get_executor());
    std::promise<void> release;
    auto released = release.get_future().share();
    int done = 0;
    ASSERT_TRUE(reloader.start(
        [released] {
            released.wait();
            return refused("first");
        },
        [&](Reloader::Outcome) {
            ++done;
            work.reset();
        }));
    EXPECT_TRUE(reloader.busy());
    EXPECT_FALSE(
        reloader.start([] { return refused("second"); }, [&](Reloader::Outcome) { ++done; }));
    release.set_value();
    io.run();
    EXPECT_EQ(done, 1);

    // Once the first is done, the next one starts.
    io.restart();
    auto again = boost::asio::make_work_guard(io);
    ASSERT_TRUE(reloader.start([] { return refused("third"); },
                               [&](Reloader::Outcome) {
                                   ++done;
                                   again.reset();
                               }));
    io.run();
    EXPECT_EQ(done, 2);
}

TEST(Reloader, ALoadThatThrowsIsRefused) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    Reloader reloader(io.get_executor());
    Reloader::Outcome got;
    ASSERT_TRUE(reloader.start([]() -> Reloader::Outcome { throw std::runtime_error("disk"); },
                               [&](Reloader::Outcome out) {
                                   got = std::move(out);
                                   work.reset();
                               }));
    io.run();
    EXPECT_FALSE(got.runtime);
    ASSERT_EQ(got.problems.size(), 1u);
    EXPECT_NE(got.problems[0].find("disk"), std::string::npos);
}

// SIGHUP then SIGTERM: the daemon stops (its loop no longer runs) while the reload still
// loads, and its App, which owns the Reloader, is destroyed. The completion already posted to
// the loop must not reach the destroyed owner, and the loaded runtime is released with the
// Reloader, not left to the loop.
TEST(Reloader, DestroyedWithAReloadInFlightDropsItsOutcome) {
    boost::asio::io_context io;
    auto reloader = std::make_unique<Reloader>(io.get_executor());
    std::promise<void> started, release;
    auto released = release.get_future().share();
    bool runtime_released = false;
    bool done_called = false;
    ASSERT_TRUE(reloader->start(
        [&, released] {
            started.set_value();
            released.wait();
            auto rt = std::shared_ptr<Runtime>(new Runtime, [&](Runtime* p) {
                runtime_released = true;
                delete p;
            });
            return Reloader::Outcome{rt, {}};
        },
        [&](Reloader::Outcome) { done_called = true; }));
    started.get_future().wait();
    release.set_value();
    reloader.reset();  // waits for the load, which posts its completion to the loop
    EXPECT_TRUE(runtime_released);
    io.run();  // the loop runs what was posted after the Reloader was gone
    EXPECT_FALSE(done_called);
}

}  // namespace
}  // namespace tinbao
