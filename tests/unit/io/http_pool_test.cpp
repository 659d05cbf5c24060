// HttpPool against real servers on loopback: the Beast test server of the CurlMulti tests, a
// scripted server that answers in raw bytes (chunked, cut short, reset, stalled, closed), and a
// TLS server with a throwaway certificate made by openssl at test time.
#include "daemon/io/http_pool.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/io/test_http_server.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using tinbao::HttpPool;
using tinbao::HttpPoolOptions;
using tinbao::HttpRequest;
using tinbao::HttpResponse;
using tinbao::test::closed_port;
using tinbao::test::make_request;
using tinbao::test::TestHttpServer;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Runs the requests one after the other on one client; their answers in order.
std::vector<HttpResponse> run_all(HttpPool& client, asio::io_context& ioc,
                                  std::vector<HttpRequest> requests,
                                  const std::function<void(int)>& between = {}) {
    std::vector<HttpResponse> out;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (std::size_t i = 0; i < requests.size(); ++i) {
                if (i > 0 && between) between(static_cast<int>(i));
                HttpResponse r = co_await client.perform(requests[i]);
                out.push_back(std::move(r));
            }
        },
        asio::detached);
    ioc.restart();
    ioc.run();
    return out;
}

HttpResponse run_pool_one(HttpPoolOptions options, HttpRequest request) {
    asio::io_context ioc;
    HttpPool client(ioc.get_executor(), options);
    return run_all(client, ioc, {std::move(request)}).at(0);
}

// Polls `done` until it holds or 10 s pass.
bool eventually(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::yield();
    }
    return true;
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// A server on 127.0.0.1 that reads each request (head and Content-Length body) and does what
// the test's script says: answer raw bytes, then close, reset or keep the connection; or
// never answer.
class ScriptedServer {
  public:
    struct Reply {
        std::string bytes;
        bool close = false;  // close (FIN) after the bytes
        bool reset = false;  // reset (RST) instead of answering
        bool hang = false;   // answer nothing, keep the connection open
    };
    // conn: the connection's index (0, 1, ...); nth: the request's index on it.
    using Script = std::function<Reply(int conn, int nth, const std::string& request)>;

    explicit ScriptedServer(Script script)
        : script_(std::move(script)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~ScriptedServer() {
        ioc_.stop();
        thread_.join();
    }

    std::string url(const std::string& target) const {
        return "http://127.0.0.1:" + std::to_string(port_) + target;
    }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }
    int closed() const { return closed_.load(); }
    // How many requests had `text` in them.
    int seen(const std::string& text) const {
        std::lock_guard lock(mutex_);
        int n = 0;
        for (auto& r : log_) n += r.find(text) != std::string::npos;
        return n;
    }

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) co_return;
            int index = connections_++;
            asio::co_spawn(ioc_, session(std::move(socket), index), asio::detached);
        }
    }

    asio::awaitable<void> session(tcp::socket socket, int conn) {
        std::string in;
        for (int nth = 0;; ++nth) {
            auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in),
                                                           "\r\n\r\n", kTuple);
            if (ec) {
                ++closed_;
                co_return;
            }
            std::string head = in.substr(0, n);
            in.erase(0, n);
            std::size_t length = 0;
            if (auto p = head.find("Content-Length: "); p != std::string::npos)
                length = std::stoul(head.substr(p + 16));
            if (in.size() < length) {
                auto [bec, bn] =
                    co_await asio::async_read(socket, asio::dynamic_buffer(in),
                                              asio::transfer_exactly(length - in.size()), kTuple);
                if (bec) co_return;
            }
            std::string request = head + in.substr(0, length);
            in.erase(0, length);
            {
                std::lock_guard lock(mutex_);
                log_.push_back(request);
            }
            ++requests_;
            Reply reply = script_(conn, nth, request);
            if (reply.reset) {
                socket.set_option(asio::socket_base::linger(true, 0));
                socket.close();
                ++closed_;
                co_return;
            }
            if (reply.hang) {
                asio::steady_timer never(ioc_, std::chrono::hours(1));
                co_await never.async_wait(kTuple);
                co_return;
            }
            auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(reply.bytes), kTuple);
            if (wec || reply.close) {
                boost::system::error_code ignored;
                socket.shutdown(tcp::socket::shutdown_both, ignored);
                socket.close(ignored);
                ++closed_;
                co_return;
            }
        }
    }

    Script script_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::atomic<int> closed_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> log_;
    std::thread thread_;
};

}  // namespace

