// The HTTP tests' fixture: a real Server on 127.0.0.1 (port 0) serving the API over an
// in-memory backend, driven by a Beast client with deadlines on every operation.
#pragma once
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "common/crypto.hpp"
#include "daemon/http/api.hpp"
#include "daemon/http/server.hpp"

namespace tinbao::http::fixture {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline const char* const kToken = "tok-igate-0123456789";
inline const char* const kSignedToken = "tok-signed-abcdef";
inline const char* const kSecret = "hmac-secret-for-tests";

inline ApiClient api_client(std::string name, std::string token, std::string secret = {}) {
    ApiClient c;
    c.name = std::move(name);
    c.token = std::move(token);
    c.hmac_secret = std::move(secret);
    return c;
}

class FakeBackend : public ApiBackend {
  public:
    FakeBackend() {
        auto cfg = std::make_shared<Config>();
        cfg->http.clients = {api_client("igate", kToken),
                             api_client("signed", kSignedToken, kSecret)};
        cfg->status_aliases["DA_CO_KET_QUA"] = "result_ready";
        config_ = cfg;
    }
    // Changes the config (before the server starts).
    template <class F>
    void edit(F f) {
        auto cfg = std::make_shared<Config>(*config_);
        f(*cfg);
        config_ = cfg;
    }

    asio::awaitable<Ingest> ingest(const Event& event) override {
        std::lock_guard lock(mu_);
        ingested_.push_back(event);
        co_return ingest_result_;
    }
    asio::awaitable<Lookup> event_record(std::string event_id) override {
        co_return lookup("event:" + event_id);
    }
    asio::awaitable<Lookup> message_record(std::string message_id) override {
        co_return lookup("message:" + message_id);
    }
    asio::awaitable<Lookup> dossier_messages(std::string dossier_code) override {
        co_return lookup("dossier:" + dossier_code);
    }
    json::value render_preview(const Event& event) override {
        std::lock_guard lock(mu_);
        if (render_throws_) throw std::runtime_error("template exploded");
        return json::object{{"status", event.status}, {"rendered", true}};
    }
    bool ready() const override {
        std::lock_guard lock(mu_);
        return ready_;
    }
    std::string metrics_text() override { return "tinbao_events_total 3\n"; }
    // Dead letters are the records put under "dead:<id>"; each is discarded once.
    asio::awaitable<std::optional<std::vector<std::string>>> discard(std::vector<std::string> ids,
                                                                     std::string client) override {
        std::lock_guard lock(mu_);
        if (unavailable_) co_return std::nullopt;
        std::vector<std::string> gone;
        for (auto& id : ids)
            if (records_.erase("dead:" + id)) gone.push_back(id);
        discarded_by_ = client;
        co_return gone;
    }
    std::string discarded_by() const {
        std::lock_guard lock(mu_);
        return discarded_by_;
    }
    std::shared_ptr<const Config> config() const override { return config_; }

    void set_ingest(Ingest r) {
        std::lock_guard lock(mu_);
        ingest_result_ = r;
    }
    void set_ready(bool r) {
        std::lock_guard lock(mu_);
        ready_ = r;
    }
    void set_render_throws(bool t) {
        std::lock_guard lock(mu_);
        render_throws_ = t;
    }
    void set_unavailable(bool u) {
        std::lock_guard lock(mu_);
        unavailable_ = u;
    }
    void put(const std::string& key, json::value v) {
        std::lock_guard lock(mu_);
        records_[key] = std::move(v);
    }
    std::vector<Event> ingested() const {
        std::lock_guard lock(mu_);
        return ingested_;
    }
    std::vector<std::string> lookups() const {
        std::lock_guard lock(mu_);
        return lookups_;
    }

  private:
    std::string discarded_by_;
    Lookup lookup(const std::string& key) {
        std::lock_guard lock(mu_);
        lookups_.push_back(key);
        Lookup l;
        if (unavailable_) {
            l.status = Lookup::Status::unavailable;
        } else if (auto it = records_.find(key); it != records_.end()) {
            l.status = Lookup::Status::found;
            l.value = it->second;
        }
        return l;
    }

    mutable std::mutex mu_;
    std::shared_ptr<const Config> config_;
    Ingest ingest_result_ = Ingest::accepted;
    bool ready_ = true;
    bool render_throws_ = false;
    bool unavailable_ = false;
    std::map<std::string, json::value> records_;
    std::vector<Event> ingested_;
    std::vector<std::string> lookups_;
};

struct Reply {
    beast::error_code ec;
    int status = 0;
    std::string body;
    bhttp::response<bhttp::string_body> msg;
    json::value json() const { return json::parse(body); }
    std::string error_code() const {
        return std::string(json().at("error").at("code").as_string());
    }
};

// A blocking client whose every operation has a deadline, so a server bug fails the test
// instead of hanging it.
class Client {
  public:
    explicit Client(uint16_t port) {
        run([&](auto done) {
            stream_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                  [done](beast::error_code ec) { done(ec); });
        });
    }
    beast::error_code connect_error() const { return connect_ec_; }

