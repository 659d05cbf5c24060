// Tests of the HTTP server and the API routes (fixture: http_fixture.hpp).
#include "tests/unit/http/http_fixture.hpp"

namespace tinbao::http {
namespace {

using namespace fixture;

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

TEST_F(HttpTest, DiscardDeadLettersByIdSaysWhichWereThere) {
    start();
    backend_.put("dead:m1", json::object{});
    backend_.put("dead:m2", json::object{});
    Reply r = send(make(bhttp::verb::post, "/v1/dead-letters/discard",
                        R"({"ids": ["m1", "m-unknown", "m1", "m2"]})"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json(), json::parse(R"({"discarded": 2, "ids": ["m1", "m2"],
                                        "unknown": ["m-unknown"]})"));
    EXPECT_EQ(backend_.discarded_by(), "igate");
    Reply again = send(make(bhttp::verb::post, "/v1/dead-letters/discard", R"({"ids": ["m1"]})"));
    EXPECT_EQ(again.json(), json::parse(R"({"discarded": 0, "ids": [], "unknown": ["m1"]})"));
    // By id only, never "every one with this reason"; a GET is the wrong method.
    EXPECT_EQ(send(make(bhttp::verb::post, "/v1/dead-letters/discard", R"({"reason": "x"})"))
                  .error_code(),
              "invalid_request");
    EXPECT_EQ(send(make(bhttp::verb::post, "/v1/dead-letters/discard", R"({"ids": []})")).status,
              400);
    EXPECT_EQ(send(make(bhttp::verb::post, "/v1/dead-letters/discard", "[")).error_code(),
              "invalid_json");
    EXPECT_EQ(get("/v1/dead-letters/discard").status, 405);
    backend_.set_unavailable(true);
    Reply down = send(make(bhttp::verb::post, "/v1/dead-letters/discard", R"({"ids": ["m2"]})"));
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(down.error_code(), "queue_unavailable");
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

// Idle keep-alive connections (an unauthenticated /healthz is enough to hold one) must not lock
// everyone else out: at max_connections the one idle the longest makes room.
TEST_F(HttpTest, AtMaxConnectionsTheLongestIdleMakesRoom) {
    ServerOptions opt;
    opt.max_connections = 2;
    start(opt);
    auto req = make(bhttp::verb::get, "/healthz", {}, nullptr);
    req.keep_alive(true);
    Client a(port_), b(port_);
    ASSERT_FALSE(a.write(req));
    ASSERT_EQ(a.read().status, 200);
    ASSERT_FALSE(b.write(req));
    ASSERT_EQ(b.read().status, 200);
    EXPECT_EQ(on_io([this] { return server_->open_connections(); }), 2u);

    Client c(port_);
    ASSERT_FALSE(c.connect_error());
    ASSERT_FALSE(c.write(req));
    EXPECT_EQ(c.read().status, 200);                     // served
    EXPECT_EQ(a.read_until_closed(), asio::error::eof);  // a, idle the longest, made room
    ASSERT_FALSE(b.write(req));                          // b still works
    EXPECT_EQ(b.read().status, 200);
}

TEST_F(HttpTest, ConnectionsPerAddressAreLimited) {
    ServerOptions opt;
    opt.max_connections_per_address = 1;
    start(opt);
    auto req = make(bhttp::verb::get, "/healthz", {}, nullptr);
    req.keep_alive(true);
    Client a(port_);
    ASSERT_FALSE(a.write(req));
    ASSERT_EQ(a.read().status, 200);
    Client b(port_);
    ASSERT_FALSE(b.connect_error());
    EXPECT_TRUE(b.read_until_closed());  // dropped at once
    ASSERT_FALSE(a.write(req));
    EXPECT_EQ(a.read().status, 200);
}

TEST_F(HttpTest, KeepAliveEndsAfterMaxRequests) {
    ServerOptions opt;
    opt.max_requests_per_connection = 2;
    start(opt);
    auto req = make(bhttp::verb::get, "/healthz", {}, nullptr);
    req.keep_alive(true);
    Client a(port_);
    ASSERT_FALSE(a.write(req));
    Reply first = a.read();
    EXPECT_TRUE(first.msg.keep_alive());
    ASSERT_FALSE(a.write(req));
    Reply second = a.read();
    EXPECT_EQ(second.status, 200);
    EXPECT_FALSE(second.msg.keep_alive());
    EXPECT_EQ(a.read_until_closed(), asio::error::eof);
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
