// One connection to the SMSC under the client (client_impl.hpp): its TCP (or TLS) socket, the
// state of its bind, the requests waiting for their responses, and connecting to the SMSC within a
// deadline. The client owns the logic; this file holds the pieces that do not depend on it.
//
// Threading: the client's executor only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "providers/smpp/pdu.hpp"

namespace tinbao::smpp::detail {

using Clock = std::chrono::steady_clock;

std::string ms_text(std::chrono::milliseconds d);

// A request waiting for its response.
struct Pending {
    explicit Pending(const boost::asio::any_io_executor& ex) : wake(ex) {}
    boost::asio::steady_timer wake;
    std::optional<Pdu> response;
    bool lost = false;  // the connection closed first
};

// One TCP (TLS) connection and its bind.
struct Conn {
    Conn(const boost::asio::any_io_executor& ex, boost::asio::ssl::context* tls_ctx,
         std::string label)
        : socket(ex), closed(ex, Clock::time_point::max()), enquire(ex), label(std::move(label)) {
        if (tls_ctx)
            tls = std::make_unique<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>>(
                socket, *tls_ctx);
    }
    boost::asio::ip::tcp::socket socket;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;
    boost::asio::steady_timer closed;   // cancelled when the connection closes
    boost::asio::steady_timer enquire;  // the enquire_link period
    std::string label;                  // for logs: "bind 1", "receiver 2"
    bool open = true;
    bool bound = false;
    bool writing = false;
    bool close_after_write = false;
    std::string close_reason;  // with close_after_write
    uint32_t next_seq = 1;
    std::unordered_map<uint32_t, std::shared_ptr<Pending>> pending;
    std::deque<std::string> out;
    int submits = 0;  // submit_sm in flight
    Clock::time_point paused_until{};
    std::chrono::milliseconds throttle_pause{0};
    std::string closed_reason;

    // Section 3.2: 0x00000001 to 0x7FFFFFFF.
    uint32_t seq() {
        uint32_t s = next_seq++;
        if (next_seq > 0x7FFFFFFF) next_seq = 1;
        return s;
    }
};
using ConnPtr = std::shared_ptr<Conn>;

struct Reply {
    std::optional<Pdu> pdu;
    bool lost = false;
    std::string error;
};

// A TLS 1.2+ client context that verifies the SMSC's certificate against `ca_file` (a PEM file;
// empty: the system's CAs). Null, with `error` set, when it cannot be made.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const std::string& ca_file,
                                                            std::string& error);

// Resolves `host`, connects and (TLS) shakes hands, verifying the certificate's host name, all
// within `timeout`. An error text, or empty once connected. A certificate that does not verify
// is named with OpenSSL's reason ("self-signed certificate", "Hostname mismatch").
boost::asio::awaitable<std::string> connect(ConnPtr conn, const std::string& host, uint16_t port,
                                            std::chrono::milliseconds timeout);

}  // namespace tinbao::smpp::detail
