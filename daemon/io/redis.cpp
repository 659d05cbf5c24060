#include "daemon/io/redis.hpp"

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "daemon/io/redis_state.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <optional>

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace tinbao::redis {

namespace {

Reply convert(const redisReply* r) {
    Reply out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = Reply::Type::string;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = Reply::Type::status;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = Reply::Type::error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = Reply::Type::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = Reply::Type::array;
            out.elements.reserve(r->elements);
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
            break;
        default:
            out.type = Reply::Type::nil;
    }
    return out;
}

}  // namespace

Connection::State::State(asio::io_context& io, Options o)
    : io(io), opt(std::move(o)), check_timer(io), retry_timer(io), resolver(io), poll_timer(io) {
    if (!opt.sentinels.empty()) make_sentinel_link();
}

void Connection::State::reply_cb(redisAsyncContext* ac, void* r, void* priv) {
    std::unique_ptr<Op> op(static_cast<Op*>(priv));
    Result res;
    bool readonly = false;
    if (r) {
        res.ok = true;
        res.reply = convert(static_cast<redisReply*>(r));
        readonly = is_readonly(static_cast<redisReply*>(r));
    } else {
        res.ok = false;
        res.error = ac && ac->errstr[0] ? ac->errstr : "connection lost";
    }
    auto self = op->state.lock();
    if (self) self->pending.erase(op->id);
    if (!self) return;
    if (readonly) self->drop_later(ac, "the server is a replica now (READONLY)");
    asio::post(self->io, [done = std::move(op->done), res = std::move(res)]() mutable {
        done(std::move(res));
    });
}

// Drops this connection (from outside hiredis's callbacks) if it is still `c`: every waiting
// command fails, and the next connect asks the sentinels again.
void Connection::State::drop_later(redisAsyncContext* c, std::string why) {
    asio::post(io, [self = shared_from_this(), c, why = std::move(why)] {
        if (!self->ac || self->ac != c || !self->ready) return;
        self->last_error = why;
        spdlog::warn("redis {}: {}; reconnecting", self->opt.name, why);
        redisAsyncFree(self->ac);
    });
}

void Connection::State::submit(const Args& args, std::chrono::milliseconds timeout,
                               std::function<void(Result)> done) {
    if (!ready || !ac) {
        Result res;
        res.error =
            last_error.empty() ? "redis not connected" : "redis not connected: " + last_error;
        asio::post(
            io, [done = std::move(done), res = std::move(res)]() mutable { done(std::move(res)); });
        return;
    }
    send_raw(args, timeout, std::move(done));
}

void Connection::State::send_raw(const Args& args, std::chrono::milliseconds timeout,
                                 std::function<void(Result)> done) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    auto id = next_id++;
    auto op = std::make_unique<Op>(Op{weak_from_this(), id, std::move(done)});
    auto* raw = op.get();
    if (redisAsyncCommandArgv(ac, &State::reply_cb, raw, static_cast<int>(argv.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
        Result res;
        res.error = "redis command rejected by the client";
        asio::post(
            io, [d = std::move(op->done), res = std::move(res)]() mutable { d(std::move(res)); });
        return;
    }
    op.release();  // owned by hiredis until reply_cb
    pending.emplace(id, Clock::now() + (timeout.count() > 0 ? timeout : opt.command_timeout));
    arm_check();
}

// --- the Asio side of hiredis's event hooks ---
void Connection::State::add_read(void* p) {
    auto* s = static_cast<State*>(p);
    s->want_read = true;
    s->arm_read();
}

void Connection::State::del_read(void* p) { static_cast<State*>(p)->want_read = false; }

void Connection::State::add_write(void* p) {
    auto* s = static_cast<State*>(p);
    s->want_write = true;
    s->schedule_write();
}

void Connection::State::del_write(void* p) { static_cast<State*>(p)->want_write = false; }

void Connection::State::cleanup(void* p) {
    auto* s = static_cast<State*>(p);
    s->ac = nullptr;
    s->want_read = s->want_write = false;
    if (s->sd) {
        s->sd->release();  // hiredis closes the fd itself
        s->sd.reset();
    }
    s->lost();
}

// Asio's epoll reactor is edge-triggered and async_wait is not speculative: a readiness edge
// that came while no wait was pending is not reported again. So reads drain everything the
// socket has before waiting again, and writes are tried first and waited for only when the
// socket buffer is full.
void Connection::State::arm_read() {
    if (reading || !sd) return;
    reading = true;
    sd->async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](boost::system::error_code ec) {
                       self->reading = false;
                       if (ec || !self->ac) return;
                       while (self->ac && self->want_read) {
                           redisAsyncHandleRead(self->ac);
                           if (!self->ac || !self->sd) return;
                           int pending_bytes = 0;
                           if (::ioctl(self->sd->native_handle(), FIONREAD, &pending_bytes) != 0 ||
                               pending_bytes <= 0)
                               break;
                       }
                       if (self->ac && self->want_read) self->arm_read();
                   });
}

