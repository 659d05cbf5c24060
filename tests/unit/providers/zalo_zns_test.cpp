// The zalo_zns adapter through the daemon's HttpPool against tests/fakes/fake_zalo.py on loopback,
// with its tokens in a FileStateStore.
#include "providers/zalo_zns/zalo_zns.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <future>
#include <limits>
#include <map>
#include <optional>

#include "common/time.hpp"
#include "daemon/io/http_pool.hpp"
#include "providers/reasons.hpp"
#include "providers/state/file_store.hpp"
#include "providers/zalo_zns/zalo_internal.hpp"
#include "tests/unit/providers/test_support.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tinbao;
using tinbao::test::ChildProcess;
using tinbao::test::run_until_done;
using tinbao::test::ScratchDir;
using tinbao::test::YamlView;

namespace {

constexpr const char* kTokensKey = "zalo:zalo:tokens";

// Unix ms of a UTC civil time.
int64_t utc_ms(int y, int mo, int d, int h, int mi) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return static_cast<int64_t>(timegm(&tm)) * 1000;
}

OutboundMessage zalo(std::string id) {
    OutboundMessage m;
    m.id = std::move(id);
    m.event_id = "evt-1";
    m.dossier_code = "000.00.01.H62-250101-0001";
    m.channel = Channel::zalo;
    m.to = "84912345678";
    m.template_id = "301234";
    m.params = {{"customer_name", "Nguyễn Thị Tuyết"},
                {"dossier_code", "000.00.01.H62-250101-0001"}};
    return m;
}

ProviderSettings zalo_settings() {
    return test::provider_settings("zalo", "zalo_zns", Channel::zalo);
}

// A store whose writes can be made to fail, to see what the adapter does without durability.
class FlakyStore final : public StateStore {
  public:
    explicit FlakyStore(StateStore& inner) : inner_(inner) {}
    bool fail_puts = false;
    asio::awaitable<StoreRead> get(std::string key) override { return inner_.get(key); }
    asio::awaitable<bool> put(std::string key, std::string value) override {
        if (fail_puts) co_return false;
        bool stored = co_await inner_.put(key, value);
        co_return stored;
    }
    asio::awaitable<bool> try_lock(std::string key, std::chrono::milliseconds ttl) override {
        return inner_.try_lock(key, ttl);
    }
    asio::awaitable<void> unlock(std::string key) override { return inner_.unlock(key); }

  private:
    StateStore& inner_;
};

class ZaloTest : public ::testing::Test {
  protected:
    void SetUp() override { start_fake("RT-initial"); }
    void TearDown() override { fake_.reset(); }

    void start_fake(const std::string& refresh_token) {
        fake_.emplace(std::vector<std::string>{
            "python3", std::string(TINBAO_SOURCE_DIR) + "/tests/fakes/fake_zalo.py", "--app-id",
            "the-app", "--secret-key", "the-app-secret", "--refresh-token", refresh_token});
        std::string line = fake_->read_line(std::chrono::seconds(15));
        ASSERT_TRUE(line.starts_with("PORT ")) << "fake_zalo did not start: '" << line << "'";
        base_url_ = "http://127.0.0.1:" + line.substr(5);
    }

