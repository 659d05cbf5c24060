// Tests of the HTTP server and the API routes: a real Server on 127.0.0.1 (port 0) serving the
// API over an in-memory backend, driven by a Beast client with deadlines on every operation.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "common/crypto.hpp"
#include "daemon/http/api.hpp"
#include "daemon/http/server.hpp"

namespace tinbao::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const char* kToken = "tok-igate-0123456789";
const char* kSignedToken = "tok-signed-abcdef";
const char* kSecret = "hmac-secret-for-tests";

class FakeBackend : public ApiBackend {
public:
    FakeBackend() {
        auto cfg = std::make_shared<Config>();
        cfg->http.clients = {{"igate", kToken, ""}, {"signed", kSignedToken, kSecret}};
        cfg->status_aliases["DA_CO_KET_QUA"] = "result_ready";
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

std::string good_event(const std::string& id = "igate-2026-000123",
                       const char* status = "result_ready") {
    return json::serialize(json::object{
        {"event_id", id},
        {"occurred_at", "2026-11-27T08:15:00+07:00"},
        {"dossier", {{"code", "000.00.12.H62-261120-0007"}, {"status", status}}},
        {"applicant", {{"name", "Nguyễn Thị Ánh Tuyết"}, {"phone", "0912345678"}}},
    });
}

std::string now_seconds(int offset = 0) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() +
                          offset);
}

class HttpTest : public ::testing::Test {
protected:
    void start(ServerOptions opt = {}) {
        opt.host = "127.0.0.1";
        opt.port = 0;
        if (opt.max_body_bytes == 65536) opt.max_body_bytes = 1024;
        server_ = std::make_unique<Server>(io_, opt, make_api_handler(backend_));
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

TEST_F(HttpTest, PostEventAccepted) {
    start();
    Reply r = post_event(good_event("ev-1", "DA_CO_KET_QUA"));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(r.json(), (json::value{{"event_id", "ev-1"}, {"state", "accepted"}}));
    EXPECT_EQ(r.msg[bhttp::field::content_type], "application/json; charset=utf-8");
    EXPECT_EQ(r.msg[bhttp::field::server], "tinbao");
    EXPECT_TRUE(r.msg[bhttp::field::date].ends_with(" GMT")) << r.msg[bhttp::field::date];
    auto seen = backend_.ingested();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].event_id, "ev-1");
    EXPECT_EQ(seen[0].status, "result_ready");  // the config's alias resolved
    EXPECT_EQ(seen[0].original_status, "DA_CO_KET_QUA");
}

TEST_F(HttpTest, DuplicateIs200) {
    start();
    backend_.set_ingest(ApiBackend::Ingest::duplicate);
    Reply r = post_event(good_event("ev-dup"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json(), (json::value{{"event_id", "ev-dup"}, {"state", "duplicate"}}));
}

TEST_F(HttpTest, QueueUnavailableIs503) {
    start();
    backend_.set_ingest(ApiBackend::Ingest::unavailable);
    Reply r = post_event(good_event());
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.error_code(), "queue_unavailable");
}

TEST_F(HttpTest, MissingOrWrongTokenIs401) {
    start();
    for (const char* token : {static_cast<const char*>(nullptr), "wrong-token", "tok-igate",
                              "tok-igate-0123456789x", ""}) {
        Reply r = post_event(good_event(), token);
        EXPECT_EQ(r.status, 401) << (token ? token : "(none)");
        EXPECT_EQ(r.error_code(), "unauthorized");
        EXPECT_EQ(r.msg[bhttp::field::www_authenticate], "Bearer");
    }
    auto req = make(bhttp::verb::post, "/v1/events", good_event(), nullptr);
    req.set(bhttp::field::authorization, std::string("Basic ") + kToken);
    EXPECT_EQ(send(req).status, 401);
    EXPECT_EQ(get("/v1/events/x", "nope").status, 401);
    EXPECT_TRUE(backend_.ingested().empty());
    EXPECT_TRUE(backend_.lookups().empty());
}

