// The state under one redis::Connection (redis.hpp): its hiredis context driven by Asio, its
// commands in flight with their deadlines, its reconnects, and in Sentinel mode its link to the
// sentinels. Shared by the two files that implement it: redis.cpp (hiredis on Asio, deadlines,
// connecting and reconnecting) and redis_sentinel.cpp (asking the sentinels for the master,
// checking a server's role, WAIT for replicas). Internal to tinbao_io.
//
// Threading: the io_context the connection was made on. Ownership: shared; the Connection owns
// it, handlers hold it (or a weak reference) while they wait; it owns the hiredis context.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/io/redis.hpp"

namespace tinbao::redis {

struct Connection::State : std::enable_shared_from_this<State> {
    using Clock = std::chrono::steady_clock;

    State(boost::asio::io_context& io, Options o);

    boost::asio::io_context& io;
    Options opt;
    redisAsyncContext* ac = nullptr;
    std::optional<boost::asio::posix::stream_descriptor> sd;
    bool want_read = false, want_write = false, reading = false, writing = false;
    bool ready = false, started = false, stopped = false, connecting = false, retry_pending = false;
    bool write_scheduled = false;
    boost::asio::steady_timer check_timer;
    boost::asio::steady_timer retry_timer;
    boost::asio::ip::tcp::resolver resolver;
    std::chrono::milliseconds backoff{100};
    Clock::time_point connect_deadline{};
    bool checking = false;
    uint64_t next_id = 1;
    std::map<uint64_t, Clock::time_point> pending;  // command id -> deadline
    std::function<void(bool)> on_state;
    std::string last_error;
    // Sentinel mode: the link to a sentinel, and the poll that notices a new master.
    std::unique_ptr<Connection> sentinel;
    boost::asio::steady_timer poll_timer;
    bool polling = false;
    // A sentinel link: the sentinels to try in turn.
    std::vector<Options::Address> rotation;
    size_t turn = 0;
    // WAIT: callers that share the one in flight.
    std::vector<std::function<void(Result)>> wait_joiners;

    // One command in flight: completion is posted to the io_context, never run inside hiredis.
    struct Op {
        std::weak_ptr<State> state;
        uint64_t id;
        std::function<void(Result)> done;
    };

    std::string address() const { return opt.host + ":" + std::to_string(opt.port); }

    // --- commands (redis.cpp) ---
    static void reply_cb(redisAsyncContext* ac, void* r, void* priv);
    void drop_later(redisAsyncContext* c, std::string why);
    void submit(const Args& args, std::chrono::milliseconds timeout,
                std::function<void(Result)> done);
    void send_raw(const Args& args, std::chrono::milliseconds timeout,
                  std::function<void(Result)> done);

    // --- the Asio side of hiredis's event hooks (redis.cpp) ---
    static void add_read(void* p);
    static void del_read(void* p);
    static void add_write(void* p);
    static void del_write(void* p);
    static void cleanup(void* p);
    void arm_read();
    void schedule_write();
    void arm_write();

    // --- deadlines (redis.cpp) ---
    void arm_check();
    void check();

    // --- connection life cycle (redis.cpp) ---
    void connect();
    void resolve();
    void open(const std::string& ip);
    static void on_connect(const redisAsyncContext* c, int status);
    static void on_disconnect(const redisAsyncContext* c, int status);
    void handshake();
    void lost();
    void schedule_retry();

    // --- Sentinel and replicas (redis_sentinel.cpp) ---
    void make_sentinel_link();
    void ask_master(std::function<void(std::optional<Options::Address>, std::string)> done);
    void arm_poll();
    void check_role(const Reply& r, std::string& failed);
    static bool is_readonly(const redisReply* r);
};

}  // namespace tinbao::redis