    std::unique_ptr<Provider> make(const std::string& extra_yaml = "",
                                   StateStore* state = nullptr) {
        YamlView cfg("base_url: " + base_url_ + "\noauth_url: " + base_url_ +
                     "/\napp_id: the-app\nsecret_key: the-app-secret\n"
                     "refresh_token: RT-initial\nwebhook_secret: the-oa-secret\n" +
                     extra_yaml);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        ctx.http = &http_;
        ctx.state_dir = dir_.path().string();
        ctx.state = state ? state : store_.get();
        auto p = make_zalo_zns_factory()->create(zalo_settings(), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }

    SendResult send(Provider& p, const OutboundMessage& m) {
        return run_until_done(ioc_, p.send(m));
    }

    HttpResponse call(std::string method, std::string target, std::string body = {}) {
        HttpRequest r;
        r.method = std::move(method);
        r.url = base_url_ + target;
        r.body = std::move(body);
        r.headers = {{"Content-Type", "application/json"}};
        return run_until_done(ioc_, http_.perform(std::move(r)));
    }

    void control(const std::string& body) {
        HttpResponse r = call("POST", "/_control", body);
        ASSERT_EQ(r.status, 200) << r.error_text << r.body;
    }

    // Recorded API requests to `path` ("" for all).
    std::vector<json::object> requests(std::string_view path = "") {
        HttpResponse r = call("GET", "/_requests");
        EXPECT_EQ(r.status, 200) << r.error_text;
        std::vector<json::object> out;
        json::value all = json::parse(r.body);
        for (auto& v : all.as_array())
            if (path.empty() || v.at("path").as_string() == path) out.push_back(v.as_object());
        return out;
    }

    std::optional<json::object> stored_tokens(FileStateStore& store) {
        StoreRead r = store.get_now(kTokensKey);
        if (!r.ok || !r.value) return std::nullopt;
        return json::parse(*r.value).as_object();
    }

    asio::io_context ioc_;
    HttpPool http_{ioc_.get_executor()};
    ScratchDir dir_;
    std::string store_path_ = (dir_.path() / "state.json").string();
    std::unique_ptr<FileStateStore> store_ = std::make_unique<FileStateStore>(store_path_);
    std::optional<ChildProcess> fake_;
    std::string base_url_;
};

TEST_F(ZaloTest, FirstSendRefreshesThenSendsTheDocumentedRequest) {
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, zalo("msg-0001"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(r.provider_message_id.size(), 20u) << r.provider_message_id;

    auto oauth = requests("/v4/oa/access_token");
    ASSERT_EQ(oauth.size(), 1u);
    EXPECT_EQ(oauth[0].at("secret_key"), "the-app-secret");
    EXPECT_NE(std::string(oauth[0].at("content_type").as_string())
                  .find("application/x-www-form-urlencoded"),
              std::string::npos);
    json::object form{
        {"app_id", "the-app"}, {"grant_type", "refresh_token"}, {"refresh_token", "RT-initial"}};
    EXPECT_EQ(oauth[0].at("body").as_object(), form);

    auto stored = stored_tokens(*store_);
    ASSERT_TRUE(stored);
    std::string access(stored->at("access_token").as_string());
    EXPECT_TRUE(access.starts_with("AT-"));
    EXPECT_NE(stored->at("refresh_token"), "RT-initial");
    int64_t expires = stored->at("expires_at_ms").as_int64();
    EXPECT_NEAR(static_cast<double>(expires - now_ms()), 90000.0 * 1000, 60000.0);

    auto sends = requests("/message/template");
    ASSERT_EQ(sends.size(), 1u);
    EXPECT_EQ(sends[0].at("access_token"), access.c_str());
    EXPECT_TRUE(sends[0].at("secret_key").is_null());  // the app secret stays on OAuth
    json::object expected{
        {"phone", "84912345678"},
        {"template_id", "301234"},
        {"template_data", json::object{{"customer_name", "Nguyễn Thị Tuyết"},
                                       {"dossier_code", "000.00.01.H62-250101-0001"}}},
        {"tracking_id", "msg-0001"}};
    EXPECT_EQ(sends[0].at("body").as_object(), expected) << json::serialize(sends[0]);
    EXPECT_TRUE(p->problem().empty());

    // The token is reused while it is valid.
    ASSERT_TRUE(send(*p, zalo("msg-0002")).ok);
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);
}

// The token's expiry and the OA's daily quota reach /metrics through the provider's gauges:
// nothing before the first send, then what the token refresh and each reply said.
TEST_F(ZaloTest, GaugesReportTokenExpiryAndQuota) {
    control(R"({"daily_quota": 2000})");
    auto p = make();
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->gauges().empty());
    ASSERT_TRUE(send(*p, zalo("msg-0001")).ok);
    ASSERT_TRUE(send(*p, zalo("msg-0002")).ok);
    std::map<std::string, double> g;
    for (auto& x : p->gauges()) g[x.name] = x.value;
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(g["quota_daily"], 2000);
    EXPECT_EQ(g["quota_remaining"], 1998);
    auto stored = stored_tokens(*store_);
    ASSERT_TRUE(stored);
    EXPECT_DOUBLE_EQ(g["token_expiry_timestamp_seconds"],
                     static_cast<double>(stored->at("expires_at_ms").as_int64()) / 1000.0);
    // The OA's daily quota spent (-144): none left until Zalo says otherwise.
    control(R"({"fail_next": 1, "code": -144})");
    EXPECT_FALSE(send(*p, zalo("msg-0003")).ok);
    for (auto& x : p->gauges()) {
        if (x.name == "quota_remaining") {
            EXPECT_EQ(x.value, 0);
        }
    }
}

TEST_F(ZaloTest, AHugeExpiresInSaturatesInsteadOfOverflowing) {
    // expires_in * 1000 fits in int64_t; adding now does not. Wrapped around, the token would be
    // taken as expired and refreshed on every send.
    control(R"({"expires_in": 9223372036854775})");
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, zalo("msg-0001")).ok);
    auto stored = stored_tokens(*store_);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->at("expires_at_ms").as_int64(), std::numeric_limits<int64_t>::max());
    ASSERT_TRUE(send(*p, zalo("msg-0002")).ok);
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);
}

