// A small HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel) for CurlMulti tests. It runs
// on its own thread and io_context; counters are atomics read by the test thread.
//
// Routes: /echo answers 200 with the request body, the method in X-Method, the X-Test request
// header in X-Echo-Header and a mixed-case header X-Mixed-Case; /hang never answers;
// /status/<n> answers status n with Retry-After: 7; /big answers 100 bytes.
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "providers/http_client.hpp"

namespace tinbao::test {

class TestHttpServer {
  public:
    TestHttpServer() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~TestHttpServer() {
        ioc_.stop();
        thread_.join();
    }
    TestHttpServer(const TestHttpServer&) = delete;
    TestHttpServer& operator=(const TestHttpServer&) = delete;

    unsigned short port() const { return port_; }
    std::string url(const std::string& target) const {
        return "http://127.0.0.1:" + std::to_string(port_) + target;
    }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }

  private:
    using tcp = boost::asio::ip::tcp;
    static constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

    boost::asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) co_return;
            ++connections_;
            boost::asio::co_spawn(ioc_, session(std::move(socket)), boost::asio::detached);
        }
    }

    boost::asio::awaitable<void> session(tcp::socket socket) {
        namespace http = boost::beast::http;
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> req;
            auto [rec, rn] = co_await http::async_read(socket, buffer, req, kTuple);
            if (rec) co_return;
            ++requests_;
            std::string target(req.target());
            if (target == "/hang") {
                boost::asio::steady_timer never(ioc_, std::chrono::hours(1));
                co_await never.async_wait(kTuple);
                co_return;
            }
            http::response<http::string_body> res{http::status::ok, req.version()};
            if (target == "/echo") {
                res.set("X-Method", std::string(req.method_string()));
                res.set("X-Echo-Header", std::string(req["X-Test"]));
                res.set("X-Mixed-Case", "Value");
                res.set(http::field::content_type, std::string(req[http::field::content_type]));
                res.body() = req.body();
            } else if (target.starts_with("/status/")) {
                res.result(static_cast<unsigned>(std::stoi(target.substr(8))));
                res.set("Retry-After", "7");
                res.body() = "status";
            } else if (target == "/big") {
                res.body() = std::string(100, 'x');
            } else {
                res.result(http::status::not_found);
            }
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(socket, res, kTuple);
            if (wec || !req.keep_alive()) co_return;
        }
    }

    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = acceptor_.local_endpoint().port();
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::thread thread_;
};

// A request of `method` to `url` with `body`, and a 10 s deadline.
inline HttpRequest make_request(std::string method, std::string url, std::string body = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.url = std::move(url);
    r.body = std::move(body);
    r.timeout = std::chrono::seconds(10);
    return r;
}

// A loopback port nothing listens on (bound, read, closed).
inline unsigned short closed_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    unsigned short port = a.local_endpoint().port();
    a.close();
    return port;
}

}  // namespace tinbao::test
