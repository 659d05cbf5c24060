// CurlMulti against a real HTTP server on loopback.
#include "daemon/io/curl_multi.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "tests/unit/io/test_http_server.hpp"

namespace asio = boost::asio;
using tinbao::CurlMulti;
using tinbao::CurlMultiOptions;
using tinbao::HttpRequest;
using tinbao::HttpResponse;
using tinbao::test::closed_port;
using tinbao::test::make_request;
using tinbao::test::TestHttpServer;

namespace {

// Runs one request to completion on a fresh loop.
HttpResponse run_one(CurlMultiOptions options, HttpRequest request) {
    asio::io_context ioc;
    CurlMulti client(ioc.get_executor(), options);
    auto fut = asio::co_spawn(ioc, client.perform(std::move(request)), asio::use_future);
    ioc.run();
    return fut.get();
}

// `n` GETs of `url`, one after the other, on `client`; how many answered 200.
int run_sequential(asio::io_context& ioc, CurlMulti& client, const std::string& url, int n) {
    int ok = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < n; ++i) {
                HttpResponse r = co_await client.perform(make_request("GET", url));
                if (r.error == HttpResponse::Error::none && r.status == 200) ++ok;
            }
        },
        asio::detached);
    ioc.restart();
    ioc.run();
    return ok;
}

}  // namespace

TEST(CurlMulti, GetReturnsStatusAndLowerCasedHeaders) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/echo"));
    req.headers.emplace_back("X-Test", "xin chào");
    HttpResponse r = run_one({}, req);
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-method"), "GET");
    EXPECT_EQ(r.header("x-echo-header"), "xin chào");
    EXPECT_EQ(r.header("x-mixed-case"), "Value");
    EXPECT_EQ(r.header("X-Mixed-Case"), "");  // names are stored lower-case only
    EXPECT_EQ(r.body, "");
}

TEST(CurlMulti, PostBodyRoundTripsByteExact) {
    TestHttpServer server;
    std::string body = R"({"Content":"Hồ sơ 000.00.01.H62-250101-0001 đã có kết quả"})";
    auto req = make_request("POST", server.url("/echo"), body);
    req.headers.emplace_back("Content-Type", "application/json");
    HttpResponse r = run_one({}, req);
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-method"), "POST");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, body);
}

TEST(CurlMulti, CustomMethodCarriesBody) {
    TestHttpServer server;
    HttpResponse r = run_one({}, make_request("PUT", server.url("/echo"), "abc"));
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.header("x-method"), "PUT");
    EXPECT_EQ(r.body, "abc");
}

TEST(CurlMulti, ErrorStatusIsAnAnswerNotAnError) {
    TestHttpServer server;
    HttpResponse r = run_one({}, make_request("GET", server.url("/status/429")));
    ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.header("retry-after"), "7");
}

TEST(CurlMulti, HundredConcurrentRequestsAllComplete) {
    TestHttpServer server;
    asio::io_context ioc;
    CurlMulti client(ioc.get_executor());
    std::vector<std::future<HttpResponse>> futures;
    for (int i = 0; i < 100; ++i)
        futures.push_back(
            asio::co_spawn(ioc,
                           client.perform(make_request("POST", server.url("/echo"),
                                                       "request-" + std::to_string(i))),
                           asio::use_future));
    ioc.run();
    for (int i = 0; i < 100; ++i) {
        HttpResponse r = futures[i].get();
        ASSERT_EQ(r.error, HttpResponse::Error::none) << i << ": " << r.error_text;
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "request-" + std::to_string(i));
    }
    EXPECT_EQ(client.in_flight(), 0u);
    EXPECT_EQ(server.requests(), 100);
}

// Several multi handles (shards): every request completes with its own answer, connections are
// still reused within each shard, and the client counts what is in flight across them all.
TEST(CurlMulti, ShardsShareTheWorkAndKeepTheirConnections) {
    TestHttpServer server;
    asio::io_context ioc;
    CurlMultiOptions options;
    options.shards = 4;
    options.connection_cache = 64;
    CurlMulti client(ioc.get_executor(), options);
    std::vector<std::future<HttpResponse>> futures;
    for (int i = 0; i < 100; ++i)
        futures.push_back(
            asio::co_spawn(ioc,
                           client.perform(make_request("POST", server.url("/echo"),
                                                       "request-" + std::to_string(i))),
                           asio::use_future));
    std::size_t in_flight = 0;
    asio::post(ioc, [&] { in_flight = client.in_flight(); });
    ioc.run();
    EXPECT_EQ(in_flight, 100u);
    for (int i = 0; i < 100; ++i) {
        HttpResponse r = futures[i].get();
        ASSERT_EQ(r.error, HttpResponse::Error::none) << i << ": " << r.error_text;
        EXPECT_EQ(r.body, "request-" + std::to_string(i));
    }
    EXPECT_EQ(client.in_flight(), 0u);

    // One at a time: all through the first shard, on one connection.
    int before = server.connections();
    EXPECT_EQ(run_sequential(ioc, client, server.url("/echo"), 20), 20);
    EXPECT_LE(server.connections() - before, 1);
}