TEST_F(ZaloTest, DevelopmentModeAndPlusPhone) {
    auto p = make("development_mode: true\n");
    ASSERT_TRUE(p);
    OutboundMessage m = zalo("msg-dev");
    m.to = "+84912345678";
    ASSERT_TRUE(send(*p, m).ok);
    auto sends = requests("/message/template");
    ASSERT_EQ(sends.size(), 1u);
    EXPECT_EQ(sends[0].at("body").at("mode"), "development");
    EXPECT_EQ(sends[0].at("body").at("phone"), "84912345678");
}

TEST_F(ZaloTest, RotatedRefreshTokenSurvivesARestart) {
    {
        auto first = make();
        ASSERT_TRUE(first);
        ASSERT_TRUE(send(*first, zalo("msg-a")).ok);
    }
    auto stored = stored_tokens(*store_);
    ASSERT_TRUE(stored);
    std::string rotated(stored->at("refresh_token").as_string());

    // A new process: a new store over the same file, the same config (RT-initial, now spent).
    store_ = std::make_unique<FileStateStore>(store_path_);
    control(R"({"expire_access_tokens": true})");
    auto second = make();
    ASSERT_TRUE(second);
    SendResult r = send(*second, zalo("msg-b"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;

    auto oauth = requests("/v4/oa/access_token");
    ASSERT_EQ(oauth.size(), 2u);
    EXPECT_EQ(oauth[1].at("body").at("refresh_token"), rotated.c_str());
    auto now_stored = stored_tokens(*store_);
    ASSERT_TRUE(now_stored);
    EXPECT_NE(now_stored->at("refresh_token"), rotated.c_str());
}

TEST_F(ZaloTest, ReusingASpentRefreshTokenIsRejectedByTheFake) {
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, zalo("msg-a")).ok);
    // A daemon that forgot the rotation would send RT-initial again.
    HttpRequest req;
    req.url = base_url_ + "/v4/oa/access_token";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"secret_key", "the-app-secret"}};
    req.body = "app_id=the-app&grant_type=refresh_token&refresh_token=RT-initial";
    HttpResponse r = run_until_done(ioc_, http_.perform(req));
    EXPECT_EQ(json::parse(r.body).at("error"), -14014) << r.body;
}

TEST_F(ZaloTest, NewTokensAreStoredBeforeTheyAreUsed) {
    FlakyStore flaky(*store_);
    flaky.fail_puts = true;
    auto p = make("", &flaky);
    ASSERT_TRUE(p);
    SendResult r = send(*p, zalo("msg-1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_EQ(requests("/message/template").size(), 0u);  // the unstored token was not used
    EXPECT_FALSE(p->problem().empty());
    EXPECT_EQ(p->problem().find("AT-"), std::string::npos) << p->problem();
    EXPECT_EQ(p->problem().find("RT-"), std::string::npos) << p->problem();

    // Once the store works, the pair kept in memory is stored and used: no second refresh
    // (RT-initial is spent, so asking OAuth again would fail).
    flaky.fail_puts = false;
    SendResult again = send(*p, zalo("msg-1"));
    ASSERT_TRUE(again.ok) << again.reason << " " << again.detail;
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);
    auto stored = stored_tokens(*store_);
    ASSERT_TRUE(stored);
    EXPECT_EQ(requests("/message/template")[0].at("access_token"), stored->at("access_token"));
    EXPECT_TRUE(p->problem().empty());
}

TEST_F(ZaloTest, ConcurrentSendsWithAnExpiredTokenRefreshOnce) {
    json::object stale{{"access_token", "AT-stale"},
                       {"refresh_token", "RT-initial"},
                       {"expires_at_ms", now_ms() - 1000}};
    ASSERT_TRUE(store_->put_now(kTokensKey, json::serialize(stale)));
    auto p = make();
    ASSERT_TRUE(p);
    std::vector<OutboundMessage> messages;  // send() holds a reference until it completes
    for (int i = 0; i < 10; ++i) messages.push_back(zalo("msg-c" + std::to_string(i)));
    std::vector<std::future<SendResult>> results;
    for (const auto& m : messages)
        results.push_back(asio::co_spawn(ioc_, p->send(m), asio::use_future));
    ioc_.restart();
    for (auto& f : results) {
        while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
            if (ioc_.run_one() == 0) ioc_.restart();
    }
    for (auto& f : results) {
        SendResult r = f.get();
        EXPECT_TRUE(r.ok) << r.reason << " " << r.detail;
    }
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);
    auto sends = requests("/message/template");
    ASSERT_EQ(sends.size(), 10u);
    for (auto& s : sends) EXPECT_EQ(s.at("access_token"), sends[0].at("access_token"));
    EXPECT_NE(sends[0].at("access_token"), "AT-stale");
}

