// Redis Sentinel and replicas under redis::Connection (redis.hpp): the link to the sentinels,
// asking them for the master before each connect and every sentinel_poll while connected,
// refusing a server that is not a master (ROLE, READONLY), and WAIT for replicas.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>

#include "daemon/io/redis.hpp"
#include "daemon/io/redis_state.hpp"

namespace asio = boost::asio;

namespace tinbao::redis {

namespace {

std::atomic<uint64_t> g_master_changes{0};

// The master each master name was last seen at, across the connections of the process: a
// failover is counted and logged at warn once, not once per connection.
bool note_master(const std::string& name, const std::string& address, std::string& before) {
    static std::mutex m;
    static std::map<std::string, std::string> seen;
    std::lock_guard lock(m);
    auto& known = seen[name];
    before = known;
    if (known == address) return false;
    known = address;
    if (!before.empty()) ++g_master_changes;
    return true;
}

}  // namespace

uint64_t master_changes() { return g_master_changes.load(); }

void Connection::State::make_sentinel_link() {
    // The link to the sentinels: one at a time, the next one after a failure.
    opt.require_master = true;
    opt.max_backoff = std::min(opt.max_backoff, std::chrono::milliseconds(1000));
    Options so;
    so.host = opt.sentinels.front().host;
    so.port = opt.sentinels.front().port;
    so.password = opt.sentinel_password;
    so.command_timeout = std::min(opt.command_timeout, std::chrono::milliseconds(2000));
    so.connect_timeout = std::min(opt.connect_timeout, std::chrono::milliseconds(2000));
    so.max_backoff = std::chrono::milliseconds(1000);
    so.require_master = false;
    so.name = opt.name + " sentinel";
    sentinel = std::make_unique<Connection>(io, std::move(so));
    sentinel->state_->rotation = opt.sentinels;
}

// The master's address as a sentinel names it now (SENTINEL get-master-addr-by-name).
void Connection::State::ask_master(
    std::function<void(std::optional<Options::Address>, std::string)> done) {
    auto& link = *sentinel->state_;
    if (!link.ready) {
        std::string why = "no sentinel reachable";
        if (!link.last_error.empty()) why += " (" + link.address() + ": " + link.last_error + ")";
        asio::post(io, [done = std::move(done), why = std::move(why)] { done({}, why); });
        return;
    }
    link.submit({"SENTINEL", "get-master-addr-by-name", opt.master_name}, {},
                [self = shared_from_this(), done = std::move(done)](Result r) {
                    auto& link = *self->sentinel->state_;
                    if (!r.ok) return done({}, "sentinel " + link.address() + ": " + r.error);
                    if (r.reply.is_error())
                        return done({}, "sentinel " + link.address() + ": " + r.reply.str);
                    if (r.reply.type != Reply::Type::array || r.reply.elements.size() != 2)
                        return done({}, "sentinel " + link.address() + " knows no master named " +
                                            self->opt.master_name);
                    Options::Address a;
                    a.host = r.reply.elements[0].str;
                    long port = std::strtol(r.reply.elements[1].str.c_str(), nullptr, 10);
                    if (a.host.empty() || port <= 0 || port > 65535)
                        return done({}, "sentinel " + link.address() +
                                            " gave a master address that is not host and port");
                    a.port = static_cast<uint16_t>(port);
                    std::string where = a.host + ":" + std::to_string(a.port), before;
                    if (note_master(self->opt.master_name, where, before)) {
                        if (before.empty())
                            spdlog::info("redis: the sentinels name {} as master {}", where,
                                         self->opt.master_name);
                        else
                            spdlog::warn("redis: master {} moved from {} to {} (failover)",
                                         self->opt.master_name, before, where);
                    }
                    done(a, {});
                });
}
// While connected: ask every sentinel_poll whether the master is still this one.
void Connection::State::arm_poll() {
    if (!sentinel || polling || stopped) return;
    polling = true;
    poll_timer.expires_after(opt.sentinel_poll);
    poll_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->polling = false;
        if (ec || self->stopped || !self->ready) return;
        auto* c = self->ac;
        self->ask_master([self, c](std::optional<Options::Address> a, std::string) {
            if (self->stopped || !self->ready || self->ac != c) return;
            if (a && (a->host != self->opt.host || a->port != self->opt.port)) {
                self->last_error = "the sentinels name " + a->host + ":" + std::to_string(a->port) +
                                   " as master now";
                spdlog::warn("redis {}: {} (connected to {}); reconnecting", self->opt.name,
                             self->last_error, self->address());
                redisAsyncFree(self->ac);
                return;
            }
            self->arm_poll();
        });
    });
}
// ROLE's first element: "master", "slave" or "sentinel". Never write to anything but a master.
void Connection::State::check_role(const Reply& r, std::string& failed) {
    if (r.is_error()) {
        // An ACL that denies ROLE: without sentinels the operator chose this server.
        if (sentinel) failed = "cannot check the server's role: " + r.str;
        return;
    }
    std::string role = r.type == Reply::Type::array && !r.elements.empty() ? r.elements[0].str
                                                                           : std::string("unknown");
    if (role != "master")
        failed = address() + " is a " + (role == "slave" ? std::string("replica") : role) +
                 ", not a master; not writing to it";
}
asio::awaitable<Result> Connection::wait_replicas(int replicas, std::chrono::milliseconds timeout,
                                                  std::string mark) {
    State* state = state_.get();
    auto init = [state, replicas, timeout, &mark](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        std::function<void(Result)> done = [h](Result r) { (*h)(std::move(r)); };
        Args wait{"WAIT", std::to_string(replicas), std::to_string(timeout.count())};
        auto deadline = timeout + state->opt.command_timeout;
        if (!mark.empty()) {
            state->submit({"PUBLISH", mark, ""}, {}, [](Result) {});
            state->submit(wait, deadline, std::move(done));
            return;
        }
        state->wait_joiners.push_back(std::move(done));
        if (state->wait_joiners.size() > 1) return;  // joins the WAIT in flight
        state->submit(wait, deadline, [s = state->weak_from_this()](Result r) {
            auto self = s.lock();
            if (!self) return;
            auto joiners = std::move(self->wait_joiners);
            self->wait_joiners.clear();
            for (auto& j : joiners) j(r);
        });
    };
    Result result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
        init, asio::use_awaitable);
    co_return result;
}

bool Connection::State::is_readonly(const redisReply* r) {
    // A write on a replica: "READONLY You can't write against a read only replica." (scripts
    // too, in Redis 7).
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
           std::string_view(r->str, r->len).find("READONLY") != std::string_view::npos;
}

}  // namespace tinbao::redis
