// The SMPP client's implementation (client.hpp), in two files: client.cpp submits, reads and
// writes PDUs and answers the SMSC; client_session.cpp runs each bind slot: connect, bind, keep
// alive with enquire_link, bind again with backoff after a drop, unbind at stop. Internal to the
// smpp adapter.
//
// Threading: the client's executor only. Ownership: shared; the session coroutines hold it.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "providers/smpp/client.hpp"
#include "providers/smpp/conn.hpp"
#include "providers/smpp/pdu.hpp"

namespace tinbao::smpp::detail {

inline const auto tuple_awaitable = boost::asio::as_tuple(boost::asio::use_awaitable);

// What a session is bound as: a transceiver submits and takes deliver_sm; with `bind: pair`, a
// transmitter submits and a receiver takes deliver_sm (SMPP 3.4 section 2.2).
enum class Role { transceiver, transmitter, receiver };

// The failure of one kind of session (the submitting ones, the receivers), for problem().
struct Health {
    std::string problem, last_error;
    bool account = false;
};

class ClientImpl final : public Client {
  public:
    ClientImpl(boost::asio::any_io_executor ex, ClientOptions o, InboundHandler on_inbound);
    void start() override;
    boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) override;
    void close_now() override;
    boost::asio::awaitable<SubmitOutcome> submit(Pdu pdu, Clock::time_point deadline) override;
    std::string problem() const override;
    int bound() const override { return count(slots_); }
    int receivers_bound() const override { return count(receivers_); }
    std::string bind_answer() const override { return bind_answer_; }

  private:
    template <class Awaitable>
    void spawn(Awaitable a) {
        boost::asio::co_spawn(ex_, std::move(a), [name = o_.name](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                spdlog::error("smpp {}: session task failed: {}", name, x.what());
            }
        });
    }

    // --- submitting (client.cpp) ---
    static SubmitOutcome outcome(SubmitOutcome::Kind k, std::string detail);
    static int count(const std::vector<ConnPtr>& v);
    bool any_submits() const;
    ConnPtr pick(Clock::time_point now);
    boost::asio::awaitable<void> wait_change(Clock::time_point until);
    void wake_all();

    // --- sessions: bind, keep alive, bind again, unbind (client_session.cpp) ---
    bool make_tls();
    boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
    std::chrono::milliseconds jitter(std::chrono::milliseconds d);
    boost::asio::awaitable<void> run_slot(Role role, int index);
    void forget(const ConnPtr& c);
    static std::string answer_text(const Pdu& resp);
    boost::asio::awaitable<Reply> bind(ConnPtr conn, Role role);
    boost::asio::awaitable<void> unbind(ConnPtr conn, Clock::time_point deadline);
    boost::asio::awaitable<void> enquire_loop(ConnPtr conn);

    // --- the PDUs of a connection (client.cpp) ---
    boost::asio::awaitable<Reply> request(ConnPtr conn, Pdu p, Clock::time_point deadline);
    void write(const ConnPtr& conn, std::string bytes);
    boost::asio::awaitable<void> write_loop(ConnPtr conn);
    boost::asio::awaitable<void> read_loop(ConnPtr conn);
    void close_soon(const ConnPtr& conn, std::string reason);
    void send_nack(const ConnPtr& conn, uint32_t seq, uint32_t st);
    void respond(const ConnPtr& conn, const Pdu& request, uint32_t st);
    void dispatch(const ConnPtr& conn, Decoded d);
    boost::asio::awaitable<void> inbound(ConnPtr conn, Pdu p);
    void close(const ConnPtr& conn, std::string reason);

    boost::asio::any_io_executor ex_;
    ClientOptions o_;
    InboundHandler on_inbound_;
    std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
    std::vector<ConnPtr> slots_;      // the bound submitting session of each slot, or null
    std::vector<ConnPtr> receivers_;  // with `bind: pair`: each slot's bound receiver, or null
    std::vector<ConnPtr> live_;       // every open connection (binding, bound)
    std::vector<std::shared_ptr<boost::asio::steady_timer>> waiters_;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> sleepers_;
    bool started_ = false, stopping_ = false;
    Health tx_, rx_;  // the submitting sessions, the receivers
    std::string bind_answer_;
    Clock::time_point next_submit_{};
    std::size_t rr_ = 0;
    std::minstd_rand rng_;
};

}  // namespace tinbao::smpp::detail
