#include "daemon/queue/redis/batcher.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <utility>
#include <vector>

namespace asio = boost::asio;

namespace tinbao::queue {

asio::awaitable<std::optional<redis::Reply>> RedisQueue::Batcher::call(redis::Args args) {
    auto init = [this, &args](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        waiting_.push_back(
            Call{std::move(args), [h](std::optional<redis::Reply> r) { (*h)(std::move(r)); }});
        schedule();
    };
    std::optional<redis::Reply> r =
        co_await asio::async_initiate<decltype(asio::use_awaitable),
                                      void(std::optional<redis::Reply>)>(init, asio::use_awaitable);
    co_return r;
}

void RedisQueue::Batcher::schedule() {
    if (posted_ || waiting_.empty() || running_ >= kMaxRuns) return;
    posted_ = true;
    asio::post(io_, [this, alive = alive_] {
        if (!*alive) return;
        posted_ = false;
        if (waiting_.empty() || running_ >= kMaxRuns) return;
        ++running_;
        asio::co_spawn(io_, flush(), asio::detached);
    });
}

asio::awaitable<void> RedisQueue::Batcher::flush() {
    std::vector<Call> batch;
    std::vector<std::size_t> arg_counts;  // to give each call its arguments back
    redis::Args argv(3);                  // EVALSHA sha1 0
    head_(argv);
    const std::size_t head_size = argv.size();
    while (!waiting_.empty() && batch.size() < max_calls_) {
        auto& c = waiting_.front();
        if (c.alone && !batch.empty()) break;
        arg_counts.push_back(c.args.size());
        for (auto& a : c.args) argv.push_back(std::move(a));
        c.args.clear();
        bool alone = c.alone;
        batch.push_back(std::move(c));
        waiting_.pop_front();
        if (alone) break;
    }
    schedule();  // what is left goes out in the next run
    // The queue may be gone when the answer comes (stopped with a run in flight): after
    // the await, only locals are used until `alive` says otherwise.
    auto alive = alive_;
    asio::io_context& io = io_;
    std::string what = what_;
    redis::Result r = co_await script_.run_argv(conn_, argv);
    bool ok = r.ok && r.reply.type == redis::Reply::Type::array &&
              r.reply.elements.size() == batch.size() + (tail_ ? 1 : 0);
    if (!ok && r.ok && r.reply.is_error() && batch.size() > 1 && *alive) {
        // The script failed on something in this batch: each call goes again alone, first
        // in line, so that only the call at fault fails.
        spdlog::warn("queue: {} of {} call(s) failed: {}; running them one by one", what,
                     batch.size(), r.reply.str);
        std::size_t at = head_size;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto& c = batch[i];
            c.args.assign(std::make_move_iterator(argv.begin() + at),
                          std::make_move_iterator(argv.begin() + at + arg_counts[i]));
            at += arg_counts[i];
            c.alone = true;
        }
        for (auto it = batch.rbegin(); it != batch.rend(); ++it)
            waiting_.push_front(std::move(*it));
        --running_;
        schedule();
        co_return;
    }
    if (!ok)
        spdlog::warn("queue: {} of {} call(s) failed: {}", what, batch.size(),
                     !r.ok ? r.error : (r.reply.is_error() ? r.reply.str : "unexpected reply"));
    if (ok && tail_ && *alive) tail_(r.reply);
    // The callers resume from a fresh handler, not inside this coroutine.
    asio::post(io, [batch = std::move(batch), reply = std::move(r.reply), ok]() mutable {
        for (size_t i = 0; i < batch.size(); ++i)
            batch[i].done(ok ? std::optional<redis::Reply>(std::move(reply.elements[i]))
                             : std::nullopt);
    });
    if (!*alive) co_return;
    --running_;
    schedule();
}

}  // namespace tinbao::queue