TEST_F(ZaloTest, APairRotatedByAnotherInstanceIsTakenFromTheStore) {
    auto a = make();
    ASSERT_TRUE(a);
    ASSERT_TRUE(send(*a, zalo("msg-a1")).ok);
    // Another tinbaod (its own store object over the same file) rotates the pair.
    control(R"({"expire_access_tokens": true})");
    FileStateStore other_store(store_path_);
    auto b = make("", &other_store);
    ASSERT_TRUE(b);
    ASSERT_TRUE(send(*b, zalo("msg-b1")).ok);
    ASSERT_EQ(requests("/v4/oa/access_token").size(), 2u);

    // `a` holds a refused token and a spent refresh token: it must take b's pair.
    SendResult r = send(*a, zalo("msg-a2"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 2u);
    auto sends = requests("/message/template");
    EXPECT_EQ(sends.back().at("access_token"), sends[sends.size() - 3].at("access_token"));
}

TEST_F(ZaloTest, WhileAnotherInstanceRefreshesNoSecondRefreshIsMade) {
    json::object stale{{"access_token", "AT-stale"},
                       {"refresh_token", "RT-initial"},
                       {"expires_at_ms", now_ms() - 1000}};
    ASSERT_TRUE(store_->put_now(kTokensKey, json::serialize(stale)));
    FileStateStore other(store_path_);
    ASSERT_TRUE(other.try_lock_now("zalo:zalo:refresh", std::chrono::seconds(30)));
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, zalo("msg-1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_TRUE(requests().empty());
}

TEST_F(ZaloTest, RefusedAccessTokenRefreshesAndResendsOnce) {
    auto p = make();
    ASSERT_TRUE(p);
    ASSERT_TRUE(send(*p, zalo("msg-1")).ok);
    control(R"({"expire_access_tokens": true})");
    SendResult r = send(*p, zalo("msg-2"));
    ASSERT_TRUE(r.ok) << r.reason << " " << r.detail;
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 2u);
    auto sends = requests("/message/template");
    ASSERT_EQ(sends.size(), 3u);
    EXPECT_EQ(sends[1].at("body").at("tracking_id"), "msg-2");
    EXPECT_EQ(sends[2].at("body").at("tracking_id"), "msg-2");
    EXPECT_NE(sends[1].at("access_token"), sends[2].at("access_token"));

    for (int code : {-216, -220}) {
        control(R"({"fail_next": 1, "code": )" + std::to_string(code) + "}");
        SendResult again = send(*p, zalo("msg-x"));
        EXPECT_TRUE(again.ok) << code << " " << again.detail;
    }
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 4u);

    // Refused twice: no loop, one resend only, then a retryable failure for the pipeline.
    control(R"({"fail_next": 2, "code": -124})");
    std::size_t before = requests("/message/template").size();
    SendResult twice = send(*p, zalo("msg-3"));
    EXPECT_FALSE(twice.ok);
    EXPECT_EQ(twice.failure, FailureClass::retryable);
    EXPECT_EQ(twice.reason, reason::kAuthFailed);
    EXPECT_EQ(requests("/message/template").size(), before + 2);
}

TEST_F(ZaloTest, FailedRefreshIsRetryableAndReported) {
    fake_.reset();
    start_fake("RT-someone-else");  // the configured RT-initial is unknown to Zalo
    auto p = make();
    ASSERT_TRUE(p);
    SendResult r = send(*p, zalo("msg-1"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::retryable);
    EXPECT_EQ(r.reason, reason::kAuthFailed);
    EXPECT_NE(r.detail.find("-14014"), std::string::npos) << r.detail;
    EXPECT_NE(p->problem().find("-14014"), std::string::npos) << p->problem();
    EXPECT_EQ(p->problem().find("RT-initial"), std::string::npos);
    EXPECT_EQ(r.detail.find("RT-initial"), std::string::npos);
    EXPECT_EQ(requests("/message/template").size(), 0u);
    // A failure streak does not hammer OAuth.
    EXPECT_EQ(send(*p, zalo("msg-2")).reason, reason::kAuthFailed);
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);
}

