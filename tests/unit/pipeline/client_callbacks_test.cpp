// Call-backs to API clients: the documents, the Standard Webhooks signature, and what each
// answer of a receiver leads to (CallbackSender::decide).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "daemon/pipeline/callback_sender.hpp"
#include "daemon/pipeline/client_callbacks.hpp"

namespace json = boost::json;

namespace tinbao::test {
namespace {

// 32 bytes 0x00..0x1f, as a Standard Webhooks secret.
std::string secret_of(int first) {
    std::string key;
    for (int i = 0; i < 32; ++i) key.push_back(static_cast<char>(first + i));
    return "whsec_" + base64_encode(key);
}

Config config_with_client(std::vector<std::string> kinds = {}) {
    Config cfg;
    ApiClient c;
    c.name = "igate";
    c.callbacks = CallbackEndpoint{};
    c.callbacks->url = "http://127.0.0.1:1/hooks";
    c.callbacks->secrets = {secret_of(0)};
    c.callbacks->kinds = std::move(kinds);
    cfg.http.clients.push_back(c);
    ApiClient quiet;
    quiet.name = "quiet";
    cfg.http.clients.push_back(quiet);
    return cfg;
}

MessageRecord sent_sms() {
    MessageRecord r;
    r.id = "m1";
    r.event_id = "ev1";
    r.dossier_code = "D-1";
    r.channel = "sms";
    r.provider = "esms";
    r.to = "84912345678";
    r.state = std::string(state::kSent);
    r.attempts = 1;
    r.segments = 2;
    r.created_at_ms = 1700000000000;
    r.updated_at_ms = 1700000001000;
    return r;
}

TEST(ClientCallbacks, SignatureIsStandardWebhooksHmacOfIdTimestampBody) {
    // Written from the specification: key = base64 after whsec_, HMAC-SHA256 over
    // "<id>.<timestamp>.<body>", base64, "v1," before it; one per secret, space-separated.
    std::string key;
    for (int i = 0; i < 32; ++i) key.push_back(static_cast<char>(i));
    const std::string body = R"({"kind":"message.sent"})";
    std::string expected = "v1," + base64_encode(hmac_sha256(key, "msg_1.1700000000." + body));
    EXPECT_EQ(callbacks::signature_header({secret_of(0)}, "msg_1", 1700000000, body), expected);
    auto two =
        callbacks::signature_header({secret_of(0), secret_of(100)}, "msg_1", 1700000000, body);
    ASSERT_EQ(two.find(' '), expected.size());
    EXPECT_EQ(two.substr(0, expected.size()), expected);
    EXPECT_NE(two.substr(expected.size() + 1), expected);  // the other secret's
}

TEST(ClientCallbacks, MessageDocumentIsMaskedAndGoesToTheClientsThatWantIt) {
    auto cfg = config_with_client();
    auto n = callbacks::message_notice(cfg, sent_sms(), false);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->kind, "message.sent");
    ASSERT_EQ(n->to.size(), 1u);  // the client without callbacks gets none
    EXPECT_EQ(n->to[0].first, "igate");
    EXPECT_EQ(n->to[0].second, callbacks::webhook_id("igate", "message.sent", "m1/5"));
    EXPECT_EQ(n->to[0].second.size(), 36u);
    EXPECT_EQ(n->body.find("912345678"), std::string::npos);
    auto doc = json::parse(n->body).as_object();
    EXPECT_EQ(doc.at("kind").as_string(), "message.sent");
    auto& data = doc;
    EXPECT_EQ(data.at("to").as_string(), "0912***678");
    EXPECT_EQ(data.at("segments").as_int64(), 2);
    EXPECT_EQ(data.at("provider").as_string(), "esms");
    auto delivered = sent_sms();
    delivered.state = std::string(state::kDelivered);
    auto d = callbacks::message_notice(cfg, delivered, true);
    ASSERT_TRUE(d);
    EXPECT_GT(json::parse(d->body).at("sequence").as_int64(), data.at("sequence").as_int64());
    // A queued or superseded message makes none; a client that wants other kinds gets none.
    auto queued = sent_sms();
    queued.state = std::string(state::kQueued);
    EXPECT_FALSE(callbacks::message_notice(cfg, queued, false));
    EXPECT_FALSE(
        callbacks::message_notice(config_with_client({"event.settled"}), sent_sms(), false));
}

TEST(ClientCallbacks, ACommitGetsItsNoticesAndAConditionalEventSettled) {
    auto cfg = config_with_client();
    queue::Commit c;
    c.event_id = "ev1";
    c.dossier_code = "D-1";
    c.status = "result_ready";
    c.messages.push_back(sent_sms());
    callbacks::add_commit_notices(cfg, c);
    ASSERT_EQ(c.notices.size(), 2u);
    EXPECT_EQ(c.notices[1].kind, "event.settled");
    EXPECT_TRUE(c.notices[1].if_settles);
    EXPECT_NE(c.notices[1].body.find(queue::kEventStateMark), std::string::npos);
    // Nothing configured: nothing added (no cost per event).
    queue::Commit bare;
    bare.event_id = "ev1";
    bare.messages.push_back(sent_sms());
    callbacks::add_commit_notices(Config{}, bare);
    EXPECT_TRUE(bare.notices.empty());
}

TEST(CallbackSender, EachAnswerLeadsWhereTheDocsSay) {
    RetrySettings s;
    s.callback_initial_delay = std::chrono::milliseconds(1000);
    s.callback_max_delay = std::chrono::milliseconds(8000);
    s.callback_give_up_after = std::chrono::milliseconds(60000);
    Jitter top = [](int64_t max) { return max; };
    queue::Callback cb;
    cb.id = "msg_x";
    cb.client = "igate";
    cb.created_ms = 1000000;
    cb.attempts = 0;
    const int64_t now = 1000000;
    using Next = queue::CallbackOutcome::Next;
    auto answer = [](int status) {
        HttpResponse r;
        r.status = status;
        return r;
    };
    auto ok = CallbackSender::decide(cb, answer(204), s, now, top);
    EXPECT_EQ(ok.next, Next::done);
    EXPECT_EQ(ok.attempts, 1);
    auto five = CallbackSender::decide(cb, answer(500), s, now, top);
    EXPECT_EQ(five.next, Next::retry);
    EXPECT_EQ(five.due_ms, now + 1000);
    EXPECT_EQ(five.last_error, "http 500");
    cb.attempts = 5;  // doubling stops at callback_max_delay
    EXPECT_EQ(CallbackSender::decide(cb, answer(503), s, now, top).due_ms, now + 8000);
    cb.attempts = 0;
    HttpResponse throttled = answer(429);
    throttled.headers = {{"retry-after", "30"}};
    EXPECT_EQ(CallbackSender::decide(cb, throttled, s, now, top).due_ms, now + 30000);
    HttpResponse timeout;
    timeout.error = HttpResponse::Error::timeout;
    auto t = CallbackSender::decide(cb, timeout, s, now, top);
    EXPECT_EQ(t.next, Next::retry);
    EXPECT_EQ(t.last_error, "timeout");
    EXPECT_EQ(CallbackSender::decide(cb, answer(400), s, now, top).next, Next::dead);
    auto gone = CallbackSender::decide(cb, answer(410), s, now, top);
    EXPECT_EQ(gone.next, Next::dead);
    EXPECT_NE(gone.last_error.find("410"), std::string::npos);
    // Past callback_give_up_after: a dead letter, whatever the answer.
    auto late = CallbackSender::decide(cb, answer(500), s, now + 59500, top);
    EXPECT_EQ(late.next, Next::dead);
    EXPECT_NE(late.last_error.find("gave up after 1 attempt"), std::string::npos);
}

}  // namespace
}  // namespace tinbao::test