TEST_F(HttpTest, SignedClient) {
    start();
    auto signed_req = [&](const std::string& body, const std::string& ts,
                          const std::string& signed_body) {
        auto req = make(bhttp::verb::post, "/v1/events", body, kSignedToken);
        req.set("X-Tinbao-Timestamp", ts);
        req.set("X-Tinbao-Signature",
                "sha256=" + hmac_sha256_hex(kSecret, ts + "." + signed_body));
        return req;
    };
    const std::string body = good_event("signed-1");

    Reply ok = send(signed_req(body, now_seconds(), body));
    EXPECT_EQ(ok.status, 202) << ok.body;

    Reply tampered = send(signed_req(body, now_seconds(), body + " "));
    EXPECT_EQ(tampered.status, 401);
    EXPECT_EQ(tampered.error_code(), "invalid_signature");

    // Well outside the ±300 s window: at ±301 a second boundary crossed between signing and
    // checking would put the request back inside it.
    Reply stale = send(signed_req(body, now_seconds(-400), body));
    EXPECT_EQ(stale.status, 401);
    EXPECT_EQ(stale.error_code(), "stale_timestamp");
    Reply future = send(signed_req(body, now_seconds(+400), body));
    EXPECT_EQ(future.error_code(), "stale_timestamp");

    auto wrong_key = make(bhttp::verb::post, "/v1/events", body, kSignedToken);
    const std::string ts = now_seconds();
    wrong_key.set("X-Tinbao-Timestamp", ts);
    wrong_key.set("X-Tinbao-Signature", "sha256=" + hmac_sha256_hex("other", ts + "." + body));
    EXPECT_EQ(send(wrong_key).error_code(), "invalid_signature");

    Reply unsigned_req = send(make(bhttp::verb::post, "/v1/events", body, kSignedToken));
    EXPECT_EQ(unsigned_req.status, 401);
    EXPECT_EQ(unsigned_req.error_code(), "invalid_signature");

    EXPECT_EQ(backend_.ingested().size(), 1u);
}

TEST_F(HttpTest, ContentLengthOverLimitIs413BeforeTheBody) {
    start();
    Client c(port_);
    // Only the header: the answer must come without the server waiting for the body.
    ASSERT_FALSE(c.write_raw("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/json\r\nContent-Length: 5000\r\n\r\n"));
    Reply r = c.read();
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.error_code(), "payload_too_large");
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);

    Reply full = post_event(std::string(1025, ' ') + good_event());
    EXPECT_EQ(full.status, 413);
    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(HttpTest, ChunkedOverLimitIs413) {
    start();
    Client c(port_);
    std::string req =
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kToken) +
        "\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) req += "200\r\n" + std::string(512, ' ') + "\r\n";
    req += "0\r\n\r\n";
    ASSERT_FALSE(c.write_raw(req));
    Reply r = c.read();
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.error_code(), "payload_too_large");
    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(HttpTest, ChunkedWithinLimitIsServed) {
    start();
    Client c(port_);
    const std::string body = good_event("chunked-1");
    std::string req =
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kToken) +
        "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    std::ostringstream hex;
    hex << std::hex << body.size();
    req += hex.str() + "\r\n" + body + "\r\n0\r\n\r\n";
    ASSERT_FALSE(c.write_raw(req));
    EXPECT_EQ(c.read().status, 202);
}

