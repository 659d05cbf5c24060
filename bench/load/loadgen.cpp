// bench_loadgen: posts realistic dossier events to tinbaod at a fixed rate or flat out, over
// keep-alive connections, and reports what the API answered and how fast.
//
// Usage: bench_loadgen --port P --token T [--host 127.0.0.1] [--count 10000] [--rate 0]
//                      [--concurrency 64] [--prefix run1]
// --rate 0 sends flat out; otherwise events are paced at that many per second in total.
// --kannel USER:PASS sends the same notices to Kannel's smsbox instead (GET /cgi-bin/sendsms
// with the SMS text tinbao renders for the event, to the event's phone number); 202 is
// accepted there too.
// Prints one JSON object: sent, accepted (202), other answers, seconds, events/s, ingest latency
// p50/p99/max in ms.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string host = "127.0.0.1", token, prefix = "bench", kannel;
unsigned short port = 8080;
long count = 10000;
double rate = 0;
int concurrency = 64;

long next_index = 0;
long accepted = 0, other = 0, failed_conn = 0;
std::vector<double> latencies_ms;
Clock::time_point start;

std::string event_body(long i) {
    // Vietnamese names and agencies, one dossier per event, a realistic size (~700 bytes).
    static const char* names[] = {"Nguyễn Thị Ánh Tuyết", "Trần Văn Bình", "Lê Hoàng Phúc",
                                  "Phạm Thị Thu Hà", "Võ Minh Khang"};
    char phone[16];
    std::snprintf(phone, sizeof phone, "09%08ld", 12345678 + (i % 80000000));
    std::string id = prefix + "-" + std::to_string(i);
    return std::string(R"({"event_id":")") + id +
           R"(","occurred_at":"2026-11-27T08:15:00+07:00","dossier":{"code":"000.00.12.H62-261127-)" +
           std::to_string(i) +
           R"(","status":"result_ready","previous_status":"processing","procedure":{"code":"1.001612","name":"Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"},"agency":{"code":"000.00.12.H62","name":"Sở Tư pháp tỉnh Vĩnh Long"},"received_at":"2026-11-20T09:00:00+07:00","appointment_at":"2026-11-30T14:00:00+07:00","fee":200000},"applicant":{"name":")" +
           names[i % 5] + R"(","phone":")" + phone +
           R"(","email":null,"zalo_user_id":null},"data":{"counter":"Quầy số 5"}})";
}

std::string url_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

// Kannel's sendsms request for event i: the text templates/result_ready.yaml renders for it.
std::string kannel_target(long i) {
    static const char* names[] = {"Nguyen Thi Anh Tuyet", "Tran Van Binh", "Le Hoang Phuc",
                                  "Pham Thi Thu Ha", "Vo Minh Khang"};
    char phone[16];
    std::snprintf(phone, sizeof phone, "09%08ld", 12345678 + (i % 80000000));
    std::string text = "Ho so 000.00.12.H62-261127-" + std::to_string(i) + " cua Ong/Ba " +
                       names[i % 5] +
                       " da co ket qua. Moi Ong/Ba den nhan tai Quay so 5, mang theo giay hen.";
    auto colon = kannel.find(':');
    return "/cgi-bin/sendsms?username=" + url_encode(kannel.substr(0, colon)) +
           "&password=" + url_encode(colon == std::string::npos ? "" : kannel.substr(colon + 1)) +
           "&from=BENCH&to=" + phone + "&text=" + url_encode(text);
}

asio::awaitable<void> worker() {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), asio::use_awaitable);
    beast::tcp_stream stream(ex);
    bool connected = false;
    beast::flat_buffer buf;
    for (;;) {
        long i = next_index++;
        if (i >= count) break;
        if (rate > 0) {
            auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / rate));
            if (due > Clock::now()) {
                asio::steady_timer t(ex, due);
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
        }
        if (!connected) {
            auto [cec, ep] = co_await stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
            if (cec) {
                ++failed_conn;
                continue;
            }
            connected = true;
        }
        http::request<http::string_body> req{http::verb::post, "/v1/events", 11};
        req.set(http::field::host, host);
        req.keep_alive(true);
        if (kannel.empty()) {
            req.set(http::field::authorization, "Bearer " + token);
            req.set(http::field::content_type, "application/json");
            req.body() = event_body(i);
        } else {
            req.method(http::verb::get);
            req.target(kannel_target(i));
        }
        req.prepare_payload();
        auto t0 = Clock::now();
        auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
        http::response<http::string_body> res;
        boost::system::error_code rec;
        if (!wec) std::tie(rec, std::ignore) = co_await http::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
        if (wec || rec) {
            ++other;
            stream.close();
            connected = false;
            continue;
        }
        latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (res.result_int() == 202)
            ++accepted;
        else
            ++other;
        // The server closes a connection after so many requests (Connection: close): the next
        // request goes on a new one, not into the closed socket.
        if (!res.keep_alive()) {
            stream.close();
            connected = false;
        }
    }
}

double pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--host") host = v;
        else if (a == "--port") port = static_cast<unsigned short>(std::atoi(v.c_str()));
        else if (a == "--token") token = v;
        else if (a == "--count") count = std::atol(v.c_str());
        else if (a == "--rate") rate = std::atof(v.c_str());
        else if (a == "--concurrency") concurrency = std::atoi(v.c_str());
        else if (a == "--prefix") prefix = v;
        else if (a == "--kannel")
            kannel = v;
    }
    asio::io_context io(1);
    start = Clock::now();
    latencies_ms.reserve(static_cast<size_t>(count));
    for (int c = 0; c < concurrency; ++c) asio::co_spawn(io, worker(), asio::detached);
    io.run();
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    double p50 = pct(latencies_ms, 0.50), p99 = pct(latencies_ms, 0.99);
    double mx = latencies_ms.empty() ? 0 : *std::max_element(latencies_ms.begin(), latencies_ms.end());
    std::printf("{\"sent\": %ld, \"accepted\": %ld, \"other\": %ld, \"connect_failures\": %ld, "
                "\"seconds\": %.3f, \"events_per_second\": %.1f, \"ingest_p50_ms\": %.3f, "
                "\"ingest_p99_ms\": %.3f, \"ingest_max_ms\": %.3f}\n",
                std::min(next_index, count), accepted, other, failed_conn, secs,
                static_cast<double>(accepted) / secs, p50, p99, mx);
    return other == 0 && failed_conn == 0 ? 0 : 1;
}