TEST(HttpUrl, SplitsSchemeHostPortAndTarget) {
    std::string why;
    auto u = tinbao::parse_http_url("https://api.example.vn/send?x=1#frag", why);
    ASSERT_TRUE(u) << why;
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->host, "api.example.vn");
    EXPECT_EQ(u->port, "443");
    EXPECT_EQ(u->target, "/send?x=1");
    EXPECT_EQ(u->authority, "api.example.vn");
    auto v = tinbao::parse_http_url("http://[::1]:8080", why);
    ASSERT_TRUE(v) << why;
    EXPECT_EQ(v->host, "::1");
    EXPECT_EQ(v->port, "8080");
    EXPECT_EQ(v->target, "/");
    EXPECT_EQ(v->authority, "[::1]:8080");
    EXPECT_FALSE(tinbao::parse_http_url("ftp://x/", why));
    EXPECT_FALSE(tinbao::parse_http_url("http://user:pw@x/", why));
    EXPECT_FALSE(tinbao::parse_http_url("http://x:99999/", why));
    EXPECT_FALSE(tinbao::parse_http_url("http://x/a b", why));
    EXPECT_FALSE(tinbao::parse_http_url("/relative", why));
}

TEST(HttpPool, GetReturnsStatusAndLowerCasedHeaders) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/echo"));
    req.headers.emplace_back("X-Test", "hello");
    HttpResponse r = run_pool_one({}, req);
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-method"), "GET");
    EXPECT_EQ(r.header("x-echo-header"), "hello");
    EXPECT_EQ(r.header("x-mixed-case"), "Value");
}

TEST(HttpPool, PostBodyRoundTripsByteExact) {
    TestHttpServer server;
    std::string body = "{\"Content\":\"Hồ sơ đã có kết quả\",\"n\":\"\\u0000\"}";
    body.push_back('\0');
    auto req = make_request("POST", server.url("/echo"), body);
    req.headers.emplace_back("Content-Type", "application/json");
    HttpResponse r = run_pool_one({}, req);
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.body, body);
    EXPECT_EQ(r.header("content-type"), "application/json");
}

TEST(HttpPool, CustomMethodCarriesBody) {
    TestHttpServer server;
    HttpResponse r = run_pool_one({}, make_request("PUT", server.url("/echo"), "abc"));
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.header("x-method"), "PUT");
    EXPECT_EQ(r.body, "abc");
}

TEST(HttpPool, ErrorStatusIsAnAnswerNotAnError) {
    TestHttpServer server;
    HttpResponse r = run_pool_one({}, make_request("GET", server.url("/status/503")));
    EXPECT_EQ(r.error, HttpResponse::Error::none);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("retry-after"), "7");
}

TEST(HttpPool, SequentialRequestsReuseOneConnection) {
    TestHttpServer server;
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    std::vector<HttpRequest> reqs(10, make_request("POST", server.url("/echo"), "x"));
    auto out = run_all(client, ioc, reqs);
    for (auto& r : out) EXPECT_EQ(r.status, 200) << r.error_text;
    EXPECT_EQ(server.connections(), 1);
    EXPECT_EQ(client.connections_opened(), 1u);
    EXPECT_EQ(client.idle(), 1u);
}

TEST(HttpPool, ConcurrentRequestsEachGetAConnectionAndComeBackIdle) {
    TestHttpServer server;
    asio::io_context ioc;
    HttpPoolOptions options;
    options.max_idle_per_origin = 30;
    HttpPool client(ioc.get_executor(), options);
    std::vector<std::future<HttpResponse>> futures;
    for (int i = 0; i < 100; ++i)
        futures.push_back(asio::co_spawn(
            ioc, client.perform(make_request("POST", server.url("/echo"), std::to_string(i))),
            asio::use_future));
    ioc.run();
    for (int i = 0; i < 100; ++i) {
        HttpResponse r = futures[i].get();
        ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
        EXPECT_EQ(r.body, std::to_string(i));
    }
    EXPECT_EQ(server.connections(), 100);
    EXPECT_EQ(client.idle(), 30u);  // the cap on idle connections
    EXPECT_EQ(client.in_flight(), 0u);
}

TEST(HttpPool, ClosedPortIsConnectError) {
    auto req = make_request("GET", "http://127.0.0.1:" + std::to_string(closed_port()) + "/echo");
    HttpResponse r = run_pool_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::connect);
    EXPECT_NE(r.error_text.find("connect to 127.0.0.1"), std::string::npos) << r.error_text;
    EXPECT_EQ(r.status, 0);
}

