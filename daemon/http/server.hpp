// The HTTP/1.1 server on Beast, plain or TLS (OpenSSL): accepts connections, reads requests with
// header and body limits and deadlines, keeps connections alive within a lifetime and a number
// of requests, and hands each request to two steps: Admit, on the headers alone (authentication,
// rights, rates: refused before a byte of the body is read), then the Handler coroutine.
//
// Threading: everything runs on the io_context given to the constructor (one thread).
// Ownership: the server owns its acceptor and sessions; stop() closes the acceptor and lets
// sessions finish the request in progress, closing idle keep-alive connections. Each TLS
// connection keeps the context it was accepted with, so set_tls() (a certificate reload) never
// drops one.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace tinbao::http {

struct Request {
    std::string method;                       // "GET", "POST", ...
    std::string target;                       // raw target, with query
    std::string path;                         // target without the query, percent-decoded
    std::vector<std::string> segments;        // the path's segments, each percent-decoded
    std::vector<std::pair<std::string, std::string>> query;  // decoded query parameters
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string remote;                       // peer address, for logs
    bool tls = false;                         // came over TLS
    std::string peer_cert_sha256;             // TLS client certificate's SHA-256 (hex), if any
    // Set by the Admit step for the Handler: the authenticated client's name, and that the
    // request went through Admit at all.
    std::string client;
    bool admitted = false;

    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct Response {
    int status = 200;
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Looks at a request whose body has not been read (`body` empty): a Response refuses it (the
// body is never read and the connection closes when one follows), nullopt lets it through.
using Admit = std::function<std::optional<Response>(Request&)>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;                  // 0: pick a free port (tests)
    std::size_t max_body_bytes = 65536;    // larger -> 413 before the body is read
    std::size_t max_header_bytes = 8192;   // larger -> 431
    std::chrono::milliseconds read_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
    // When full, the connection idle the longest is closed for the new one; connections busy
    // with a request are never closed for another.
    std::size_t max_connections = 10000;
    std::size_t max_connections_per_address = 256;         // 0: no limit; beyond: closed at once
    std::chrono::milliseconds keepalive_lifetime{600000};  // then closed after a response
    std::size_t max_requests_per_connection = 1000;        // idem
    std::shared_ptr<boost::asio::ssl::context> tls;        // null: plain HTTP
};

class Server {
  public:
    Server(boost::asio::io_context& io, ServerOptions options, Handler handler, Admit admit = {});
    ~Server();
    // Binds and starts accepting. Throws std::system_error when the address cannot be bound.
    void start();
    // The bound port (after start()).
    uint16_t port() const;
    // Stops accepting; open connections finish their current request and close.
    void stop();
    std::size_t open_connections() const;
    // New connections use `tls` from now on (certificates reloaded); open ones keep theirs.
    void set_tls(std::shared_ptr<boost::asio::ssl::context> tls);
    bool is_tls() const;

    struct State;

  private:
    std::shared_ptr<State> state_;
};

}  // namespace tinbao::http
