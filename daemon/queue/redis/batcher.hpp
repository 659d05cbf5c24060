// The group commit of the Redis queue: calls of one Lua script from many coroutines go out in
// one script run.
//
// Threading: the io_context thread that runs the queue, only. Ownership: RedisQueue owns its
// batchers; a batcher borrows the queue's command connection and a script, and a run still in
// flight when it is destroyed touches nothing of it when the answer comes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/io/redis.hpp"
#include "daemon/queue/redis/redis_queue.hpp"

namespace tinbao::queue {

// Calls of one script from many coroutines, gathered into one script run (group commit): a call
// waits for the end of the current turn of the loop, or for the run in flight to finish, and
// goes out with every call that arrived meanwhile (at most `max_calls`). Under load, batches grow
// by themselves; alone, a call costs one round trip as before.
class RedisQueue::Batcher {
  public:
    using Head = std::function<void(redis::Args&)>;
    // A script may answer one reply more, for the whole batch, last: with a `tail`, the whole
    // reply is given to it before the callers resume.
    using Tail = std::function<void(redis::Reply&)>;
    Batcher(boost::asio::io_context& io, redis::Connection& conn, const redis::Script& script,
            std::string what, std::size_t max_calls, Head head, Tail tail = {})
        : io_(io),
          conn_(conn),
          script_(script),
          what_(std::move(what)),
          max_calls_(max_calls),
          head_(std::move(head)),
          tail_(std::move(tail)) {}
    ~Batcher() { *alive_ = false; }
    Batcher(const Batcher&) = delete;
    Batcher& operator=(const Batcher&) = delete;

    // The script's reply for this call; nullopt when the run failed (Redis did not answer, or
    // the script failed for this call: callers retry or answer 503). When the script fails on
    // a batch, its calls are run again one by one, so one bad call fails alone.
    boost::asio::awaitable<std::optional<redis::Reply>> call(redis::Args args);

  private:
    struct Call {
        redis::Args args;
        std::function<void(std::optional<redis::Reply>)> done;
        bool alone = false;  // run in a batch of its own (its batch failed)
    };

    void schedule();

    boost::asio::awaitable<void> flush();

    boost::asio::io_context& io_;
    redis::Connection& conn_;
    const redis::Script& script_;
    std::string what_;
    std::size_t max_calls_;
    Head head_;
    Tail tail_;
    std::deque<Call> waiting_;
    int running_ = 0;
    bool posted_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // Runs in flight at once. One gives the largest batches; two or four measured no faster
    // (bench/README.md): Redis and the CPU are the limits, not the round trip.
    static constexpr int kMaxRuns = 1;
};

}  // namespace tinbao::queue
