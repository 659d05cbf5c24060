// The HTTP/1.1 server on Beast: accepts connections, reads requests with a body limit and
// deadlines, keeps connections alive, and hands each request to one Handler coroutine.
//
// Threading: everything runs on the io_context given to the constructor (one thread).
// Ownership: the server owns its acceptor and sessions; stop() closes the acceptor and lets
// sessions finish the request in progress, closing idle keep-alive connections.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

struct ServerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;                  // 0: pick a free port (tests)
    std::size_t max_body_bytes = 65536;    // larger -> 413 before the body is read
    std::chrono::milliseconds read_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
    std::size_t max_connections = 10000;   // beyond: new connections are closed at once
};

class Server {
public:
    Server(boost::asio::io_context& io, ServerOptions options, Handler handler);
    ~Server();
    // Binds and starts accepting. Throws std::system_error when the address cannot be bound.
    void start();
    // The bound port (after start()).
    uint16_t port() const;
    // Stops accepting; open connections finish their current request and close.
    void stop();
    std::size_t open_connections() const;

    struct State;
private:
    std::shared_ptr<State> state_;
};

}  // namespace tinbao::http
