// The mail transport the `smtp` adapter uses: one message handed to an SMTP server. The shared
// implementation (daemon/io/curl_multi) runs it on a libcurl multi handle driven
// by Asio: STARTTLS or implicit TLS, AUTH, a deadline per transfer, nothing blocking the loop.
//
// Threading: send_mail() is called and completes on the io_context the client was built with.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace tinbao {

struct MailRequest {
    std::string url;       // smtp://host:port (STARTTLS when offered), smtps://
    std::string username;  // empty: no AUTH
    std::string password;
    std::string mail_from;                     // envelope sender, a bare address
    std::vector<std::string> recipients;       // envelope recipients, bare addresses
    std::string message;                       // the whole RFC 5322 message, CRLF line endings
    bool verify_tls = true;                    // peer and host verification
    bool require_tls = false;                  // smtp://: fail unless STARTTLS succeeds
    std::chrono::milliseconds timeout{30000};  // whole transfer, connect included
};

struct MailResult {
    enum class Error {
        none,      // the server accepted the message (250 after DATA)
        timeout,   // the deadline passed
        connect,   // no connection (refused, unresolved)
        tls,       // TLS handshake or verification failed
        login,     // AUTH refused
        rejected,  // the server answered a command with a negative reply (see reply_code)
        other,
    };
    Error error = Error::none;
    int reply_code = 0;      // the last SMTP reply code received (250, 550, 451, ...), 0: none
    std::string error_text;  // libcurl's message when error != none
};

class MailClient {
  public:
    virtual ~MailClient() = default;
    virtual boost::asio::awaitable<MailResult> send_mail(MailRequest request) = 0;
};

}  // namespace tinbao