TEST(HttpPool, SilentServerTimesOutWithinDeadline) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/hang"));
    req.timeout = std::chrono::milliseconds(300);
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = run_pool_one({}, req);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.error, HttpResponse::Error::timeout) << r.error_text;
    EXPECT_GE(elapsed, std::chrono::milliseconds(250));
    EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(HttpPool, ServerStallingMidAnswerTimesOutWithinDeadline) {
    ScriptedServer server([](int, int, const std::string&) {
        // The head and part of the body; then nothing, the connection kept open.
        return ScriptedServer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"};
    });
    auto req = make_request("POST", server.url("/"), "x");
    req.timeout = std::chrono::milliseconds(300);
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = run_pool_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::timeout) << r.error_text;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(HttpPool, OversizedResponseIsAnError) {
    TestHttpServer server;
    HttpPoolOptions options;
    options.max_response_bytes = 10;
    HttpResponse r = run_pool_one(options, make_request("GET", server.url("/big")));
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_NE(r.error_text.find("larger than 10"), std::string::npos) << r.error_text;
}

TEST(HttpPool, OversizedChunkedResponseIsAnError) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n"
            "12345678\r\n0\r\n\r\n"};
    });
    HttpPoolOptions options;
    options.max_response_bytes = 10;
    HttpResponse r = run_pool_one(options, make_request("POST", server.url("/"), "x"));
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_NE(r.error_text.find("larger than 10"), std::string::npos) << r.error_text;
}

TEST(HttpPool, ChunkedAnswerIsReadAndTheConnectionKept) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n"
            "0\r\n\r\n"};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out =
        run_all(client, ioc,
                {make_request("POST", server.url("/"), "a"), make_request("GET", server.url("/"))});
    ASSERT_EQ(out.size(), 2u);
    for (auto& r : out) {
        EXPECT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
        EXPECT_EQ(r.body, "hello world");
    }
    EXPECT_EQ(server.connections(), 1);
}

TEST(HttpPool, AnswerReadToTheEndWhenItHasNoLength) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", true};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out = run_all(
        client, ioc,
        {make_request("POST", server.url("/"), "a"), make_request("POST", server.url("/"), "b")});
    for (auto& r : out) {
        EXPECT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
        EXPECT_EQ(r.body, "all of it");
    }
    EXPECT_EQ(server.connections(), 2);  // Connection: close: not reused
    EXPECT_EQ(client.idle(), 0u);
}

TEST(HttpPool, ConnectionCloseIsNotReused) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out = run_all(
        client, ioc,
        {make_request("POST", server.url("/"), "a"), make_request("POST", server.url("/"), "b")});
    for (auto& r : out) EXPECT_EQ(r.status, 200) << r.error_text;
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(client.idle(), 0u);
}

TEST(HttpPool, ServerClosingMidAnswerIsAnError) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
                                     true};
    });
    HttpResponse r = run_pool_one({}, make_request("POST", server.url("/"), "x"));
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_NE(r.error_text.find("in the middle of its answer"), std::string::npos) << r.error_text;
    EXPECT_EQ(server.requests(), 1);
}

TEST(HttpPool, IdleConnectionClosedByTheServerIsNotUsed) {
    // The server closes each connection after its answer, without saying so: the pool sees it
    // closed before sending the next request on it.
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{kOk, true};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out = run_all(client, ioc,
                       {make_request("POST", server.url("/"), "first"),
                        make_request("POST", server.url("/"), "second")},
                       [&](int) { ASSERT_TRUE(eventually([&] { return server.closed() == 1; })); });
    ASSERT_EQ(out.size(), 2u);
    for (auto& r : out) EXPECT_EQ(r.status, 200) << r.error_text;
    EXPECT_EQ(server.connections(), 2);
    EXPECT_EQ(server.seen("second"), 1);
}

TEST(HttpPool, PostOnAReusedConnectionResetBeforeAnsweringIsNotSentAgain) {
    // The second request on the first connection reached the server, which reset the
    // connection without answering: the SMS may have gone, so it must not be sent again here.
    ScriptedServer server([](int conn, int nth, const std::string&) {
        if (conn == 0 && nth == 1) return ScriptedServer::Reply{"", false, true};
        return ScriptedServer::Reply{kOk};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out = run_all(client, ioc,
                       {make_request("POST", server.url("/"), "first"),
                        make_request("POST", server.url("/"), "sms-2")});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].status, 200);
    EXPECT_EQ(out[1].error, HttpResponse::Error::other);
    EXPECT_NE(out[1].error_text.find("before answering"), std::string::npos) << out[1].error_text;
    EXPECT_EQ(server.seen("sms-2"), 1);
    EXPECT_EQ(server.connections(), 1);
}