void Connection::State::schedule_write() {
    // Deferred to the end of this turn of the loop, so every command issued meanwhile goes
    // out in one write (pipelining).
    if (write_scheduled || writing) return;
    write_scheduled = true;
    asio::post(io, [self = shared_from_this()] {
        self->write_scheduled = false;
        if (!self->ac || !self->want_write) return;
        redisAsyncHandleWrite(self->ac);
        if (self->ac && self->want_write) self->arm_write();
    });
}

void Connection::State::arm_write() {
    if (writing || !sd) return;
    writing = true;
    sd->async_wait(asio::posix::stream_descriptor::wait_write,
                   [self = shared_from_this()](boost::system::error_code ec) {
                       self->writing = false;
                       if (ec || !self->ac) return;
                       if (self->want_write) redisAsyncHandleWrite(self->ac);
                       if (self->ac && self->want_write) self->arm_write();
                   });
}

// --- deadlines ---
void Connection::State::arm_check() {
    if (checking) return;
    checking = true;
    check_timer.expires_after(std::chrono::milliseconds(100));
    check_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->checking = false;
        if (ec) return;
        self->check();
    });
}

void Connection::State::check() {
    auto now = Clock::now();
    bool overdue = false;
    for (auto& [id, deadline] : pending)
        if (deadline < now) {
            overdue = true;
            break;
        }
    if (connecting && !ready && now > connect_deadline) overdue = true;
    if (overdue && ac) {
        last_error = connecting && !ready ? "connect timed out" : "command timed out";
        spdlog::warn("redis {}: {}; dropping the connection", opt.name, last_error);
        auto* c = ac;
        redisAsyncFree(c);  // fails every waiting command, then cleanup() runs
        return;
    }
    if (!pending.empty() || (connecting && !ready)) arm_check();
}

// --- connection life cycle ---
void Connection::State::connect() {
    if (stopped) return;
    connecting = true;
    connect_deadline = Clock::now() + opt.connect_timeout;
    if (!rotation.empty()) {
        auto& a = rotation[turn % rotation.size()];
        opt.host = a.host;
        opt.port = a.port;
    }
    if (sentinel) {
        ask_master(
            [self = shared_from_this()](std::optional<Options::Address> a, std::string error) {
                if (self->stopped) return;
                if (!a) {
                    self->last_error = error;
                    self->schedule_retry();
                    return;
                }
                self->opt.host = a->host;
                self->opt.port = a->port;
                self->resolve();
            });
        return;
    }
    resolve();
}

void Connection::State::resolve() {
    resolver.async_resolve(
        opt.host, std::to_string(opt.port),
        [self = shared_from_this()](boost::system::error_code ec,
                                    asio::ip::tcp::resolver::results_type results) {
            if (self->stopped) return;
            if (ec || results.empty()) {
                self->last_error = "cannot resolve " + self->opt.host;
                self->schedule_retry();
                return;
            }
            self->open(results.begin()->endpoint().address().to_string());
        });
}