TEST_F(ZaloTest, ErrorCodesAreClassified) {
    struct Case {
        int code;
        FailureClass cls;
        std::string_view reason;
    };
    const Case cases[] = {
        {-108, FailureClass::permanent, reason::kInvalidPhone},
        {-110, FailureClass::permanent, reason::kNoContact},
        {-114, FailureClass::permanent, reason::kNoContact},
        {-118, FailureClass::permanent, reason::kNoContact},
        {-119, FailureClass::permanent, reason::kNoContact},
        {-139, FailureClass::permanent, reason::kBlocked},
        {-141, FailureClass::permanent, reason::kBlocked},
        {-109, FailureClass::permanent, reason::kConfigError},
        {-104, FailureClass::permanent, reason::kConfigError},
        {-1121, FailureClass::permanent, reason::kRejectedContent},
        {-115, FailureClass::permanent, reason::kQuotaExceeded},
        {-100, FailureClass::retryable, reason::kProviderError},
        {-999, FailureClass::retryable, reason::kProviderError},
    };
    auto p = make();
    ASSERT_TRUE(p);
    for (const auto& c : cases) {
        control(R"({"fail_next": 1, "code": )" + std::to_string(c.code) + "}");
        SendResult r = send(*p, zalo("msg-code"));
        EXPECT_FALSE(r.ok) << c.code;
        EXPECT_EQ(r.failure, c.cls) << c.code;
        EXPECT_EQ(r.reason, c.reason) << c.code;
        EXPECT_TRUE(r.detail.starts_with("Zalo error " + std::to_string(c.code))) << r.detail;
        EXPECT_FALSE(r.not_before_ms.has_value()) << c.code;
        EXPECT_NE(r.raw_response.find(std::to_string(c.code)), std::string::npos);
    }
    control(R"({"fail_next": 1, "code": "http500"})");
    SendResult busy = send(*p, zalo("msg-500"));
    EXPECT_EQ(busy.failure, FailureClass::retryable);
    EXPECT_EQ(busy.reason, reason::kProviderUnavailable);
    EXPECT_EQ(requests("/v4/oa/access_token").size(), 1u);  // none of these refreshed
}

TEST_F(ZaloTest, NightAndDailyLimitsRescheduleToSixInTheMorning) {
    auto p = make();
    ASSERT_TRUE(p);
    control(R"({"fail_next": 1, "code": -133})");
    int64_t before = now_ms();
    SendResult night = send(*p, zalo("msg-night"));
    int64_t after = now_ms();
    EXPECT_EQ(night.failure, FailureClass::retryable);
    ASSERT_TRUE(night.not_before_ms.has_value());
    EXPECT_TRUE(*night.not_before_ms == zalo_next_morning_ms(before) ||
                *night.not_before_ms == zalo_next_morning_ms(after));
    // 06:00 at +07:00 is 23:00 UTC.
    EXPECT_EQ((*night.not_before_ms / 1000) % 86400, 23 * 3600);
    EXPECT_GT(*night.not_before_ms, before);
    EXPECT_LE(*night.not_before_ms - before, int64_t{24} * 3600 * 1000);

    for (int code : {-144, -147}) {
        control(R"({"fail_next": 1, "code": )" + std::to_string(code) + "}");
        int64_t b = now_ms();
        SendResult quota = send(*p, zalo("msg-quota"));
        int64_t a = now_ms();
        EXPECT_EQ(quota.failure, FailureClass::retryable) << code;
        EXPECT_EQ(quota.reason, reason::kQuotaExceeded) << code;
        ASSERT_TRUE(quota.not_before_ms.has_value()) << code;
        EXPECT_TRUE(*quota.not_before_ms == zalo_next_day_morning_ms(b) ||
                    *quota.not_before_ms == zalo_next_day_morning_ms(a));
    }
}

TEST(ZaloTime, NextMorningInHoChiMinhTime) {
    // 22:00 local on the 27th -> 06:00 local on the 28th (23:00 UTC on the 27th).
    EXPECT_EQ(zalo_next_morning_ms(utc_ms(2026, 11, 27, 15, 0)), utc_ms(2026, 11, 27, 23, 0));
    // 03:00 local on the 28th -> the same morning.
    EXPECT_EQ(zalo_next_morning_ms(utc_ms(2026, 11, 27, 20, 0)), utc_ms(2026, 11, 27, 23, 0));
    // 05:59 local -> one minute later.
    EXPECT_EQ(zalo_next_morning_ms(utc_ms(2026, 11, 27, 22, 59)), utc_ms(2026, 11, 27, 23, 0));
    // Exactly 06:00 local -> the next day's.
    EXPECT_EQ(zalo_next_morning_ms(utc_ms(2026, 11, 27, 23, 0)), utc_ms(2026, 11, 28, 23, 0));
    // 23:30 UTC on Dec 31 is 06:30 local on Jan 1.
    EXPECT_EQ(zalo_next_morning_ms(utc_ms(2026, 12, 31, 23, 30)), utc_ms(2027, 1, 1, 23, 0));
}

TEST(ZaloTime, NextDayMorningFollowsTheLocalDate) {
    // 10:00 local on the 27th -> 06:00 local on the 28th.
    EXPECT_EQ(zalo_next_day_morning_ms(utc_ms(2026, 11, 27, 3, 0)), utc_ms(2026, 11, 27, 23, 0));
    // 03:00 local on the 28th (still the 27th in UTC) -> 06:00 local on the 29th.
    EXPECT_EQ(zalo_next_day_morning_ms(utc_ms(2026, 11, 27, 20, 0)), utc_ms(2026, 11, 28, 23, 0));
}