TEST(HttpPool, GetOnAReusedConnectionResetBeforeAnsweringIsSentOnceMore) {
    ScriptedServer server([](int conn, int nth, const std::string&) {
        if (conn == 0 && nth == 1) return ScriptedServer::Reply{"", false, true};
        return ScriptedServer::Reply{kOk};
    });
    asio::io_context ioc;
    HttpPool client(ioc.get_executor());
    auto out =
        run_all(client, ioc,
                {make_request("GET", server.url("/a")), make_request("GET", server.url("/b"))});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].status, 200);
    EXPECT_EQ(out[1].status, 200) << out[1].error_text;
    EXPECT_EQ(server.seen("GET /b"), 2);
    EXPECT_EQ(server.connections(), 2);
}

TEST(HttpPool, GetResetOnAFreshConnectionIsNotSentAgain) {
    ScriptedServer server([](int, int, const std::string&) {
        return ScriptedServer::Reply{"", false, true};
    });
    HttpResponse r = run_pool_one({}, make_request("GET", server.url("/a")));
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_EQ(server.requests(), 1);
}

TEST(HttpPool, HeaderWithLineBreakIsRefused) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/echo"));
    req.headers.emplace_back("X-Test", "a\r\nInjected: yes");
    HttpResponse r = run_pool_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_EQ(server.requests(), 0);
}

TEST(HttpPool, DestructionCompletesRequestsInFlight) {
    TestHttpServer server;
    asio::io_context ioc;
    auto client = std::make_unique<HttpPool>(ioc.get_executor());
    auto req = make_request("GET", server.url("/hang"));
    req.timeout = std::chrono::seconds(30);
    std::vector<std::future<HttpResponse>> futures;
    for (int i = 0; i < 3; ++i)
        futures.push_back(asio::co_spawn(ioc, client->perform(req), asio::use_future));
    // Once the three are waiting for their answers.
    asio::steady_timer poll(ioc);
    std::function<void()> check = [&] {
        if (server.requests() < 3) {
            poll.expires_after(std::chrono::milliseconds(5));
            poll.async_wait([&](auto) { check(); });
            return;
        }
        EXPECT_EQ(client->in_flight(), 3u);
        client.reset();
    };
    asio::post(ioc, check);
    auto t0 = std::chrono::steady_clock::now();
    ioc.run();
    for (auto& f : futures) {
        HttpResponse r = f.get();
        EXPECT_EQ(r.error, HttpResponse::Error::other);
        EXPECT_NE(r.error_text.find("shut down"), std::string::npos) << r.error_text;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

namespace {

// A TLS server on 127.0.0.1 with a throwaway self-signed certificate for "localhost" (made
// with the openssl command, as the SMPP TLS test does). Answers every request "ok" and keeps
// the SNI name the client sent. With `stall`, it accepts TCP connections and says nothing.
class TlsServer {
  public:
    explicit TlsServer(bool stall = false)
        : dir_(
              std::filesystem::temp_directory_path() /
              ("tinbao-http-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))),
          ctx_(asio::ssl::context::tls_server),
          acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}),
          stall_(stall) {
        std::filesystem::create_directories(dir_);
        const std::string cmd =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
            "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout '" +
            (dir_ / "key.pem").string() + "' -out '" + cert() + "' 2>/dev/null";
        ok_ = std::system(cmd.c_str()) == 0;
        if (ok_) {
            ctx_.use_certificate_chain_file(cert());
            ctx_.use_private_key_file((dir_ / "key.pem").string(), asio::ssl::context::pem);
        }
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~TlsServer() {
        ioc_.stop();
        thread_.join();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    bool ok() const { return ok_; }
    std::string cert() const { return (dir_ / "cert.pem").string(); }
    std::string url(const std::string& host) const {
        return "https://" + host + ":" + std::to_string(port_) + "/send";
    }
    std::string sni() const {
        std::lock_guard lock(mutex_);
        return sni_;
    }
    int requests() const { return requests_.load(); }

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) co_return;
            asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
        }
    }
    asio::awaitable<void> session(tcp::socket socket) {
        if (stall_) {
            asio::steady_timer never(ioc_, std::chrono::hours(1));
            co_await never.async_wait(kTuple);
            co_return;
        }
        asio::ssl::stream<tcp::socket> tls(std::move(socket), ctx_);
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kTuple);
        if (hec) co_return;
        if (const char* name = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)) {
            std::lock_guard lock(mutex_);
            sni_ = name;
        }
        std::string in;
        for (;;) {
            auto [ec, n] =
                co_await asio::async_read_until(tls, asio::dynamic_buffer(in), "\r\n\r\n", kTuple);
            if (ec) co_return;
            std::string head = in.substr(0, n);
            in.erase(0, n);
            std::size_t length = 0;
            if (auto p = head.find("Content-Length: "); p != std::string::npos)
                length = std::stoul(head.substr(p + 16));
            if (in.size() < length) {
                auto [bec, bn] =
                    co_await asio::async_read(tls, asio::dynamic_buffer(in),
                                              asio::transfer_exactly(length - in.size()), kTuple);
                if (bec) co_return;
            }
            in.erase(0, length);
            ++requests_;
            auto [wec, wn] = co_await asio::async_write(tls, asio::buffer(kOk), kTuple);
            if (wec) co_return;
        }
    }

    static inline std::atomic<int> counter_{0};
    std::filesystem::path dir_;
    asio::io_context ioc_;
    asio::ssl::context ctx_;
    tcp::acceptor acceptor_;
    bool stall_ = false;
    bool ok_ = false;
    unsigned short port_ = 0;
    mutable std::mutex mutex_;
    std::string sni_;
    std::atomic<int> requests_{0};
    std::thread thread_;
};

}  // namespace

