// RedisQueue's call-back queue (redis/callbacks.lua; the keys are named in redis/notices.lua).
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/time.hpp"
#include "daemon/queue/redis/queue_parts.hpp"
#include "daemon/queue/redis/redis_queue.hpp"

namespace asio = boost::asio;

namespace tinbao::queue {

using redis_detail::kCallbacks;

namespace redis_detail {

void append_notices(redis::Args& a, const std::vector<Notice>& notices) {
    for (auto& n : notices) {
        a.push_back(n.kind);
        a.push_back(n.body);
        std::string flags;
        if (n.stream) flags += 's';
        if (n.if_settles) flags += 'e';
        if (!n.once_key.empty()) flags += 'o';
        a.push_back(std::move(flags));
        if (!n.once_key.empty()) {
            a.push_back(n.once_key);
            a.push_back(std::to_string(n.once_ttl_ms));
        }
        a.push_back(std::to_string(n.to.size()));
        for (auto& [client, id] : n.to) {
            a.push_back(client);
            a.push_back(id);
        }
    }
}

}  // namespace redis_detail

namespace {

int64_t to_i64(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

}  // namespace

asio::awaitable<Result<void>> RedisQueue::enqueue_notices(const std::vector<Notice>& notices) {
    if (notices.empty()) co_return Result<void>();
    auto st = status_stream_args();
    std::vector<std::string> args{"enqueue",
                                  prefix_ + ":",
                                  std::to_string(now_ms()),
                                  std::to_string(settings_.dedupe_ttl.count()),
                                  st[0],
                                  st[1],
                                  st[2],
                                  std::to_string(notices.size())};
    redis_detail::append_notices(args, notices);
    auto r = co_await kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<Callback>>> RedisQueue::take_callbacks(
    const std::string& client, std::size_t max, std::chrono::milliseconds lease) {
    const int64_t now = now_ms();
    std::vector<std::string> args{"take",
                                  prefix_ + ":",
                                  std::to_string(now),
                                  client,
                                  std::to_string(now + lease.count()),
                                  std::to_string(max)};
    auto r = co_await kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<Callback> out;
    auto& e = r.reply.elements;
    for (std::size_t i = 0; i + 5 < e.size(); i += 6) {
        Callback cb;
        cb.id = e[i].str;
        cb.client = client;
        cb.kind = e[i + 1].str;
        cb.body = e[i + 2].str;
        cb.created_ms = to_i64(e[i + 3].str);
        cb.attempts = static_cast<int>(to_i64(e[i + 4].str));
        cb.last_error = e[i + 5].str;
        cb.due_ms = now;
        out.push_back(std::move(cb));
    }
    co_return out;
}

asio::awaitable<Result<void>> RedisQueue::settle_callbacks(
    const std::vector<CallbackOutcome>& outcomes) {
    if (outcomes.empty()) co_return Result<void>();
    std::vector<std::string> args{"settle", prefix_ + ":", std::to_string(now_ms()),
                                  std::to_string(settings_.dedupe_ttl.count())};
    for (auto& o : outcomes) {
        args.push_back(o.id);
        args.push_back(o.client);
        args.push_back(o.next == CallbackOutcome::Next::done    ? "done"
                       : o.next == CallbackOutcome::Next::retry ? "retry"
                                                                : "dead");
        args.push_back(std::to_string(o.due_ms));
        args.push_back(std::to_string(o.attempts));
        args.push_back(o.last_error);
    }
    auto r = co_await kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<Callback>>> RedisQueue::callback_dead_letters(
    const std::string& client, std::size_t limit) {
    std::vector<std::string> args{"dead", prefix_ + ":", std::to_string(now_ms()), client,
                                  std::to_string(limit)};
    auto r = co_await kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<Callback> out;
    auto& e = r.reply.elements;
    for (std::size_t i = 0; i + 7 < e.size(); i += 8) {
        Callback cb;
        cb.id = e[i].str;
        cb.client = e[i + 1].str;
        cb.kind = e[i + 2].str;
        cb.body = e[i + 3].str;
        cb.created_ms = to_i64(e[i + 4].str);
        cb.attempts = static_cast<int>(to_i64(e[i + 5].str));
        cb.last_error = e[i + 6].str;
        cb.due_ms = static_cast<int64_t>(std::strtod(e[i + 7].str.c_str(), nullptr));
        out.push_back(std::move(cb));
    }
    co_return out;
}

asio::awaitable<Result<std::vector<std::string>>> RedisQueue::replay_callbacks(
    const std::vector<std::string>& ids, const std::string& client) {
    std::vector<std::string> args{"replay", prefix_ + ":", std::to_string(now_ms()), client};
    args.insert(args.end(), ids.begin(), ids.end());
    auto r = co_await kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<std::string> out;
    for (auto& e : r.reply.elements) out.push_back(e.str);
    co_return out;
}

}  // namespace tinbao::queue
