// Redis over hiredis's asynchronous API, driven by Asio.
//
// hiredis 0.14 has no timer hook, so command deadlines are our own: a periodic check disconnects a
// connection whose oldest command is overdue, which fails every command waiting on it. A
// connection reconnects by itself with backoff; while it is down, commands fail at once (callers
// answer 503 or retry later), never block.
//
// With Redis Sentinel (Options::sentinels), a connection asks a sentinel for the master's address
// before each connect, checks with ROLE that the server is a master, and drops the connection (then
// asks again) when the sentinels name another master, when a write meets READONLY, or when the
// connection is lost. Until a master is connected, commands fail at once as while disconnected.
//
// Threading: one RedisConnection lives on one io_context thread; command() must be awaited there.
// Ownership: the connection owns the hiredis context; replies are copied into RedisReply before
// hiredis frees them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao::redis {

struct Reply {
    enum class Type { nil, string, status, error, integer, array };
    Type type = Type::nil;
    std::string str;          // string, status, error
    long long integer = 0;
    std::vector<Reply> elements;

    bool is_error() const { return type == Type::error; }
    bool is_nil() const { return type == Type::nil; }
};

// The outcome of one command: `ok` false means the command did not get an answer (connection down,
// lost, or timed out) and `error` says why; a Redis error reply is ok with reply.type == error.
struct Result {
    bool ok = false;
    std::string error;
    Reply reply;
};

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 6379;
    std::string username;
    std::string password;
    int db = 0;
    std::chrono::milliseconds command_timeout{5000};
    std::chrono::milliseconds connect_timeout{3000};
    std::chrono::milliseconds max_backoff{5000};
    std::string name;   // for logs
    // Redis Sentinel: when not empty, host and port above are the master's as the sentinels last
    // named it, and are asked again before every connect and every `sentinel_poll`.
    struct Address {
        std::string host;
        uint16_t port = 26379;
    };
    std::vector<Address> sentinels;
    std::string master_name;
    std::string sentinel_password;
    std::chrono::milliseconds sentinel_poll{1000};
    // Refuse a server that says (ROLE) it is a replica. Always true with sentinels; without, a
    // server that does not allow ROLE is taken as it is.
    bool require_master = true;
};

// Times the master changed address (Sentinel), across the process: for metrics.
uint64_t master_changes();

using Args = std::vector<std::string>;

class Connection {
public:
    Connection(boost::asio::io_context& io, Options options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Starts connecting (and reconnecting after any loss) until stop().
    void start();
    void stop();
    bool ready() const;
    // The address connected to (or last tried), "host:port".
    std::string address() const;
    // Called on the io thread whenever the connection becomes ready or is lost.
    void on_state_change(std::function<void(bool ready)> fn);

    // One command. `timeout` zero: the connection's command_timeout.
    boost::asio::awaitable<Result> command(Args args,
                                           std::chrono::milliseconds timeout = {});
    // As command(), for arguments the caller keeps alive until the answer (not copied).
    boost::asio::awaitable<Result> command_ref(const Args& args,
                                               std::chrono::milliseconds timeout = {});
    // WAIT: how many replicas have every write this connection made so far (reply: integer).
    // Callers asking while a WAIT is in flight share it (it went out after their writes).
    // `mark` not empty: PUBLISH to that channel first, so the WAIT also covers every write the
    // server made before (another connection's too), at the cost of a round trip of its own.
    boost::asio::awaitable<Result> wait_replicas(int replicas, std::chrono::milliseconds timeout,
                                                 std::string mark = {});
    // Several commands written at once (one round trip); results in order.
    boost::asio::awaitable<std::vector<Result>> pipeline(std::vector<Args> commands,
                                                         std::chrono::milliseconds timeout = {});

    struct State;
private:
    std::shared_ptr<State> state_;
};

// A Lua script run with EVALSHA, falling back to EVAL when the server does not know it yet.
class Script {
public:
    explicit Script(std::string source);
    const std::string& sha1() const { return sha1_; }
    const std::string& source() const { return source_; }
    boost::asio::awaitable<Result> run(Connection& conn, const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args) const;
    // The EVALSHA command, for pipelines (check for NOSCRIPT and use eval_args() then).
    Args evalsha_args(const std::vector<std::string>& keys,
                      const std::vector<std::string>& args) const;
    Args eval_args(const std::vector<std::string>& keys,
                   const std::vector<std::string>& args) const;
    // Runs with no keys; `argv` starts with three placeholders (EVALSHA, sha1, 0 keys), then the
    // script's ARGV. Avoids copying large argument lists.
    boost::asio::awaitable<Result> run_argv(Connection& conn, Args& argv) const;

private:
    std::string source_;
    std::string sha1_;
};

bool is_noscript(const Result& r);

}  // namespace tinbao::redis
