// Tests of what the API refuses and how: requests smuggled past the parser, authentication before
// the body, scopes, a client's own events, rates, version 2 signatures and their nonces, the
// /metrics token, and the public listener's narrow set of paths.
#include "tests/unit/http/http_fixture.hpp"

#include "common/encoding.hpp"
#include "daemon/http/auth.hpp"

namespace tinbao::http {
namespace {

using namespace fixture;

const char* kReaderToken = "tok-reader-0123456789";
const char* kOwnToken = "tok-own-0123456789ab";
const char* kLimitedToken = "tok-limited-01234567";
const char* kV2Token = "tok-v2-0123456789abcd";
const char* kMetricsToken = "metrics-token-0123456789";

class SecurityTest : public HttpTest {
  protected:
    void SetUp() override {
        backend_.edit([](Config& c) {
            auto reader = api_client("reader", kReaderToken);
            reader.scopes = {scope::events_read};
            auto own = api_client("own", kOwnToken);
            own.scopes = {scope::events_write, scope::events_read};
            auto limited = api_client("limited", kLimitedToken);
            limited.rate_per_second = 0.01;  // one token a 100 s: the bucket does not refill here
            limited.burst = 2;
            auto v2 = api_client("v2", kV2Token, kSecret);
            v2.signature_version = 2;
            for (auto* cl : {&reader, &own, &limited, &v2}) c.http.clients.push_back(*cl);
        });
    }
    bhttp::request<bhttp::string_body> signed_v2(bhttp::verb method, const std::string& target,
                                                 const std::string& body, const std::string& nonce,
                                                 const std::string& signed_target = {}) {
        auto req = make(method, target, body, kV2Token);
        const std::string ts = now_seconds();
        req.set("X-Tinbao-Timestamp", ts);
        req.set("X-Tinbao-Nonce", nonce);
        std::string text =
            signing_text_v2(std::string(req.method_string()),
                            signed_target.empty() ? target : signed_target, ts, nonce, body);
        req.set("X-Tinbao-Signature", "v2=" + hmac_sha256_hex(kSecret, text));
        return req;
    }
};

bool looked_up(const FakeBackend& b, const std::string& key) {
    auto l = b.lookups();
    return std::find(l.begin(), l.end(), key) != l.end();
}

// A transfer coding other than chunked left the body in the connection, where it was read as
// the next request: the smuggled GET ran.
TEST_F(SecurityTest, TransferEncodingOtherThanChunkedIsRefusedAndNothingIsSmuggled) {
    start();
    for (const char* te : {"gzip", "identity", "xchunked"}) {
        Client c(port_);
        std::string smuggled = std::string("GET /v1/events/smuggled HTTP/1.1\r\nHost: x\r\n") +
                               "Authorization: Bearer " + kToken + "\r\n\r\n";
        ASSERT_FALSE(c.write_raw(std::string("POST /v1/events HTTP/1.1\r\nHost: x\r\n") +
                                 "Authorization: Bearer " + kToken + "\r\n" +
                                 "Transfer-Encoding: " + te + "\r\n\r\n" + smuggled));
        Reply r = c.read();
        EXPECT_EQ(r.status, 400) << te;
        EXPECT_EQ(c.read_until_closed(), asio::error::eof) << te;
    }
    Client c(port_);
    ASSERT_FALSE(c.write_raw(std::string("POST /v1/events HTTP/1.1\r\nHost: x\r\n") +
                             "Authorization: Bearer " + kToken + "\r\n" +
                             "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"));
    EXPECT_EQ(c.read().status, 501);
    EXPECT_FALSE(looked_up(backend_, "event:smuggled"));
    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(SecurityTest, ObsoleteLineFoldingIs400) {
    start();
    Client c(port_);
    ASSERT_FALSE(c.write_raw(std::string("GET /v1/events/x HTTP/1.1\r\nHost: x\r\n") +
                             "Authorization: Bearer\r\n " + kToken + "\r\n\r\n"));
    Reply r = c.read();
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);
    EXPECT_FALSE(looked_up(backend_, "event:x"));
}

// Nobody's body is read before their token is checked: the 401 comes on the header alone.
TEST_F(SecurityTest, UnauthenticatedIs401BeforeTheBody) {
    start();
    Client c(port_);
    ASSERT_FALSE(
        c.write_raw("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: 900\r\n\r\n"));
    Reply r = c.read();
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.error_code(), "unauthorized");
    EXPECT_EQ(c.read_until_closed(), asio::error::eof);
}

TEST_F(SecurityTest, MissingScopeIs403NamingIt) {
    start();
    Reply dead = get("/v1/dead-letters", kReaderToken);
    EXPECT_EQ(dead.status, 403);
    EXPECT_EQ(dead.error_code(), "insufficient_scope");
    EXPECT_EQ(dead.json().at("error").at("scope"), "admin");
    Reply post = post_event(good_event("reader-1"), kReaderToken);
    EXPECT_EQ(post.status, 403);
    EXPECT_EQ(post.json().at("error").at("scope"), "events:write");
    backend_.put("dead:m1", json::object{});
    Reply discard = send(
        make(bhttp::verb::post, "/v1/dead-letters/discard", R"({"ids": ["m1"]})", kReaderToken));
    EXPECT_EQ(discard.status, 403);
    EXPECT_EQ(discard.json().at("error").at("scope"), "admin");
    EXPECT_EQ(backend_.discarded_by(), "");  // refused before the backend is asked
    Reply render = send(make(bhttp::verb::post, "/v1/render", good_event(), kOwnToken));
    EXPECT_EQ(render.json().at("error").at("scope"), "admin");
    EXPECT_TRUE(backend_.ingested().empty());
    // A client configured without scopes has them all, as before scopes existed.
    EXPECT_NE(get("/v1/dead-letters", kToken).status, 403);
}

TEST_F(SecurityTest, ClientReadsOnlyItsOwnEventsUnlessGrantedAll) {
    start();
    ASSERT_EQ(post_event(good_event("own-1"), kOwnToken).status, 202);
    backend_.put("event:own-1", json::object{{"event_id", "own-1"}});
    backend_.put("event:theirs", json::object{{"event_id", "theirs"}});
    backend_.put("message:m-own", json::object{{"id", "m-own"}, {"event_id", "own-1"}});
    backend_.put("message:m-theirs", json::object{{"id", "m-theirs"}, {"event_id", "theirs"}});
    backend_.put(
        "dossier:D1",
        json::object{
            {"messages", json::array{json::object{{"id", "m-own"}, {"event_id", "own-1"}},
                                     json::object{{"id", "m-theirs"}, {"event_id", "theirs"}}}}});

    EXPECT_EQ(get("/v1/events/own-1", kOwnToken).status, 200);
    EXPECT_EQ(get("/v1/events/theirs", kOwnToken).status, 404);
    EXPECT_EQ(get("/v1/messages/m-own", kOwnToken).status, 200);
    EXPECT_EQ(get("/v1/messages/m-theirs", kOwnToken).status, 404);
    Reply history = get("/v1/dossiers/D1/messages", kOwnToken);
    ASSERT_EQ(history.status, 200);
    EXPECT_EQ(history.json().at("messages").as_array().size(), 1u);
    // events:read:all (the default) sees everyone's.
    EXPECT_EQ(get("/v1/events/theirs", kToken).status, 200);
    EXPECT_EQ(get("/v1/dossiers/D1/messages", kToken).json().at("messages").as_array().size(), 2u);
}

TEST_F(SecurityTest, FloodFromOneClientIs429WhileAnotherIsServed) {
    start();
    EXPECT_EQ(get("/v1/events/a", kLimitedToken).status, 404);
    EXPECT_EQ(get("/v1/events/a", kLimitedToken).status, 404);
    Reply limited = get("/v1/events/a", kLimitedToken);
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(limited.error_code(), "rate_limited");
    EXPECT_GE(std::stoi(std::string(limited.msg["Retry-After"])), 1);
    EXPECT_EQ(get("/v1/events/a", kToken).status, 404);  // the other client is served
}

TEST_F(SecurityTest, SignatureV2CoversTheRequestAndRefusesAReplayedNonce) {
    start();
    const std::string body = good_event("v2-1");
    Reply ok = send(signed_v2(bhttp::verb::post, "/v1/events", body, "nonce-0000000000000001"));
    EXPECT_EQ(ok.status, 202) << ok.body;
    Reply replay = send(signed_v2(bhttp::verb::post, "/v1/events", body, "nonce-0000000000000001"));
    EXPECT_EQ(replay.status, 401);
    EXPECT_EQ(replay.error_code(), "replayed");
    // Signed for one path, sent to another: the path is covered.
    Reply moved = send(signed_v2(bhttp::verb::get, "/v1/events/other", {}, "nonce-0000000000000002",
                                 "/v1/events/v2-1"));
    EXPECT_EQ(moved.error_code(), "invalid_signature");
    Reply query = send(signed_v2(bhttp::verb::get, "/v1/events/v2-1?x=1", {},
                                 "nonce-0000000000000003", "/v1/events/v2-1"));
    EXPECT_EQ(query.error_code(), "invalid_signature");
    // Version 1 is refused for a client configured for version 2.
    auto v1 = make(bhttp::verb::post, "/v1/events", body, kV2Token);
    const std::string ts = now_seconds();
    v1.set("X-Tinbao-Timestamp", ts);
    v1.set("X-Tinbao-Signature", "sha256=" + hmac_sha256_hex(kSecret, ts + "." + body));
    EXPECT_EQ(send(v1).error_code(), "invalid_signature");
    auto no_nonce = signed_v2(bhttp::verb::post, "/v1/events", body, "nonce-0000000000000004");
    no_nonce.erase("X-Tinbao-Nonce");
    EXPECT_EQ(send(no_nonce).error_code(), "invalid_signature");
    EXPECT_EQ(backend_.ingested().size(), 1u);
}

TEST_F(SecurityTest, SignatureV2AcceptedFromAVersion1Client) {
    start();
    const std::string body = good_event("v1-client-v2");
    auto req = make(bhttp::verb::post, "/v1/events", body, kSignedToken);
    const std::string ts = now_seconds();
    req.set("X-Tinbao-Timestamp", ts);
    req.set("X-Tinbao-Nonce", "abcdefghijklmnop");
    req.set("X-Tinbao-Signature",
            "v2=" + hmac_sha256_hex(kSecret, signing_text_v2("POST", "/v1/events", ts,
                                                             "abcdefghijklmnop", body)));
    EXPECT_EQ(send(req).status, 202);
}

TEST_F(SecurityTest, MetricsCanRequireAToken) {
    backend_.edit([](Config& c) { c.http.metrics_token = kMetricsToken; });
    start();
    EXPECT_EQ(get("/metrics", nullptr).status, 401);
    EXPECT_EQ(get("/metrics", kToken).status, 401);
    EXPECT_EQ(get("/metrics", kMetricsToken).status, 200);
    EXPECT_EQ(get("/healthz", nullptr).status, 200);
}

TEST_F(SecurityTest, PublicListenerServesOnlyCallbacksAndHealth) {
    start({}, Listener::public_);
    EXPECT_EQ(get("/healthz", nullptr).status, 200);
    EXPECT_EQ(get("/v1/events/x", kToken).status, 404);
    EXPECT_EQ(post_event(good_event(), kToken).status, 404);
    EXPECT_EQ(get("/metrics", nullptr).status, 404);
    EXPECT_EQ(get("/readyz", nullptr).status, 404);
    Reply cb = get("/v1/callbacks/esms", nullptr);
    EXPECT_EQ(cb.status, 404);
    EXPECT_EQ(cb.error_code(), "not_found");
    EXPECT_TRUE(backend_.ingested().empty());
}

TEST_F(SecurityTest, ClientCertificatePinnedForAClient) {
    backend_.edit([](Config& c) { c.http.clients[0].client_cert_sha256 = {std::string(64, 'a')}; });
    start();
    // Plain HTTP has no certificate: the token alone is not enough for this client.
    Reply r = get("/v1/events/x", kToken);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.error_code(), "client_certificate_required");
}

}  // namespace
}  // namespace tinbao::http