TEST_F(ZaloTest, TooLongParameterIsRejectedBeforeSending) {
    auto p = make("param_limits: { dossier_code: 30 }\n");
    ASSERT_TRUE(p);
    OutboundMessage m = zalo("msg-long");
    m.params[1].second = std::string(31, '9');
    SendResult r = send(*p, m);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kRejectedContent);
    EXPECT_NE(r.detail.find("dossier_code"), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("30"), std::string::npos) << r.detail;
    EXPECT_TRUE(requests().empty());

    // Characters, not bytes: 30 Vietnamese letters (60 bytes) fit a 30 limit.
    std::string thirty;
    for (int i = 0; i < 30; ++i) thirty += "ễ";
    m.params[1].second = thirty;
    EXPECT_TRUE(send(*p, m).ok);
    // Parameters without their own limit get the default (200).
    m.params[0].second = std::string(201, 'a');
    SendResult d = send(*p, m);
    EXPECT_EQ(d.reason, reason::kRejectedContent);
    EXPECT_NE(d.detail.find("customer_name"), std::string::npos) << d.detail;
}

TEST_F(ZaloTest, NonPhoneRecipientIsNoContact) {
    auto p = make();
    ASSERT_TRUE(p);
    OutboundMessage m = zalo("msg-uid");
    m.to = "5843201911437462013";
    SendResult r = send(*p, m);
    EXPECT_EQ(r.failure, FailureClass::permanent);
    EXPECT_EQ(r.reason, reason::kNoContact);
    EXPECT_TRUE(requests().empty());
}

// The webhook needs no fake.

std::string sha256_hex(const std::string& s) {
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
    char out[2 * SHA256_DIGEST_LENGTH + 1];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
    return out;
}

// A delivery webhook as Zalo documents it, sent at `timestamp` (Unix ms).
std::string webhook_body(int64_t timestamp) {
    return R"({"sender":{"id":"579745863508352884"},"recipient":{"id":"84912345678"},)"
           R"("event_name":"user_received_message","message":{"delivery_time":"1602960467432",)"
           R"("msg_id":"15a0cc0bbb13bd4ce403","tracking_id":"msg-0001"},"app_id":"the-app",)"
           R"("timestamp":")" +
           std::to_string(timestamp) + R"("})";
}

class ZaloWebhook : public ::testing::Test {
  protected:
    std::unique_ptr<Provider> make(const std::string& extra = "webhook_secret: the-oa-secret\n") {
        YamlView cfg("app_id: the-app\nsecret_key: s\nrefresh_token: r\n" + extra);
        ProviderContext ctx;
        ctx.executor = ioc_.get_executor();
        auto p = make_zalo_zns_factory()->create(zalo_settings(), cfg.view, ctx);
        EXPECT_TRUE(p) << cfg.all();
        return p;
    }
    static CallbackRequest post(std::string body, std::string signature) {
        CallbackRequest r;
        r.method = "POST";
        r.body = std::move(body);
        r.headers = {{"content-type", "application/json"}, {"x-zevent-server", "ZNS"}};
        if (!signature.empty()) r.headers.emplace_back("x-zevent-signature", signature);
        return r;
    }
    std::string sign(const std::string& body, const std::string& id = "the-app") const {
        return sign_at(body, now_, id);
    }
    static std::string sign_at(const std::string& body, int64_t timestamp,
                               const std::string& id = "the-app") {
        return "mac=" + sha256_hex(id + body + std::to_string(timestamp) + "the-oa-secret");
    }
    asio::io_context ioc_;
    const int64_t now_ = now_ms();
    const std::string body_ = webhook_body(now_);
};