TEST(HttpPoolTls, VerifiedCertificateSendsSniAndReusesTheConnection) {
    TlsServer server;
    ASSERT_TRUE(server.ok()) << "openssl could not make the test certificate";
    asio::io_context ioc;
    HttpPoolOptions options;
    options.ca_file = server.cert();
    HttpPool client(ioc.get_executor(), options);
    auto out = run_all(client, ioc,
                       {make_request("POST", server.url("localhost"), "one"),
                        make_request("POST", server.url("localhost"), "two")});
    ASSERT_EQ(out.size(), 2u);
    for (auto& r : out) {
        EXPECT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
        EXPECT_EQ(r.body, "ok");
    }
    EXPECT_EQ(server.sni(), "localhost");
    EXPECT_EQ(server.requests(), 2);
    EXPECT_EQ(client.connections_opened(), 1u);
}

TEST(HttpPoolTls, UntrustedCertificateIsATlsError) {
    TlsServer server;
    ASSERT_TRUE(server.ok());
    HttpResponse r =
        run_pool_one({}, make_request("POST", server.url("localhost"), "x"));  // system CAs
    EXPECT_EQ(r.error, HttpResponse::Error::tls) << r.error_text;
    EXPECT_NE(r.error_text.find("certificate"), std::string::npos) << r.error_text;
    EXPECT_EQ(server.requests(), 0);
}

TEST(HttpPoolTls, CertificateForAnotherNameIsATlsError) {
    TlsServer server;
    ASSERT_TRUE(server.ok());
    HttpPoolOptions options;
    options.ca_file = server.cert();
    // Trusted, but issued for localhost, not for the address 127.0.0.1.
    HttpResponse r = run_pool_one(options, make_request("POST", server.url("127.0.0.1"), "x"));
    EXPECT_EQ(r.error, HttpResponse::Error::tls) << r.error_text;
    EXPECT_EQ(server.requests(), 0);
}

TEST(HttpPoolTls, WithoutVerificationAnyCertificateIsAccepted) {
    TlsServer server;
    ASSERT_TRUE(server.ok());
    HttpPoolOptions options;
    options.verify_tls = false;
    HttpResponse r = run_pool_one(options, make_request("POST", server.url("127.0.0.1"), "x"));
    EXPECT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.status, 200);
}

TEST(HttpPoolTls, StalledHandshakeTimesOutWithinDeadline) {
    TlsServer server(true);
    auto req = make_request("POST", server.url("127.0.0.1"), "x");
    req.timeout = std::chrono::milliseconds(300);
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = run_pool_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::timeout) << r.error_text;
    EXPECT_NE(r.error_text.find("TLS handshake"), std::string::npos) << r.error_text;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}