void Connection::State::open(const std::string& ip) {
    redisAsyncContext* c = redisAsyncConnect(ip.c_str(), opt.port);
    if (!c) {
        last_error = "out of memory";
        schedule_retry();
        return;
    }
    if (c->err) {
        last_error = c->errstr;
        redisAsyncFree(c);
        schedule_retry();
        return;
    }
    ac = c;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = &State::add_read;
    ac->ev.delRead = &State::del_read;
    ac->ev.addWrite = &State::add_write;
    ac->ev.delWrite = &State::del_write;
    ac->ev.cleanup = &State::cleanup;
    sd.emplace(io, ac->c.fd);
    redisAsyncSetConnectCallback(ac, &State::on_connect);
    redisAsyncSetDisconnectCallback(ac, &State::on_disconnect);
    // Setting the connect callback asks for the first writable event, which completes
    // the non-blocking connect.
    arm_check();
}

void Connection::State::on_connect(const redisAsyncContext* c, int status) {
    auto* s = static_cast<State*>(c->data);
    if (status != REDIS_OK) {
        s->last_error = c->errstr;
        return;  // hiredis frees the context; cleanup() schedules the retry
    }
    s->handshake();
}

void Connection::State::on_disconnect(const redisAsyncContext* c, int status) {
    auto* s = static_cast<State*>(c->data);
    if (status != REDIS_OK && c->errstr[0]) s->last_error = c->errstr;
}

void Connection::State::handshake() {
    std::vector<Args> cmds;
    if (!opt.password.empty()) {
        if (opt.username.empty())
            cmds.push_back({"AUTH", opt.password});
        else
            cmds.push_back({"AUTH", opt.username, opt.password});
    }
    if (opt.db != 0) cmds.push_back({"SELECT", std::to_string(opt.db)});
    cmds.push_back({"PING"});
    if (opt.require_master) cmds.push_back({"ROLE"});
    auto remaining = std::make_shared<size_t>(cmds.size());
    auto failed = std::make_shared<std::string>();
    for (auto& cmd : cmds) {
        bool is_auth = cmd[0] == "AUTH", is_role = cmd[0] == "ROLE";
        send_raw(cmd, opt.connect_timeout,
                 [self = shared_from_this(), remaining, failed, is_auth, is_role](Result r) {
                     if (!r.ok)
                         *failed = r.error;
                     else if (is_role)
                         self->check_role(r.reply, *failed);
                     else if (r.reply.is_error())
                         *failed = is_auth ? "authentication failed" : r.reply.str;
                     if (--*remaining > 0) return;
                     if (!failed->empty()) {
                         self->last_error = *failed;
                         spdlog::error("redis {}: {}", self->opt.name, *failed);
                         if (self->ac) redisAsyncFree(self->ac);
                         return;
                     }
                     self->connecting = false;
                     self->ready = true;
                     self->backoff = std::chrono::milliseconds(100);
                     self->last_error.clear();
                     spdlog::info("redis {}: connected to {}:{}", self->opt.name, self->opt.host,
                                  self->opt.port);
                     self->arm_poll();
                     if (self->on_state) self->on_state(true);
                 });
    }
}

void Connection::State::lost() {
    bool was_ready = ready;
    ready = false;
    connecting = false;
    if (was_ready) {
        spdlog::warn("redis {}: connection lost{}{}", opt.name, last_error.empty() ? "" : ": ",
                     last_error);
        if (on_state) on_state(false);
    }
    // Called from inside hiredis: reconnect from a fresh handler.
    asio::post(io, [self = shared_from_this()] { self->schedule_retry(); });
}

void Connection::State::schedule_retry() {
    connecting = false;
    if (stopped || ac || retry_pending) return;
    if (!rotation.empty()) ++turn;
    retry_timer.expires_after(backoff);
    backoff = std::min(backoff * 2, opt.max_backoff);
    retry_pending = true;
    retry_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->retry_pending = false;
        if (ec || self->stopped) return;
        self->connect();
    });
}

Connection::Connection(asio::io_context& io, Options options)
    : state_(std::make_shared<State>(io, std::move(options))) {}

Connection::~Connection() { stop(); }

void Connection::start() {
    if (state_->started) return;
    state_->started = true;
    if (state_->sentinel) state_->sentinel->start();
    state_->connect();
}

void Connection::stop() {
    auto& s = *state_;
    if (s.stopped) return;
    s.stopped = true;
    s.retry_timer.cancel();
    s.check_timer.cancel();
    s.poll_timer.cancel();
    s.resolver.cancel();
    if (s.sentinel) s.sentinel->stop();
    if (s.ac) redisAsyncFree(s.ac);
    s.ready = false;
}