TEST_F(ZaloWebhook, SignedDeliveryBecomesAnUpdate) {
    auto p = make();
    auto r = p->handle_callback(post(body_, sign(body_)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{}");
    ASSERT_EQ(r->updates.size(), 1u);
    EXPECT_EQ(r->updates[0].message_id, "msg-0001");
    EXPECT_EQ(r->updates[0].state, "delivered");
    EXPECT_EQ(r->updates[0].dedupe_key, "15a0cc0bbb13bd4ce403");
    EXPECT_EQ(r->updates[0].provider_message_id, "15a0cc0bbb13bd4ce403");
    EXPECT_NE(r->updates[0].detail.find("2020-10-17T18:47:47.432Z"), std::string::npos)
        << r->updates[0].detail;

    // The OA-id variant of the signature is accepted too.
    auto oa = p->handle_callback(post(body_, sign(body_, "579745863508352884")));
    ASSERT_TRUE(oa.has_value());
    EXPECT_EQ(oa->status, 200);
    EXPECT_EQ(oa->updates.size(), 1u);
}

TEST_F(ZaloWebhook, BadOrMissingSignatureIs401WithoutUpdates) {
    auto p = make();
    std::string tampered = body_;
    tampered.replace(tampered.find("msg-0001"), 8, "msg-9999");
    std::string wrong_secret =
        "mac=" + sha256_hex("the-app" + body_ + std::to_string(now_) + "other-secret");
    for (const auto& [body, sig] :
         std::vector<std::pair<std::string, std::string>>{{tampered, sign(body_)},
                                                          {body_, wrong_secret},
                                                          {body_, ""},
                                                          {body_, "mac="},
                                                          {body_, sign(body_).substr(0, 40)}}) {
        auto r = p->handle_callback(post(body, sig));
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 401) << sig;
        EXPECT_TRUE(r->updates.empty());
    }
}

TEST_F(ZaloWebhook, OtherEventsAreAcknowledgedWithoutUpdates) {
    auto p = make();
    std::string body =
        R"({"event_name":"change_template_status","app_id":"the-app","timestamp":")" +
        std::to_string(now_) + R"("})";
    auto r = p->handle_callback(post(body, sign(body)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->updates.empty());
}

TEST_F(ZaloWebhook, ACapturedWebhookCannotBeReplayedOutsideTheWindow) {
    auto p = make("webhook_secret: the-oa-secret\nwebhook_window: 5m\n");
    // Correctly signed, but sent long ago (Zalo's documented example), or claiming the future.
    for (int64_t sent : {int64_t{1602560967477}, now_ - 6 * 60 * 1000, now_ + 6 * 60 * 1000}) {
        std::string body = webhook_body(sent);
        auto r = p->handle_callback(post(body, sign_at(body, sent)));
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(r->status, 401) << sent;
        EXPECT_NE(r->body.find("stale_timestamp"), std::string::npos) << r->body;
        EXPECT_TRUE(r->updates.empty());
    }
    // Without a timestamp there is nothing to bound.
    std::string untimed = R"({"event_name":"user_received_message","app_id":"the-app"})";
    auto r = p->handle_callback(
        post(untimed, "mac=" + sha256_hex("the-app" + untimed + "the-oa-secret")));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 401);
    // Inside the window it is taken.
    std::string recent = webhook_body(now_ - 4 * 60 * 1000);
    auto ok = p->handle_callback(post(recent, sign_at(recent, now_ - 4 * 60 * 1000)));
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->updates.size(), 1u);
}

// A citizen's rating (user_feedback) as public integrations of Zalo's webhook show it: the OA id
// at the top, no sender, the rating under `message`.
std::string feedback_body(int64_t timestamp, const std::string& message) {
    return R"({"event_name":"user_feedback","app_id":"the-app","oa_id":"579745863508352884",)"
           R"("message":)" +
           message + R"(,"timestamp":")" + std::to_string(timestamp) + R"("})";
}

