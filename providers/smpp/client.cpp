#include "providers/smpp/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <vector>

#include "providers/smpp/conn.hpp"
#include "providers/smpp/status.hpp"

namespace tinbao::smpp {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
const auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

using detail::Conn;
using detail::ConnPtr;
using detail::ms_text;
using detail::Pending;
using detail::Reply;

// What a session is bound as: a transceiver submits and takes deliver_sm; with `bind: pair`, a
// transmitter submits and a receiver takes deliver_sm (SMPP 3.4 section 2.2).
enum class Role { transceiver, transmitter, receiver };

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

// The failure of one kind of session (the submitting ones, the receivers), for problem().
struct Health {
    std::string problem, last_error;
    bool account = false;
};

class ClientImpl final : public Client {
  public:
    ClientImpl(asio::any_io_executor ex, ClientOptions o, InboundHandler on_inbound)
        : ex_(std::move(ex)),
          o_(std::move(o)),
          on_inbound_(std::move(on_inbound)),
          slots_(static_cast<std::size_t>(std::max(1, o_.binds))),
          receivers_(o_.pair ? slots_.size() : 0),
          rng_(std::random_device{}()) {}

    void start() override {
        if (started_ || stopping_) return;
        started_ = true;
        if (o_.tls && !make_tls()) return;
        const Role submitter = o_.pair ? Role::transmitter : Role::transceiver;
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            spawn(run_slot(submitter, static_cast<int>(i)));
            if (o_.pair) spawn(run_slot(Role::receiver, static_cast<int>(i)));
        }
    }

    asio::awaitable<void> stop(milliseconds grace) override {
        auto deadline = Clock::now() + grace;
        stopping_ = true;
        wake_all();
        for (auto& s : sleepers_) s->cancel();
        // The submit_sm in flight get their answers first, for at most half the grace.
        auto drain_until = Clock::now() + grace / 2;
        while (Clock::now() < drain_until && any_submits()) {
            asio::steady_timer t(ex_, milliseconds(10));
            co_await t.async_wait(tuple_awaitable);
        }
        auto self = shared_from_this();
        auto left = std::make_shared<int>(0);
        for (auto& c : live_) {
            if (!c->open) continue;
            if (!c->bound) {
                close(c, "stopping");
                continue;
            }
            ++*left;
            asio::co_spawn(ex_, unbind(c, deadline), [left](std::exception_ptr) { --*left; });
        }
        while (*left > 0 && Clock::now() < deadline) {
            asio::steady_timer t(ex_, milliseconds(10));
            co_await t.async_wait(tuple_awaitable);
        }
        close_now();
    }

    void close_now() override {
        stopping_ = true;
        for (auto& s : sleepers_) s->cancel();
        auto live = live_;
        for (auto& c : live) close(c, "stopped");
        wake_all();
    }