    beast::error_code write_raw(const std::string& bytes) {
        return run([&](auto done) {
            asio::async_write(stream_, asio::buffer(bytes),
                              [done](beast::error_code ec, std::size_t) { done(ec); });
        });
    }
    beast::error_code write(bhttp::request<bhttp::string_body>& req) {
        return run([&](auto done) {
            bhttp::async_write(stream_, req,
                               [done](beast::error_code ec, std::size_t) { done(ec); });
        });
    }
    Reply read() {
        Reply r;
        r.ec = run([&](auto done) {
            bhttp::async_read(stream_, buffer_, r.msg,
                              [done](beast::error_code ec, std::size_t) { done(ec); });
        });
        r.status = static_cast<int>(r.msg.result_int());
        r.body = r.msg.body();
        return r;
    }
    // Waits for the server to close: the error of the next read (eof when it closed cleanly).
    beast::error_code read_until_closed(std::chrono::milliseconds deadline = 5s) {
        std::array<char, 512> sink;
        beast::error_code ec;
        for (;;) {
            std::size_t got = 0;
            ec = run(
                [&](auto done) {
                    stream_.async_read_some(asio::buffer(sink),
                                            [done, &got](beast::error_code e, std::size_t n) {
                                                got = n;
                                                done(e);
                                            });
                },
                deadline);
            if (ec) return ec;
        }
    }

  private:
    template <class Start>
    beast::error_code run(Start start, std::chrono::milliseconds deadline = 5s) {
        beast::error_code result;
        stream_.expires_after(deadline);
        start([&result](beast::error_code ec) { result = ec; });
        io_.run();
        io_.restart();
        if (!connected_) {
            connected_ = true;
            connect_ec_ = result;
        }
        return result;
    }

    asio::io_context io_;
    beast::tcp_stream stream_{io_};
    beast::flat_buffer buffer_;
    bool connected_ = false;
    beast::error_code connect_ec_;
};

inline std::string good_event(const std::string& id = "igate-2026-000123",
                              const char* status = "result_ready") {
    return json::serialize(json::object{
        {"event_id", id},
        {"occurred_at", "2026-11-27T08:15:00+07:00"},
        {"dossier", {{"code", "000.00.12.H62-261120-0007"}, {"status", status}}},
        {"applicant", {{"name", "Nguyễn Thị Ánh Tuyết"}, {"phone", "0912345678"}}},
    });
}

inline std::string now_seconds(int offset = 0) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() +
                          offset);
}

class HttpTest : public ::testing::Test {
  protected:
    void start(ServerOptions opt = {}, Listener listener = Listener::internal) {
        opt.host = "127.0.0.1";
        opt.port = 0;
        if (opt.max_body_bytes == 65536) opt.max_body_bytes = 1024;
        auto api = make_api(backend_, listener);
        server_ = std::make_unique<Server>(io_, opt, std::move(api.handler), std::move(api.admit));
        server_->start();
        port_ = server_->port();
        ASSERT_NE(port_, 0);
        thread_ = std::thread([this] { io_.run(); });
    }
    // Runs `f` on the server's thread and returns its result.
    template <class F>
    auto on_io(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto fut = task.get_future();
        asio::post(io_, [&task] { task(); });
        return fut.get();
    }
    void TearDown() override {
        if (thread_.joinable()) {
            on_io([this] { server_->stop(); });
            work_.reset();
            io_.stop();
            thread_.join();
        }
        server_.reset();
    }

    bhttp::request<bhttp::string_body> make(bhttp::verb method, const std::string& target,
                                            const std::string& body = {},
                                            const char* token = kToken) {
        bhttp::request<bhttp::string_body> req{method, target, 11};
        req.set(bhttp::field::host, "127.0.0.1");
        if (token != nullptr) req.set(bhttp::field::authorization, std::string("Bearer ") + token);
        if (!body.empty() || method == bhttp::verb::post) {
            req.set(bhttp::field::content_type, "application/json");
            req.body() = body;
        }
        req.keep_alive(false);
        req.prepare_payload();
        return req;
    }
    Reply send(bhttp::request<bhttp::string_body> req) {
        Client c(port_);
        EXPECT_FALSE(c.connect_error());
        EXPECT_FALSE(c.write(req));
        return c.read();
    }
    Reply post_event(const std::string& body, const char* token = kToken) {
        return send(make(bhttp::verb::post, "/v1/events", body, token));
    }
    Reply get(const std::string& target, const char* token = kToken) {
        return send(make(bhttp::verb::get, target, {}, token));
    }

    asio::io_context io_;
    // Keeps the server's thread alive after stop(), so on_io() always has a loop to run on.
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    FakeBackend backend_;
    std::unique_ptr<Server> server_;
    std::thread thread_;
    uint16_t port_ = 0;
};

}  // namespace tinbao::http::fixture
