// bench_fake_provider: a fast fake eSMS for benchmarks. Speaks the eSMS send wire format
// (POST .../SendMultipleMessage_V4_post_json/, JSON with RequestId), answers after a configurable
// latency with a configurable error rate, and counts what it receives: requests, distinct
// RequestIds, duplicates (answered 124 like eSMS). GET /_stats returns the counts as JSON.
// It also answers as the HTTP gateway behind Kannel's generic HTTP SMSC (`smsc = http`,
// `system-type = generic`): GET /kannel/send?to=...&text=... (the send-url that
// `bench/run.py --system kannel` configures), counted the same way by recipient, answered
// 200 "Sent." (which that configuration's status-success-regex expects).
//
// Usage: bench_fake_provider [--port 0] [--latency-ms 0] [--error-rate 0.0]
// Prints "PORT <n>" once listening. One thread; keep-alive; no sleeps (timers).
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct Stats {
    uint64_t requests = 0;
    uint64_t accepted = 0;
    uint64_t duplicates = 0;
    uint64_t errors = 0;
    std::unordered_set<std::string> ids;
    std::chrono::steady_clock::time_point first{}, last{};
};

Stats stats;
int latency_ms = 0;
double error_rate = 0;
std::mt19937 rng{12345};

asio::awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    for (;;) {
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(stream, buf, req, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        if (req.method() == http::verb::get && req.target() == "/_stats") {
            double secs = std::chrono::duration<double>(stats.last - stats.first).count();
            res.body() = json::serialize(json::object{{"requests", stats.requests},
                                                      {"accepted", stats.accepted},
                                                      {"unique", stats.ids.size()},
                                                      {"duplicates", stats.duplicates},
                                                      {"errors", stats.errors},
                                                      {"span_seconds", secs}});
        } else if ((req.method() == http::verb::post &&
                    req.target().find("SendMultipleMessage_V4_post_json") !=
                        beast::string_view::npos) ||
                   req.target().starts_with("/kannel/send?")) {
            const bool kannel = req.target().starts_with("/kannel/send?");
            auto now = std::chrono::steady_clock::now();
            if (stats.requests == 0) stats.first = now;
            stats.last = now;
            ++stats.requests;
            std::string id;
            if (kannel) {
                // The recipient, as Kannel sends it: one message per recipient in the bench.
                std::string_view q(req.target().data(), req.target().size());
                if (auto at = q.find("to="); at != std::string_view::npos) {
                    auto end = q.find('&', at);
                    id = std::string(q.substr(at + 3, end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : end - at - 3));
                }
            } else {
                boost::system::error_code jec;
                auto v = json::parse(req.body(), jec);
                if (!jec && v.is_object())
                    if (auto* r = v.as_object().if_contains("RequestId"); r && r->is_string())
                        id = std::string(r->as_string());
            }
            if (latency_ms > 0) {
                asio::steady_timer t(co_await asio::this_coro::executor,
                                     std::chrono::milliseconds(latency_ms));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            if (std::uniform_real_distribution<double>(0, 1)(rng) < error_rate) {
                ++stats.errors;
                res.result(http::status::internal_server_error);
                res.body() = "error";
            } else if (!id.empty() && !stats.ids.insert(id).second) {
                ++stats.duplicates;
                res.body() = R"({"CodeResult":"124","ErrorMessage":"Request exist 1"})";
            } else if (kannel) {
                ++stats.accepted;
                res.set(http::field::content_type, "text/plain");
                res.body() = "Sent.";
            } else {
                ++stats.accepted;
                res.body() = R"({"CodeResult":"100","CountRegenerate":0,"SMSID":"bench-)" + id +
                             "\"}";
            }
        } else {
            res.result(http::status::not_found);
        }
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        if (wec || !res.keep_alive()) co_return;
    }
}

asio::awaitable<void> listen(tcp::acceptor& acc) {
    for (;;) {
        auto [ec, sock] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) continue;
        asio::co_spawn(acc.get_executor(), session(std::move(sock)), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
        else if (a == "--latency-ms") latency_ms = std::atoi(argv[i + 1]);
        else if (a == "--error-rate") error_rate = std::atof(argv[i + 1]);
    }
    asio::io_context io(1);
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    acc.listen(4096);
    std::printf("PORT %u\n", acc.local_endpoint().port());
    std::fflush(stdout);
    asio::co_spawn(io, listen(acc), asio::detached);
    io.run();
}