TEST_F(ZaloWebhook, SignedRatingBecomesARatingReport) {
    auto p = make();
    std::string body = feedback_body(
        now_, R"({"note":"Cán bộ hướng dẫn\ntận tình\u0007","rate":5,)"
              R"("submit_time":"1795749302114","msg_id":"5dcf84fe1fd8bd85e4ca",)"
              R"("feedbacks":["Nhân viên nhiệt tình","Đúng hẹn"],"tracking_id":"msg-0001"})");
    auto r = p->handle_callback(post(body, sign(body)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->updates.empty());
    ASSERT_EQ(r->ratings.size(), 1u);
    const RatingReport& rating = r->ratings[0];
    EXPECT_EQ(rating.message_id, "msg-0001");
    EXPECT_EQ(rating.provider_message_id, "5dcf84fe1fd8bd85e4ca");
    EXPECT_EQ(rating.answer_id, "5dcf84fe1fd8bd85e4ca:1795749302114");
    EXPECT_EQ(rating.rating, 5);
    EXPECT_EQ(rating.submitted_ms, 1795749302114);
    EXPECT_EQ(rating.note, "Cán bộ hướng dẫn\ntận tình ");  // the bell made a space
    EXPECT_EQ(rating.comments, (std::vector<std::string>{"Nhân viên nhiệt tình", "Đúng hẹn"}));

    // The OA-id variant of the signature takes the top-level oa_id.
    auto oa = p->handle_callback(post(body, sign(body, "579745863508352884")));
    ASSERT_TRUE(oa.has_value());
    EXPECT_EQ(oa->status, 200);
    EXPECT_EQ(oa->ratings.size(), 1u);

    // Forged: refused, no rating.
    std::string tampered = body;
    tampered.replace(tampered.find("\"rate\":5"), 8, "\"rate\":1");
    auto forged = p->handle_callback(post(tampered, sign(body)));
    ASSERT_TRUE(forged.has_value());
    EXPECT_EQ(forged->status, 401);
    EXPECT_TRUE(forged->ratings.empty());
    auto unsigned_ = p->handle_callback(post(body, ""));
    ASSERT_TRUE(unsigned_.has_value());
    EXPECT_EQ(unsigned_->status, 401);
    EXPECT_TRUE(unsigned_->ratings.empty());
}

TEST(ZaloRating, FieldsInEitherSpellingAndLimits) {
    // The rating API's spelling (msgId, trackingId, submitDate; rate as a string).
    auto camel = boost::json::parse(
                     R"({"msgId":"m1","trackingId":"t1","submitDate":"1659750276218","rate":"4",)"
                     R"("note":"","feedbacks":["a","",3]})")
                     .as_object();
    auto r = zalo::rating_of(camel);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->message_id, "t1");
    EXPECT_EQ(r->provider_message_id, "m1");
    EXPECT_EQ(r->submitted_ms, 1659750276218);
    EXPECT_EQ(r->rating, 4);
    EXPECT_EQ(r->comments, (std::vector<std::string>{"a", "3"}));

    // Without a msg_id, a submit time, or a rate of 1 to 5: no rating.
    for (const char* bad : {R"({"tracking_id":"t","submit_time":"1","rate":5})",
                            R"({"msg_id":"m","tracking_id":"t","rate":5})",
                            R"({"msg_id":"m","submit_time":"1","rate":0})",
                            R"({"msg_id":"m","submit_time":"1","rate":6})",
                            R"({"msg_id":"m","submit_time":"1","rate":"five"})"}) {
        EXPECT_FALSE(zalo::rating_of(boost::json::parse(bad).as_object()).has_value()) << bad;
    }
    // No tracking_id (sent by another system, or by user id): a rating, matched to nothing.
    auto untracked = zalo::rating_of(
        boost::json::parse(R"({"msg_id":"m","submit_time":"1","rate":3})").as_object());
    ASSERT_TRUE(untracked.has_value());
    EXPECT_TRUE(untracked->message_id.empty());

    // A long note is cut at a character boundary; only so many comments are kept.
    std::string note;
    while (note.size() < zalo::kMaxNoteBytes + 10) note += "ồ";  // 3 bytes each
    boost::json::object big{{"msg_id", "m"}, {"submit_time", 1}, {"rate", 2}, {"note", note}};
    boost::json::array many;
    for (std::size_t i = 0; i < zalo::kMaxComments + 5; ++i) many.emplace_back("ý kiến");
    big["feedbacks"] = many;
    auto cut = zalo::rating_of(big);
    ASSERT_TRUE(cut.has_value());
    EXPECT_LE(cut->note.size(), zalo::kMaxNoteBytes);
    EXPECT_EQ(cut->note.size() % 3, 0u);
    EXPECT_EQ(cut->note.substr(0, 3), "ồ");
    EXPECT_EQ(cut->comments.size(), zalo::kMaxComments);
}

TEST_F(ZaloWebhook, WithoutASecretTheAdapterTakesNoCallbacks) {
    auto p = make("");
    EXPECT_FALSE(p->handle_callback(post(body_, sign(body_))).has_value());
}

TEST(ZaloFactory, KeysAreChecked) {
    asio::io_context ioc;
    ProviderContext ctx;
    ctx.executor = ioc.get_executor();
    YamlView missing("app_id: a\nbase_url: ftp://x\nrefresh_tokn: typo\n");
    EXPECT_EQ(make_zalo_zns_factory()->create(zalo_settings(), missing.view, ctx), nullptr);
    std::string all = missing.all();
    EXPECT_NE(all.find("secret_key"), std::string::npos) << all;
    EXPECT_NE(all.find("refresh_token"), std::string::npos) << all;
    EXPECT_NE(all.find("base_url"), std::string::npos) << all;
    EXPECT_NE(all.find("refresh_tokn"), std::string::npos) << all;

    YamlView ok("app_id: a\nsecret_key: s\nrefresh_token: r\n");
    EXPECT_NE(make_zalo_zns_factory()->create(zalo_settings(), ok.view, ctx), nullptr) << ok.all();
    ProviderSettings sms = zalo_settings();
    sms.channel = Channel::sms;
    YamlView wrong_channel("app_id: a\nsecret_key: s\nrefresh_token: r\n");
    EXPECT_EQ(make_zalo_zns_factory()->create(sms, wrong_channel.view, ctx), nullptr);
    EXPECT_TRUE(make_zalo_zns_factory()->supports(Channel::zalo));
    EXPECT_FALSE(make_zalo_zns_factory()->supports(Channel::sms));
}

}  // namespace
