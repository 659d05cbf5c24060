#include "providers/smpp/client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "providers/smpp/client_impl.hpp"
#include "providers/smpp/conn.hpp"
#include "providers/smpp/status.hpp"

namespace tinbao::smpp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

namespace detail {

ClientImpl::ClientImpl(asio::any_io_executor ex, ClientOptions o, InboundHandler on_inbound)
    : ex_(std::move(ex)),
      o_(std::move(o)),
      on_inbound_(std::move(on_inbound)),
      slots_(static_cast<std::size_t>(std::max(1, o_.binds))),
      receivers_(o_.pair ? slots_.size() : 0),
      rng_(std::random_device{}()) {}

asio::awaitable<void> ClientImpl::stop(milliseconds grace) {
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

void ClientImpl::close_now() {
    stopping_ = true;
    for (auto& s : sleepers_) s->cancel();
    auto live = live_;
    for (auto& c : live) close(c, "stopped");
    wake_all();
}

asio::awaitable<SubmitOutcome> ClientImpl::submit(Pdu pdu, Clock::time_point deadline) {
    auto self = shared_from_this();  // the provider may go while this runs
    for (;;) {
        if (stopping_ || !started_)
            co_return outcome(SubmitOutcome::Kind::unavailable, "the SMPP provider is stopping");
        if (tx_.account && bound() == 0)
            co_return outcome(SubmitOutcome::Kind::account, tx_.problem);
        auto now = Clock::now();
        ConnPtr conn = pick(now);
        if (!conn) {
            if (now >= deadline) {
                if (bound() == 0)
                    co_return outcome(SubmitOutcome::Kind::unavailable,
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
        out.detail = command_name(resp.command_id) + ": " + describe_status(resp.command_status);
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
std::string ClientImpl::problem() const {
    if (count(slots_) == 0 && !tx_.problem.empty()) return tx_.problem;
    if (o_.pair && count(receivers_) == 0 && !rx_.problem.empty())
        return rx_.problem + "; receipts and replies wait at the SMSC";
    return {};
}

SubmitOutcome ClientImpl::outcome(SubmitOutcome::Kind k, std::string detail) {
    SubmitOutcome o;
    o.kind = k;
    o.trace = detail;
    o.detail = std::move(detail);
    return o;
}

int ClientImpl::count(const std::vector<ConnPtr>& v) {
    int n = 0;
    for (auto& c : v)
        if (c && c->open && c->bound) ++n;
    return n;
}

bool ClientImpl::any_submits() const {
    for (auto& c : live_)
        if (c->open && c->submits > 0) return true;
    return false;
}

// A bound session with room in its window and not throttled, taken in turn.
ConnPtr ClientImpl::pick(Clock::time_point now) {
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
asio::awaitable<void> ClientImpl::wait_change(Clock::time_point until) {
    auto t = std::make_shared<asio::steady_timer>(ex_, until);
    waiters_.push_back(t);
    co_await t->async_wait(tuple_awaitable);
    waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), t), waiters_.end());
}

void ClientImpl::wake_all() {
    for (auto& t : waiters_) t->cancel();
}

// Sends `p` with the next sequence number and waits for its response.
asio::awaitable<Reply> ClientImpl::request(ConnPtr conn, Pdu p, Clock::time_point deadline) {
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

void ClientImpl::write(const ConnPtr& conn, std::string bytes) {
    if (!conn->open) return;
    conn->out.push_back(std::move(bytes));
    if (!conn->writing) {
        conn->writing = true;
        spawn(write_loop(conn));
    }
}

asio::awaitable<void> ClientImpl::write_loop(ConnPtr conn) {
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

asio::awaitable<void> ClientImpl::read_loop(ConnPtr conn) {
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
void ClientImpl::close_soon(const ConnPtr& conn, std::string reason) {
    if (!conn->writing && conn->out.empty()) {
        close(conn, std::move(reason));
    } else {
        conn->close_after_write = true;
        conn->close_reason = std::move(reason);
    }
}

void ClientImpl::send_nack(const ConnPtr& conn, uint32_t seq, uint32_t st) {
    Pdu n;
    n.command_id = cmd::kGenericNack;
    n.command_status = st;
    n.sequence = seq;
    if (auto b = encode(n)) write(conn, std::move(*b));
}

void ClientImpl::respond(const ConnPtr& conn, const Pdu& request, uint32_t st) {
    Pdu r;
    r.command_id = request.command_id | cmd::kResponse;
    r.command_status = st;
    r.sequence = request.sequence;
    if (auto b = encode(r)) write(conn, std::move(*b));
}

void ClientImpl::dispatch(const ConnPtr& conn, Decoded d) {
    Pdu& p = d.pdu;
    if (p.is_response()) {
        auto it = conn->pending.find(p.sequence);
        if (it == conn->pending.end()) {
            if (p.command_id == cmd::kGenericNack)
                spdlog::warn("smpp {}: {}: generic_nack {} for sequence {}", o_.name, conn->label,
                             describe_status(p.command_status), p.sequence);
            else
                spdlog::debug("smpp {}: {}: {} for sequence {} came too late", o_.name, conn->label,
                              command_name(p.command_id), p.sequence);
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
            spdlog::warn("smpp {}: {}: {} not handled: answered generic_nack", o_.name, conn->label,
                         command_name(p.command_id));
            send_nack(conn, p.sequence, status::kInvalidCommandId);
    }
}

asio::awaitable<void> ClientImpl::inbound(ConnPtr conn, Pdu p) {
    auto self = shared_from_this();
    uint32_t st = status::kTemporaryAppError;
    if (on_inbound_) st = co_await on_inbound_(p);
    if (conn->open) respond(conn, p, st);
}

void ClientImpl::close(const ConnPtr& conn, std::string reason) {
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

}  // namespace detail

std::shared_ptr<Client> Client::create(asio::any_io_executor executor, ClientOptions options,
                                       InboundHandler on_inbound) {
    return std::make_shared<detail::ClientImpl>(std::move(executor), std::move(options),
                                                std::move(on_inbound));
}

}  // namespace tinbao::smpp