TEST_F(HttpTest, BadEventsAre400AndNeverIngested) {
    start();
    Reply bad_json = post_event("{\"event_id\": ");
    EXPECT_EQ(bad_json.status, 400);
    EXPECT_EQ(bad_json.error_code(), "invalid_json");

    Reply bad_utf8 = post_event("{\"event_id\": \"\xFF\xFE\"}");
    EXPECT_EQ(bad_utf8.status, 400);
    EXPECT_EQ(bad_utf8.error_code(), "invalid_utf8");

    json::object no_phone = json::parse(good_event()).as_object();
    no_phone["applicant"] = json::object{{"name", "A"}};
    Reply missing = post_event(json::serialize(no_phone));
    EXPECT_EQ(missing.status, 400);
    EXPECT_EQ(missing.error_code(), "invalid_event");
    EXPECT_EQ(missing.json().at("error").at("field"), "applicant");

    Reply unknown_status = post_event(good_event("x", "DANG_XU_LY_BI_MAT"));
    EXPECT_EQ(unknown_status.status, 400);
    EXPECT_EQ(unknown_status.json().at("error").at("field"), "dossier.status");
    EXPECT_TRUE(unknown_status.json().at("error").at("message").is_string());

    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(HttpTest, GetRoutes) {
    start();
    backend_.put("event:ev-7", json::object{{"event_id", "ev-7"}, {"state", "done"}});
    backend_.put("message:m-1", json::object{{"id", "m-1"}});
    backend_.put("dossier:000.00.12.H62-261120-0007",
                 json::object{{"messages", json::array{json::object{{"id", "m-1"}}}}});
    backend_.put("dossier:HS/ĐN 1", json::object{{"messages", json::array{}}});

    Reply ev = get("/v1/events/ev-7");
    EXPECT_EQ(ev.status, 200);
    EXPECT_EQ(ev.json().at("state"), "done");
    EXPECT_EQ(get("/v1/events/ev-8").status, 404);
    EXPECT_EQ(get("/v1/events/ev-8").error_code(), "not_found");
    EXPECT_EQ(get("/v1/messages/m-1").json().at("id"), "m-1");
    EXPECT_EQ(get("/v1/messages/m-2").status, 404);

    Reply d = get("/v1/dossiers/000.00.12.H62-261120-0007/messages");
    EXPECT_EQ(d.status, 200);
    EXPECT_EQ(d.json().at("messages").as_array().size(), 1u);
    // Percent-encoded, including an encoded slash that must not split the path.
    Reply enc = get("/v1/dossiers/HS%2F%C4%90N%201/messages");
    EXPECT_EQ(enc.status, 200) << enc.body;

    backend_.set_unavailable(true);
    Reply down = get("/v1/events/ev-7");
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(down.error_code(), "queue_unavailable");
}

TEST_F(HttpTest, HealthReadyMetrics) {
    start();
    Reply h = get("/healthz", nullptr);
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.json(), (json::value{{"status", "ok"}}));
    EXPECT_EQ(get("/readyz", nullptr).status, 200);
    backend_.set_ready(false);
    EXPECT_EQ(get("/readyz", nullptr).status, 503);
    Reply m = get("/metrics", nullptr);
    EXPECT_EQ(m.status, 200);
    EXPECT_TRUE(m.msg[bhttp::field::content_type].starts_with("text/plain; version=0.0.4"));
    EXPECT_EQ(m.body, "tinbao_events_total 3\n");
}

TEST_F(HttpTest, UnknownPathAndWrongMethod) {
    start();
    Reply nf = get("/v1/nothing");
    EXPECT_EQ(nf.status, 404);
    EXPECT_EQ(nf.error_code(), "not_found");
    EXPECT_EQ(get("/").status, 404);
    Reply wm = get("/v1/events");
    EXPECT_EQ(wm.status, 405);
    EXPECT_EQ(wm.msg[bhttp::field::allow], "POST");
    Reply wm2 = send(make(bhttp::verb::delete_, "/v1/events/abc"));
    EXPECT_EQ(wm2.status, 405);
    EXPECT_EQ(wm2.msg[bhttp::field::allow], "GET, HEAD");
}

TEST_F(HttpTest, RenderPreviewAndHandlerException) {
    start();
    Reply ok = send(make(bhttp::verb::post, "/v1/render", good_event("r", "DA_CO_KET_QUA")));
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.json().at("status"), "result_ready");
    backend_.set_render_throws(true);
    Reply boom = send(make(bhttp::verb::post, "/v1/render", good_event()));
    EXPECT_EQ(boom.status, 500);
    EXPECT_EQ(boom.error_code(), "internal_error");
    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(HttpTest, KeepAliveServesTwoRequestsOnOneConnection) {
    start();
    Client c(port_);
    auto first = make(bhttp::verb::post, "/v1/events", good_event("ka-1"));
    first.keep_alive(true);
    ASSERT_FALSE(c.write(first));
    Reply r1 = c.read();
    EXPECT_EQ(r1.status, 202);
    EXPECT_TRUE(r1.msg.keep_alive());
    auto second = make(bhttp::verb::get, "/healthz", {}, nullptr);
    second.keep_alive(true);
    ASSERT_FALSE(c.write(second));
    EXPECT_EQ(c.read().status, 200);
    // Connection: close is honoured: the server closes after its answer.
    auto third = make(bhttp::verb::get, "/healthz", {}, nullptr);
    ASSERT_FALSE(c.write(third));
    Reply r3 = c.read();
    EXPECT_EQ(r3.status, 200);
    EXPECT_FALSE(r3.msg.keep_alive());
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);
    EXPECT_EQ(backend_.ingested().size(), 1u);
}