bool Connection::ready() const { return state_->ready; }

std::string Connection::address() const { return state_->address(); }

void Connection::on_state_change(std::function<void(bool)> fn) { state_->on_state = std::move(fn); }

asio::awaitable<Result> Connection::command(Args args, std::chrono::milliseconds timeout) {
    // Written as a named result, not `co_return co_await`: g++ 12 destroys temporaries of that
    // form twice. The initiation captures a plain pointer for the same reason.
    State* state = state_.get();
    auto init = [state, &args, timeout](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        state->submit(args, timeout, [h](Result r) { (*h)(std::move(r)); });
    };
    Result result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
        init, asio::use_awaitable);
    co_return result;
}

asio::awaitable<Result> Connection::command_ref(const Args& args,
                                                std::chrono::milliseconds timeout) {
    State* state = state_.get();
    const Args* a = &args;
    auto init = [state, a, timeout](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        state->submit(*a, timeout, [h](Result r) { (*h)(std::move(r)); });
    };
    Result result = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
        init, asio::use_awaitable);
    co_return result;
}

asio::awaitable<std::vector<Result>> Connection::pipeline(std::vector<Args> commands,
                                                          std::chrono::milliseconds timeout) {
    State* state = state_.get();
    auto init = [state, &commands, timeout](auto handler) {
        struct Batch {
            std::vector<Result> results;
            size_t left;
            decltype(handler) h;
        };
        auto n = commands.size();
        auto batch = std::make_shared<Batch>(Batch{std::vector<Result>(n), n, std::move(handler)});
        if (n == 0) {
            asio::post(state->io, [batch] { batch->h(std::move(batch->results)); });
            return;
        }
        for (size_t i = 0; i < n; ++i)
            state->submit(commands[i], timeout, [batch, i](Result r) {
                batch->results[i] = std::move(r);
                if (--batch->left == 0) batch->h(std::move(batch->results));
            });
    };
    std::vector<Result> results =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::vector<Result>)>(
            init, asio::use_awaitable);
    co_return results;
}

// --- scripts ---

Script::Script(std::string source) : source_(std::move(source)) {
    sha1_ = hex_encode(tinbao::sha1(source_));
}

static Args script_args(std::string_view verb, const std::string& what,
                        const std::vector<std::string>& keys,
                        const std::vector<std::string>& args) {
    Args a;
    a.reserve(3 + keys.size() + args.size());
    a.emplace_back(verb);
    a.push_back(what);
    a.push_back(std::to_string(keys.size()));
    a.insert(a.end(), keys.begin(), keys.end());
    a.insert(a.end(), args.begin(), args.end());
    return a;
}

Args Script::evalsha_args(const std::vector<std::string>& keys,
                          const std::vector<std::string>& args) const {
    return script_args("EVALSHA", sha1_, keys, args);
}

Args Script::eval_args(const std::vector<std::string>& keys,
                       const std::vector<std::string>& args) const {
    return script_args("EVAL", source_, keys, args);
}

bool is_noscript(const Result& r) {
    return r.ok && r.reply.is_error() && r.reply.str.rfind("NOSCRIPT", 0) == 0;
}

asio::awaitable<Result> Script::run(Connection& conn, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& args) const {
    Args first = evalsha_args(keys, args);
    Result r = co_await conn.command(std::move(first));
    if (is_noscript(r)) {
        Args full = eval_args(keys, args);
        r = co_await conn.command(std::move(full));
    }
    co_return r;
}

asio::awaitable<Result> Script::run_argv(Connection& conn, Args& argv) const {
    argv.resize(std::max<std::size_t>(argv.size(), 3));
    argv[0] = "EVALSHA";
    argv[1] = sha1_;
    argv[2] = "0";
    Result r = co_await conn.command_ref(argv);
    if (is_noscript(r)) {
        argv[0] = "EVAL";
        argv[1] = source_;
        r = co_await conn.command_ref(argv);
    }
    co_return r;
}

}  // namespace tinbao::redis