    asio::awaitable<SubmitOutcome> submit(Pdu pdu, Clock::time_point deadline) override {
        auto self = shared_from_this();  // the provider may go while this runs
        for (;;) {
            if (stopping_ || !started_)
                co_return outcome(SubmitOutcome::Kind::unavailable,
                                  "the SMPP provider is stopping");
            if (tx_.account && bound() == 0)
                co_return outcome(SubmitOutcome::Kind::account, tx_.problem);
            auto now = Clock::now();
            ConnPtr conn = pick(now);
            if (!conn) {
                if (now >= deadline) {
                    if (bound() == 0)
                        co_return outcome(
                            SubmitOutcome::Kind::unavailable,
                            "no SMPP session bound" +
                                (tx_.last_error.empty() ? "" : ": " + tx_.last_error));
                    co_return outcome(SubmitOutcome::Kind::timeout,
                                      "every session's window stayed full (or throttled) until "
                                      "the deadline");
                }
                auto until = deadline;
                for (auto& c : slots_)
                    if (c && c->bound && c->paused_until > now)
                        until = std::min(until, c->paused_until);
                co_await wait_change(until);
                continue;
            }
            ++conn->submits;
            if (o_.rate_per_second > 0) {
                auto slot = std::max(now, next_submit_);
                if (slot > deadline) {
                    --conn->submits;
                    co_return outcome(SubmitOutcome::Kind::timeout,
                                      "rate_per_second leaves no room before the deadline");
                }
                next_submit_ = slot + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(1.0 / o_.rate_per_second));
                if (slot > now) {
                    asio::steady_timer t(ex_, slot);
                    co_await t.async_wait(tuple_awaitable);
                }
            }
            Reply r;
            if (conn->open && conn->bound)
                r = co_await request(conn, std::move(pdu), deadline);
            else
                r.lost = true;
            --conn->submits;
            wake_all();
            if (!r.pdu) {
                if (r.lost)
                    co_return outcome(SubmitOutcome::Kind::unavailable,
                                      "the SMPP connection closed before submit_sm_resp (" +
                                          conn->closed_reason + ")");
                co_return outcome(SubmitOutcome::Kind::timeout, r.error);
            }
            const Pdu& resp = *r.pdu;
            SubmitOutcome out;
            out.status = resp.command_status;
            out.trace = command_name(resp.command_id) + " " + describe_status(resp.command_status);
            if (resp.command_status == status::kOk) {
                conn->throttle_pause = milliseconds(0);
                out.kind = SubmitOutcome::Kind::accepted;
                out.message_id = resp.message_id;
                out.trace += " message_id " + resp.message_id;
                out.detail = "message_id " + resp.message_id;
                co_return out;
            }
            out.kind = SubmitOutcome::Kind::refused;
            out.detail =
                command_name(resp.command_id) + ": " + describe_status(resp.command_status);
            if (is_throttle(resp.command_status)) {
                // The session slows down: no submit_sm on it for a while, longer each time.
                conn->throttle_pause =
                    std::clamp(conn->throttle_pause * 2, milliseconds(500), milliseconds(30000));
                conn->paused_until = Clock::now() + conn->throttle_pause;
                spdlog::warn("smpp {}: {} throttled ({}): no submit_sm on it for {}", o_.name,
                             conn->label, describe_status(resp.command_status),
                             ms_text(conn->throttle_pause));
                out.detail += "; session paused " + ms_text(conn->throttle_pause);
            } else if (resp.command_status == 0x04) {
                close(conn, "the SMSC says the session is not bound (ESME_RINVBNDSTS)");
            }
            co_return out;
        }
    }

    // The submitting sessions first; with `bind: pair`, receivers that cannot bind too (the
    // receipts and the citizens' replies wait at the SMSC meanwhile).
    std::string problem() const override {
        if (count(slots_) == 0 && !tx_.problem.empty()) return tx_.problem;
        if (o_.pair && count(receivers_) == 0 && !rx_.problem.empty())
            return rx_.problem + "; receipts and replies wait at the SMSC";
        return {};
    }

    int bound() const override { return count(slots_); }
    int receivers_bound() const override { return count(receivers_); }

    std::string bind_answer() const override { return bind_answer_; }

  private:
    template <class Awaitable>
    void spawn(Awaitable a) {
        asio::co_spawn(ex_, std::move(a), [name = o_.name](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                spdlog::error("smpp {}: session task failed: {}", name, x.what());
            }
        });
    }

    static SubmitOutcome outcome(SubmitOutcome::Kind k, std::string detail) {
        SubmitOutcome o;
        o.kind = k;
        o.trace = detail;
        o.detail = std::move(detail);
        return o;
    }

    static int count(const std::vector<ConnPtr>& v) {
        int n = 0;
        for (auto& c : v)
            if (c && c->open && c->bound) ++n;
        return n;
    }

    bool make_tls() {
        std::string error;
        tls_ctx_ = detail::make_tls_context(o_.tls_ca_file, error);
        if (tls_ctx_) return true;
        tx_.problem = "SMPP over TLS cannot start: " + error;
        spdlog::error("smpp {}: {}", o_.name, tx_.problem);
        return false;
    }

    bool any_submits() const {
        for (auto& c : live_)
            if (c->open && c->submits > 0) return true;
        return false;
    }

    // A bound session with room in its window and not throttled, taken in turn.
    ConnPtr pick(Clock::time_point now) {
        const std::size_t n = slots_.size();
        for (std::size_t k = 0; k < n; ++k) {
            auto& c = slots_[(rr_ + k) % n];
            if (c && c->open && c->bound && c->submits < std::max(1, o_.window) &&
                c->paused_until <= now) {
                rr_ = (rr_ + k + 1) % n;
                return c;
            }
        }
        return nullptr;
    }

    // Waits until `until`, or until a session binds, frees a window slot or closes.
    asio::awaitable<void> wait_change(Clock::time_point until) {
        auto t = std::make_shared<asio::steady_timer>(ex_, until);
        waiters_.push_back(t);
        co_await t->async_wait(tuple_awaitable);
        waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), t), waiters_.end());
    }
    void wake_all() {
        for (auto& t : waiters_) t->cancel();
    }

    asio::awaitable<void> sleep(milliseconds d) {
        auto t = std::make_shared<asio::steady_timer>(ex_, d);
        sleepers_.push_back(t);
        co_await t->async_wait(tuple_awaitable);
        sleepers_.erase(std::remove(sleepers_.begin(), sleepers_.end(), t), sleepers_.end());
    }

    milliseconds jitter(milliseconds d) {
        std::uniform_int_distribution<int64_t> dist(0, d.count() / 5);
        return d + milliseconds(dist(rng_));
    }

    // One bind slot of one role: connect, bind, serve until the connection ends, again with
    // backoff. Each role of a slot (a pair's transmitter and receiver) comes back on its own.
    asio::awaitable<void> run_slot(Role role, int index) {
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
                    error = r.lost ? "the connection closed during the bind (" +
                                         conn->closed_reason + ")"
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

    void forget(const ConnPtr& c) {
        live_.erase(std::remove(live_.begin(), live_.end(), c), live_.end());
    }

    static std::string answer_text(const Pdu& resp) {
        std::string a = command_name(resp.command_id) + " " + describe_status(resp.command_status);
        if (!resp.system_id.empty()) a += " system_id " + resp.system_id;
        return a;
    }

    asio::awaitable<Reply> bind(ConnPtr conn, Role role) {
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

    asio::awaitable<void> unbind(ConnPtr conn, Clock::time_point deadline) {
        Pdu p;
        p.command_id = cmd::kUnbind;
        Reply r = co_await request(conn, std::move(p), deadline);
        spdlog::info("smpp {}: {} {}", o_.name, conn->label,
                     r.pdu ? "unbound" : "closed without unbind_resp");
        close(conn, "unbound");
    }

    asio::awaitable<void> enquire_loop(ConnPtr conn) {
        auto self = shared_from_this();
        while (conn->open && conn->bound) {
            conn->enquire.expires_after(o_.enquire_link);
            co_await conn->enquire.async_wait(tuple_awaitable);
            if (!conn->open || !conn->bound || stopping_) break;
            Pdu p;
            p.command_id = cmd::kEnquireLink;
            Reply r = co_await request(conn, std::move(p), Clock::now() + o_.timeout);
            if (!r.pdu && conn->open)
                close(conn, "no enquire_link_resp within " + ms_text(o_.timeout));
        }
    }

    // Sends `p` with the next sequence number and waits for its response.
    asio::awaitable<Reply> request(ConnPtr conn, Pdu p, Clock::time_point deadline) {
        Reply r;
        if (!conn->open) {
            r.lost = true;
            co_return r;
        }
        p.sequence = conn->seq();
        auto bytes = encode(p);
        if (!bytes) {
            r.error = command_name(p.command_id) + " cannot be encoded (a field over its limit)";
            co_return r;
        }
        auto pending = std::make_shared<Pending>(ex_);
        pending->wake.expires_at(deadline);
        const uint32_t seq = p.sequence;
        conn->pending[seq] = pending;
        write(conn, std::move(*bytes));
        co_await pending->wake.async_wait(tuple_awaitable);
        auto it = conn->pending.find(seq);
        if (it != conn->pending.end() && it->second == pending) conn->pending.erase(it);
        if (pending->response) {
            r.pdu = std::move(pending->response);
        } else if (pending->lost) {
            r.lost = true;
        } else {
            r.error = "no " + command_name(p.command_id | cmd::kResponse) + " within " +
                      ms_text(std::chrono::duration_cast<milliseconds>(o_.timeout));
        }
        co_return r;
    }

    void write(const ConnPtr& conn, std::string bytes) {
        if (!conn->open) return;
        conn->out.push_back(std::move(bytes));
        if (!conn->writing) {
            conn->writing = true;
            spawn(write_loop(conn));
        }
    }

    asio::awaitable<void> write_loop(ConnPtr conn) {
        while (conn->open && !conn->out.empty()) {
            // Everything queued in one write.
            std::string batch;
            while (!conn->out.empty()) {
                batch += conn->out.front();
                conn->out.pop_front();
            }
            boost::system::error_code ec;
            if (conn->tls) {
                auto [e, n] =
                    co_await asio::async_write(*conn->tls, asio::buffer(batch), tuple_awaitable);
                ec = e;
            } else {
                auto [e, n] =
                    co_await asio::async_write(conn->socket, asio::buffer(batch), tuple_awaitable);
                ec = e;
            }
            if (ec) {
                close(conn, "write failed: " + ec.message());
                break;
            }
        }
        conn->writing = false;
        if (conn->close_after_write && conn->out.empty()) close(conn, conn->close_reason);
    }

    asio::awaitable<void> read_loop(ConnPtr conn) {
        auto self = shared_from_this();
        std::string buf;
        std::vector<char> chunk(65536);
        bool lost = false;  // the framing is lost: nothing more is read
        while (conn->open && !lost) {
            boost::system::error_code ec;
            std::size_t n = 0;
            if (conn->tls) {
                auto [e, got] =
                    co_await conn->tls->async_read_some(asio::buffer(chunk), tuple_awaitable);
                ec = e;
                n = got;
            } else {
                auto [e, got] =
                    co_await conn->socket.async_read_some(asio::buffer(chunk), tuple_awaitable);
                ec = e;
                n = got;
            }
            if (ec) {
                close(conn, ec == asio::error::eof ? "the SMSC closed the connection"
                                                   : "read failed: " + ec.message());
                break;
            }
            buf.append(chunk.data(), n);
            std::size_t at = 0;
            while (conn->open && buf.size() - at >= 4) {
                std::string_view rest(buf.data() + at, buf.size() - at);
                uint32_t len = peek_length(rest);
                if (len < kHeaderLength || len > kMaxPduLength) {
                    // The framing is lost: nothing after this can be read.
                    send_nack(conn, 0, status::kInvalidCommandLength);
                    lost = true;
                    spdlog::warn("smpp {}: {}: a PDU of command_length {}: closing", o_.name,
                                 conn->label, len);
                    close_soon(conn, "a PDU of command_length " + std::to_string(len));
                    break;
                }
                if (rest.size() < len) break;
                Decoded d = decode(rest.substr(0, len));
                at += len;
                dispatch(conn, std::move(d));
            }
            buf.erase(0, at);
        }
    }

    // After what is queued is written (the SMSC gets its answer), or at once when nothing is.
    void close_soon(const ConnPtr& conn, std::string reason) {
        if (!conn->writing && conn->out.empty()) {
            close(conn, std::move(reason));
        } else {
            conn->close_after_write = true;
            conn->close_reason = std::move(reason);
        }
    }

    void send_nack(const ConnPtr& conn, uint32_t seq, uint32_t st) {
        Pdu n;
        n.command_id = cmd::kGenericNack;
        n.command_status = st;
        n.sequence = seq;
        if (auto b = encode(n)) write(conn, std::move(*b));
    }

    void respond(const ConnPtr& conn, const Pdu& request, uint32_t st) {
        Pdu r;
        r.command_id = request.command_id | cmd::kResponse;
        r.command_status = st;
        r.sequence = request.sequence;
        if (auto b = encode(r)) write(conn, std::move(*b));
    }

    void dispatch(const ConnPtr& conn, Decoded d) {
        Pdu& p = d.pdu;
        if (p.is_response()) {
            auto it = conn->pending.find(p.sequence);
            if (it == conn->pending.end()) {
                if (p.command_id == cmd::kGenericNack)
                    spdlog::warn("smpp {}: {}: generic_nack {} for sequence {}", o_.name,
                                 conn->label, describe_status(p.command_status), p.sequence);
                else
                    spdlog::debug("smpp {}: {}: {} for sequence {} came too late", o_.name,
                                  conn->label, command_name(p.command_id), p.sequence);
                return;
            }
            if (d.error != DecodeError::none && p.command_status == status::kOk)
                p.command_status = status::kUnknownError;  // an unreadable answer
            auto pending = it->second;
            conn->pending.erase(it);
            pending->response = std::move(p);
            pending->wake.cancel();
            return;
        }
        if (d.error != DecodeError::none) {
            spdlog::warn("smpp {}: {}: {} with a {}: answered generic_nack", o_.name, conn->label,
                         command_name(p.command_id), to_string(d.error));
            send_nack(conn, p.sequence, status::kInvalidCommandLength);
            return;
        }
        switch (p.command_id) {
            case cmd::kEnquireLink:
                respond(conn, p, status::kOk);
                return;
            case cmd::kUnbind:
                spdlog::info("smpp {}: {}: the SMSC unbinds", o_.name, conn->label);
                conn->bound = false;
                respond(conn, p, status::kOk);
                close_soon(conn, "unbound by the SMSC");
                return;
            case cmd::kDeliverSm:
            case cmd::kDataSm:
                spawn(inbound(conn, std::move(p)));
                return;
            case cmd::kAlertNotification:
                return;  // no response (section 4.12)
            default:
                spdlog::warn("smpp {}: {}: {} not handled: answered generic_nack", o_.name,
                             conn->label, command_name(p.command_id));
                send_nack(conn, p.sequence, status::kInvalidCommandId);
        }
    }

    asio::awaitable<void> inbound(ConnPtr conn, Pdu p) {
        auto self = shared_from_this();
        uint32_t st = status::kTemporaryAppError;
        if (on_inbound_) st = co_await on_inbound_(p);
        if (conn->open) respond(conn, p, st);
    }

    void close(const ConnPtr& conn, std::string reason) {
        if (!conn->open) return;
        conn->open = false;
        conn->bound = false;
        conn->closed_reason = std::move(reason);
        boost::system::error_code ignored;
        conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
        conn->socket.close(ignored);
        conn->enquire.cancel();
        conn->closed.cancel();
        for (auto& [seq, p] : conn->pending) {
            p->lost = true;
            p->wake.cancel();
        }
        conn->pending.clear();
        conn->out.clear();
        wake_all();
    }

    asio::any_io_executor ex_;
    ClientOptions o_;
    InboundHandler on_inbound_;
    std::unique_ptr<ssl::context> tls_ctx_;
    std::vector<ConnPtr> slots_;      // the bound submitting session of each slot, or null
    std::vector<ConnPtr> receivers_;  // with `bind: pair`: each slot's bound receiver, or null
    std::vector<ConnPtr> live_;   // every open connection (binding, bound)
    std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
    std::vector<std::shared_ptr<asio::steady_timer>> sleepers_;
    bool started_ = false, stopping_ = false;
    Health tx_, rx_;  // the submitting sessions, the receivers
    std::string bind_answer_;
    Clock::time_point next_submit_{};
    std::size_t rr_ = 0;
    std::minstd_rand rng_;
};

}  // namespace

std::shared_ptr<Client> Client::create(asio::any_io_executor executor, ClientOptions options,
                                       InboundHandler on_inbound) {
    return std::make_shared<ClientImpl>(std::move(executor), std::move(options),
                                        std::move(on_inbound));
}

}  // namespace tinbao::smpp
