// The SMPP 3.4 client under the adapter: `binds` sessions to one SMSC, each a TCP (or TLS)
// connection bound with bind_transceiver (or, with `pair`, a bind_transmitter that submits and a
// bind_receiver that takes deliver_sm, each on its own connection), kept alive with
// enquire_link, bound again with backoff after a drop, and unbound at stop. submit() sends one
// submit_sm on a session with room in its window, at the provider's rate, and waits for its
// response until a deadline. What the SMSC sends unasked (deliver_sm, data_sm) goes to the inbound
// handler, whose command_status is the answer. No blocking call: everything runs as coroutines on
// the executor.
//
// Source: SMPP 3.4 (https://smpp.org/SMPP_v3_4_Issue1_2.pdf) sections 2.2-2.4 (sessions,
// binds), 2.6 (windowing), 4.1 (bind), 4.2 (unbind), 4.3 (generic_nack), 4.11 (enquire_link).
//
// Threading: one executor (the daemon's io_context); not thread-safe. Ownership: shared; the
// coroutines hold it, so the provider may go while they end.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "providers/smpp/pdu.hpp"

namespace tinbao::smpp {

struct ClientOptions {
    std::string name;  // the provider's name, for logs
    std::string host;
    uint16_t port = 2775;
    bool tls = false;
    std::string tls_ca_file;  // empty: the system's CAs
    std::string system_id;
    std::string password;
    std::string system_type;
    int binds = 1;
    int window = 10;             // submit_sm outstanding per session
    double rate_per_second = 0;  // submit_sm per second over all sessions; 0: unlimited
    std::chrono::milliseconds enquire_link{30000};
    std::chrono::milliseconds timeout{10000};  // each request's response deadline; connecting
    bool pair = false;  // `bind: pair`: a transmitter and a receiver per session

    // Equal options: the same sessions (a reload keeps them, no new bind).
    bool operator==(const ClientOptions&) const = default;
};

struct SubmitOutcome {
    enum class Kind {
        accepted,     // submit_sm_resp ESME_ROK: message_id set
        refused,      // submit_sm_resp (or generic_nack) with a command_status
        timeout,      // no response before the deadline: the SMSC may have it
        unavailable,  // no session could take it (none bound, stopping, connection lost)
        account,      // the binds are refused for the account (wrong password, ...)
    };
    Kind kind = Kind::unavailable;
    uint32_t status = 0;
    std::string message_id;
    std::string detail;  // for records and logs
    std::string trace;   // the SMSC's answer, for `tinbaoctl send-test`
};

class Client : public std::enable_shared_from_this<Client> {
  public:
    // Answers a deliver_sm or data_sm: the command_status of its response.
    using InboundHandler = std::function<boost::asio::awaitable<uint32_t>(Pdu)>;

    static std::shared_ptr<Client> create(boost::asio::any_io_executor executor,
                                          ClientOptions options, InboundHandler on_inbound);
    virtual ~Client() = default;

    // Starts the sessions (once). submit() before a session is bound waits for one.
    virtual void start() = 0;
    // Lets the submit_sm in flight end, unbinds every session and closes it, within `grace`.
    virtual boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) = 0;
    // Closes everything at once (no unbind): the provider is going away without stop().
    virtual void close_now() = 0;

    // Sends `pdu` (a submit_sm; its sequence number is set here). Never throws.
    virtual boost::asio::awaitable<SubmitOutcome> submit(
        Pdu pdu, std::chrono::steady_clock::time_point deadline) = 0;

    // Non-empty while no session is bound after a failure: why (a refused bind, a refused
    // connection).
    virtual std::string problem() const = 0;
    virtual int bound() const = 0;  // submitting sessions bound (transceivers, transmitters)
    virtual int receivers_bound() const = 0;  // `pair`: receivers bound
    // The last bind's answer ("bind_transceiver_resp ESME_ROK system_id SMSC"), for send-test.
    virtual std::string bind_answer() const = 0;
};

}  // namespace tinbao::smpp
