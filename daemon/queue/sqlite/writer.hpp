// The worker threads of the SQLite queue: a thread that owns one connection and runs every
// queued task in one transaction (group commit), each task in its own savepoint; run_on awaits
// a task from the io_context.
//
// Threading: submit() may be called from any thread; tasks run on the worker's thread only, and
// run_on posts each result back to the io_context. Ownership: a Worker owns its connection and
// its thread; its destructor lets the thread finish what was queued, then joins it.
#pragma once

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "daemon/queue/sqlite/connection.hpp"

namespace tinbao::queue::sqlite_detail {

// One operation for a worker: `run` does the work on the worker's connection, `done` is told
// whether it was committed.
struct Task {
    std::function<void(Db&)> run;
    std::function<void(bool)> done;
};

// A thread that owns one connection and runs every queued task in one transaction.
class Worker {
  public:
    Worker(std::unique_ptr<Db> db, const char* begin_sql);
    ~Worker();
    void submit(Task t);
    // False from a write the database refused (disk full, I/O error) until one that changed
    // something is committed again: /readyz answers what POST would get.
    bool healthy() const { return healthy_; }

  private:
    void loop();
    void run_batch(std::deque<Task>& batch);

    std::unique_ptr<Db> db_;
    const char* begin_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Task> tasks_;
    bool stopping_ = false;
    std::atomic<bool> healthy_{true};
    std::thread thread_;
};

// Runs `fn` on the worker and resumes on `io` with its result, or with `fail` when the task was
// not committed.
template <class R>
boost::asio::awaitable<R> run_on(boost::asio::io_context& io, sqlite_detail::Worker& worker,
                                 std::function<R(Db&)> fn, R fail) {
    // The initiation captures plain pointers and the handler is shared: see the g++ 12 note in
    // the README.
    boost::asio::io_context* iop = &io;
    sqlite_detail::Worker* w = &worker;
    auto init = [iop, w, &fn, &fail](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto result = std::make_shared<std::optional<R>>();
        sqlite_detail::Task t;
        t.run = [fn = std::move(fn), result](Db& db) { *result = fn(db); };
        t.done = [iop, h, result, fail = std::move(fail)](bool ok) {
            R r = ok && *result ? std::move(**result) : fail;
            boost::asio::post(*iop, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
        w->submit(std::move(t));
    };
    R r = co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(R)>(
        init, boost::asio::use_awaitable);
    co_return r;
}

}  // namespace tinbao::queue::sqlite_detail