// At low load a sharded client sends everything through its first shard: one connection, not
// one per shard.
TEST(CurlMulti, ShardsAtLowLoadShareOneConnection) {
    TestHttpServer server;
    asio::io_context ioc;
    CurlMultiOptions options;
    options.shards = 4;
    CurlMulti client(ioc.get_executor(), options);
    EXPECT_EQ(run_sequential(ioc, client, server.url("/echo"), 10), 10);
    EXPECT_EQ(server.connections(), 1);
}

TEST(CurlMulti, ClosedPortIsConnectError) {
    auto req = make_request("GET", "http://127.0.0.1:" + std::to_string(closed_port()) + "/echo");
    HttpResponse r = run_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::connect);
    EXPECT_FALSE(r.error_text.empty());
    EXPECT_EQ(r.status, 0);
}

TEST(CurlMulti, SilentServerTimesOutWithinDeadline) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/hang"));
    req.timeout = std::chrono::milliseconds(300);
    auto t0 = std::chrono::steady_clock::now();
    HttpResponse r = run_one({}, req);
    auto elapsed = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.error, HttpResponse::Error::timeout) << r.error_text;
    EXPECT_GE(elapsed, std::chrono::milliseconds(250));
    EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(CurlMulti, SequentialRequestsReuseOneConnection) {
    TestHttpServer server;
    asio::io_context ioc;
    CurlMulti client(ioc.get_executor());
    EXPECT_EQ(run_sequential(ioc, client, server.url("/echo"), 10), 10);
    EXPECT_EQ(server.requests(), 10);
    EXPECT_EQ(server.connections(), 1);
}

TEST(CurlMulti, MaxHostConnectionsBoundsConnections) {
    TestHttpServer server;
    asio::io_context ioc;
    CurlMultiOptions options;
    options.max_host_connections = 2;
    CurlMulti client(ioc.get_executor(), options);
    std::vector<std::future<HttpResponse>> futures;
    for (int i = 0; i < 20; ++i)
        futures.push_back(asio::co_spawn(
            ioc, client.perform(make_request("GET", server.url("/echo"))), asio::use_future));
    ioc.run();
    for (auto& f : futures) {
        HttpResponse r = f.get();
        ASSERT_EQ(r.error, HttpResponse::Error::none) << r.error_text;
    }
    EXPECT_EQ(server.requests(), 20);
    EXPECT_LE(server.connections(), 2);
}

TEST(CurlMulti, OversizedResponseIsAnError) {
    TestHttpServer server;
    CurlMultiOptions options;
    options.max_response_bytes = 10;
    HttpResponse r = run_one(options, make_request("GET", server.url("/big")));
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_NE(r.error_text.find("larger than 10"), std::string::npos) << r.error_text;
}

TEST(CurlMulti, HeaderWithLineBreakIsRefused) {
    TestHttpServer server;
    auto req = make_request("GET", server.url("/echo"));
    req.headers.emplace_back("X-Test", "a\r\nInjected: yes");
    HttpResponse r = run_one({}, req);
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_EQ(server.requests(), 0);
}

TEST(CurlMulti, DestructionCompletesRequestsInFlight) {
    TestHttpServer server;
    asio::io_context ioc;
    auto client = std::make_unique<CurlMulti>(ioc.get_executor());
    auto req = make_request("GET", server.url("/hang"));
    req.timeout = std::chrono::seconds(30);
    auto fut = asio::co_spawn(ioc, client->perform(req), asio::use_future);
    // And on a sharded client, requests in every shard.
    CurlMultiOptions sharded;
    sharded.shards = 3;
    auto client3 = std::make_unique<CurlMulti>(ioc.get_executor(), sharded);
    std::vector<std::future<HttpResponse>> more;
    for (int i = 0; i < 3; ++i)
        more.push_back(asio::co_spawn(ioc, client3->perform(req), asio::use_future));
    asio::post(ioc, [&] { client3.reset(); });
    std::size_t in_flight_before = 0;
    // Runs after the coroutine has handed its request to the client.
    asio::post(ioc, [&] {
        in_flight_before = client->in_flight();
        client.reset();
    });
    auto t0 = std::chrono::steady_clock::now();
    ioc.run();
    HttpResponse r = fut.get();
    EXPECT_EQ(in_flight_before, 1u);
    EXPECT_EQ(r.error, HttpResponse::Error::other);
    EXPECT_NE(r.error_text.find("shut down"), std::string::npos) << r.error_text;
    for (auto& f : more) EXPECT_EQ(f.get().error, HttpResponse::Error::other);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}