TEST_F(HttpTest, IdleConnectionClosedAfterIdleTimeout) {
    ServerOptions opt;
    opt.idle_timeout = 200ms;
    start(opt);
    Client c(port_);
    ASSERT_FALSE(c.connect_error());
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 4s);
}

TEST_F(HttpTest, MalformedRequestIs400) {
    start();
    Client c(port_);
    ASSERT_FALSE(c.write_raw("THIS IS NOT HTTP\r\n\r\n"));
    Reply r = c.read();
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.error_code(), "bad_request");
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);
}

TEST_F(HttpTest, MaxConnectionsClosesTheExtraOne) {
    ServerOptions opt;
    opt.max_connections = 1;
    start(opt);
    Client a(port_);
    auto req = make(bhttp::verb::get, "/healthz", {}, nullptr);
    req.keep_alive(true);
    ASSERT_FALSE(a.write(req));
    ASSERT_EQ(a.read().status, 200);
    EXPECT_EQ(on_io([this] { return server_->open_connections(); }), 1u);

    Client b(port_);
    ASSERT_FALSE(b.connect_error());  // the kernel completes the handshake
    EXPECT_TRUE(b.read_until_closed());  // then the server drops it at once

    ASSERT_FALSE(a.write(req));  // the first one still works
    EXPECT_EQ(a.read().status, 200);
}

TEST_F(HttpTest, StopClosesIdleConnectionsAndStopsAccepting) {
    start();
    Client idle(port_);
    auto req = make(bhttp::verb::get, "/healthz", {}, nullptr);
    req.keep_alive(true);
    ASSERT_FALSE(idle.write(req));
    ASSERT_EQ(idle.read().status, 200);

    on_io([this] { server_->stop(); });
    EXPECT_EQ(idle.read_until_closed(), asio::error::eof);
    Client late(port_);
    EXPECT_TRUE(late.connect_error());
}

TEST_F(HttpTest, QueryAndPathDecodedForTheHandler) {
    // The server alone, with a handler that echoes what it received.
    ServerOptions opt;
    opt.host = "127.0.0.1";
    opt.port = 0;
    Server echo(io_, opt, [](Request& req) -> asio::awaitable<Response> {
        json::array q;
        for (auto& [k, v] : req.query) q.push_back(json::array{json::value(k), json::value(v)});
        json::array segs;
        for (auto& s : req.segments) segs.push_back(json::value(s));
        Response r;
        r.body = json::serialize(json::object{{"path", req.path}, {"segments", segs}, {"query", q},
                                              {"x", req.header("x-custom")}});
        co_return r;
    });
    echo.start();
    start();
    Client c(echo.port());
    bhttp::request<bhttp::string_body> req{bhttp::verb::get,
                                           "/a%20b/h%E1%BB%93%2Fs%C6%A1?k=v%201&e=&k=2", 11};
    req.set("X-Custom", "yes");
    req.keep_alive(false);
    ASSERT_FALSE(c.write(req));
    Reply r = c.read();
    ASSERT_EQ(r.status, 200);
    json::value j = r.json();
    EXPECT_EQ(j.at("path"), "/a b/hồ/sơ");
    EXPECT_EQ(j.at("segments"), (json::array{"a b", "hồ/sơ"}));
    EXPECT_EQ(j.at("query"), (json::array{json::array{"k", "v 1"}, json::array{"e", ""},
                                          json::array{"k", "2"}}));
    EXPECT_EQ(j.at("x"), "yes");
    on_io([&echo] { echo.stop(); });
}

}  // namespace
}  // namespace tinbao::http
