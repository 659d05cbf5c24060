// The SMPP client's sessions (client_impl.hpp): each bind slot connects, binds, is kept alive
// with enquire_link while bound, binds again with backoff after a drop (a refused account waits
// longer), and is unbound at stop. SMPP 3.4 sections 2.2 (sessions), 4.1 (bind), 4.2 (unbind),
// 4.11 (enquire_link).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <string>

#include "providers/smpp/client_impl.hpp"
#include "providers/smpp/conn.hpp"
#include "providers/smpp/status.hpp"

namespace tinbao::smpp {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace detail {

namespace {

const char* role_name(Role r) {
    switch (r) {
        case Role::transceiver:
            return "bind";
        case Role::transmitter:
            return "transmitter";
        case Role::receiver:
            return "receiver";
    }
    return "bind";
}

uint32_t bind_command(Role r) {
    switch (r) {
        case Role::transceiver:
            return cmd::kBindTransceiver;
        case Role::transmitter:
            return cmd::kBindTransmitter;
        case Role::receiver:
            return cmd::kBindReceiver;
    }
    return cmd::kBindTransceiver;
}

}  // namespace

void ClientImpl::start() {
    if (started_ || stopping_) return;
    started_ = true;
    if (o_.tls && !make_tls()) return;
    const Role submitter = o_.pair ? Role::transmitter : Role::transceiver;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        spawn(run_slot(submitter, static_cast<int>(i)));
        if (o_.pair) spawn(run_slot(Role::receiver, static_cast<int>(i)));
    }
}

bool ClientImpl::make_tls() {
    std::string error;
    tls_ctx_ = detail::make_tls_context(o_.tls_ca_file, error);
    if (tls_ctx_) return true;
    tx_.problem = "SMPP over TLS cannot start: " + error;
    spdlog::error("smpp {}: {}", o_.name, tx_.problem);
    return false;
}

asio::awaitable<void> ClientImpl::sleep(milliseconds d) {
    auto t = std::make_shared<asio::steady_timer>(ex_, d);
    sleepers_.push_back(t);
    co_await t->async_wait(tuple_awaitable);
    sleepers_.erase(std::remove(sleepers_.begin(), sleepers_.end(), t), sleepers_.end());
}

milliseconds ClientImpl::jitter(milliseconds d) {
    std::uniform_int_distribution<int64_t> dist(0, d.count() / 5);
    return d + milliseconds(dist(rng_));
}

// One bind slot of one role: connect, bind, serve until the connection ends, again with
// backoff. Each role of a slot (a pair's transmitter and receiver) comes back on its own.
asio::awaitable<void> ClientImpl::run_slot(Role role, int index) {
    auto self = shared_from_this();
    const std::string label = role_name(role) + (" " + std::to_string(index + 1));
    auto& mine = role == Role::receiver ? receivers_ : slots_;
    Health& health = role == Role::receiver ? rx_ : tx_;
    milliseconds backoff(1000);
    bool reported = false;  // the current failure was logged at error level already
    while (!stopping_) {
        auto conn = std::make_shared<Conn>(ex_, tls_ctx_.get(), label);
        live_.push_back(conn);
        std::string error = co_await detail::connect(conn, o_.host, o_.port, o_.timeout);
        bool account = false;
        if (error.empty()) {
            spawn(read_loop(conn));
            Reply r = co_await bind(conn, role);
            if (r.pdu && r.pdu->command_status == status::kOk && conn->open) {
                conn->bound = true;
                mine[static_cast<std::size_t>(index)] = conn;
                health.account = false;
                health.last_error.clear();
                if (reported || !health.problem.empty())
                    spdlog::info("smpp {}: {} is back", o_.name, label);
                health.problem.clear();
                reported = false;
                backoff = milliseconds(1000);
                spdlog::info("smpp {}: {}/{} up: {}", o_.name, label, mine.size(),
                             answer_text(*r.pdu));
                wake_all();
                spawn(enquire_loop(conn));
                co_await conn->closed.async_wait(tuple_awaitable);
                if (mine[static_cast<std::size_t>(index)] == conn)
                    mine[static_cast<std::size_t>(index)] = nullptr;
                forget(conn);
                if (stopping_) break;
                spdlog::warn("smpp {}: {} lost ({}); binding again in 1 s", o_.name, label,
                             conn->closed_reason);
                co_await sleep(jitter(milliseconds(1000)));
                continue;
            }
            if (r.pdu) {
                uint32_t st = r.pdu->command_status;
                account = is_account_problem(st);
                error = command_name(bind_command(role)) + " refused: " + describe_status(st);
                if (account)
                    error +=
                        " (check system_id, password and system_type with the SMSC's "
                        "operator)";
                else if (role == Role::transceiver && (st == status::kInvalidCommandId ||
                                                       r.pdu->command_id == cmd::kGenericNack))
                    error += " (an SMSC that wants a transmitter and a receiver: bind: pair)";
            } else {
                error = r.lost
                            ? "the connection closed during the bind (" + conn->closed_reason + ")"
                            : r.error;
            }
        }
        close(conn, error);
        forget(conn);
        if (stopping_) break;
        health.last_error = error;
        health.problem = "SMPP " + std::string(role == Role::receiver ? "receiver " : "") +
                         "bind to " + o_.host + ":" + std::to_string(o_.port) +
                         " failing: " + error;
        health.account = account;
        // A refused account is not asked again soon: at least a minute, up to ten.
        milliseconds delay = account ? std::max(backoff, milliseconds(60000)) : backoff;
        if (account && !reported)
            spdlog::error("smpp {}: {}: {}; trying again in {} s", o_.name, label, error,
                          delay.count() / 1000);
        else
            spdlog::warn("smpp {}: {}: {}; trying again in {} s", o_.name, label, error,
                         delay.count() / 1000);
        reported = reported || account;
        backoff = std::min(delay * 2, milliseconds(account ? 600000 : 60000));
        wake_all();  // a send waiting for a bind learns of the account problem
        co_await sleep(jitter(delay));
    }
}

void ClientImpl::forget(const ConnPtr& c) {
    live_.erase(std::remove(live_.begin(), live_.end(), c), live_.end());
}

std::string ClientImpl::answer_text(const Pdu& resp) {
    std::string a = command_name(resp.command_id) + " " + describe_status(resp.command_status);
    if (!resp.system_id.empty()) a += " system_id " + resp.system_id;
    return a;
}

asio::awaitable<Reply> ClientImpl::bind(ConnPtr conn, Role role) {
    Pdu p;
    p.command_id = bind_command(role);
    p.system_id = o_.system_id;
    p.password = o_.password;
    p.system_type = o_.system_type;
    p.interface_version = 0x34;
    Reply r = co_await request(conn, std::move(p), Clock::now() + o_.timeout);
    if (r.pdu && role != Role::receiver) bind_answer_ = answer_text(*r.pdu);
    co_return r;
}

asio::awaitable<void> ClientImpl::unbind(ConnPtr conn, Clock::time_point deadline) {
    Pdu p;
    p.command_id = cmd::kUnbind;
    Reply r = co_await request(conn, std::move(p), deadline);
    spdlog::info("smpp {}: {} {}", o_.name, conn->label,
                 r.pdu ? "unbound" : "closed without unbind_resp");
    close(conn, "unbound");
}

asio::awaitable<void> ClientImpl::enquire_loop(ConnPtr conn) {
    auto self = shared_from_this();
    while (conn->open && conn->bound) {
        conn->enquire.expires_after(o_.enquire_link);
        co_await conn->enquire.async_wait(tuple_awaitable);
        if (!conn->open || !conn->bound || stopping_) break;
        Pdu p;
        p.command_id = cmd::kEnquireLink;
        Reply r = co_await request(conn, std::move(p), Clock::now() + o_.timeout);
        if (!r.pdu && conn->open) close(conn, "no enquire_link_resp within " + ms_text(o_.timeout));
    }
}

}  // namespace detail

}  // namespace tinbao::smpp
