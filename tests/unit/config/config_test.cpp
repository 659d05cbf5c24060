// load_config: the model, validation with lines and paths, defaults, and the shipped example.
#include "daemon/config/config.hpp"

#include <gtest/gtest.h>

#include "tests/unit/config/temp_dir.hpp"

namespace tinbao {
namespace {

using namespace std::chrono_literals;
using testing::dump;
using testing::ScopedEnv;
using testing::TempDir;

// Lines 1-7; tests append after it, so their own lines start at 8.
const std::string kBase =
    "http:\n"
    "  clients:\n"
    "    - { name: igate, token: \"0123456789abcdef-token\" }\n"
    "providers:\n"
    "  - { name: out-sms, channel: sms, type: outbox }\n"
    "routes:\n"
    "  - { status: [received], channels: [sms] }\n";

class LoadConfig : public ::testing::Test {
  protected:
    ConfigLoad load(const std::string& yaml, const std::string& name = "tinbao.yaml") {
        return load_config(tmp_.write(name, yaml));
    }
    // Stands in for the provider factories: their keys are read elsewhere.
    static void finish_providers(ConfigLoad& l, std::initializer_list<const char*> keys = {}) {
        for (auto& p : l.config->providers) {
            for (const char* k : keys) p.view->accept(k);
            p.view->finish();
        }
    }
    // The single diagnostic expected, as "line path: message".
    static const Diagnostic& only(const ConfigLoad& l) {
        EXPECT_EQ(l.diagnostics->items.size(), 1u) << dump(*l.diagnostics);
        static const Diagnostic none{};
        return l.diagnostics->items.empty() ? none : l.diagnostics->items.front();
    }
    TempDir tmp_;
};

TEST_F(LoadConfig, MinimalConfigGetsDefaults) {
    auto l = load(kBase);
    ASSERT_TRUE(l.config);
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const Config& c = *l.config;
    EXPECT_EQ(c.file, (tmp_.path() / "tinbao.yaml").lexically_normal());
    EXPECT_EQ(c.state_dir, "/var/lib/tinbao");
    EXPECT_EQ(c.shutdown_grace, 10s);
    EXPECT_EQ(c.templates_dir, (tmp_.path() / "templates").lexically_normal());
    EXPECT_EQ(c.queue.backend, "sqlite");  // no queue.redis section
    EXPECT_EQ(c.queue.dedupe_ttl, 7 * 24h);
    EXPECT_EQ(c.http.listen_host, "127.0.0.1");
    EXPECT_EQ(c.http.listen_port, 8080);
    ASSERT_EQ(c.http.clients.size(), 1u);
    EXPECT_EQ(c.http.clients[0].name, "igate");
    EXPECT_EQ(c.http.clients[0].token, "0123456789abcdef-token");
    ASSERT_EQ(c.providers.size(), 1u);
    EXPECT_EQ(c.providers[0].settings.name, "out-sms");
    EXPECT_EQ(c.providers[0].settings.type, "outbox");
    EXPECT_TRUE(c.providers[0].settings.enabled);
    ASSERT_EQ(c.routes.size(), 1u);
    EXPECT_EQ(c.routes[0].line, 7);
    EXPECT_EQ(c.routes[0].mode, Route::Mode::fallback);
    EXPECT_EQ(c.sms.unicode, SmsSettings::Unicode::auto_);
    EXPECT_EQ(c.retry.max_attempts, 6);
}

TEST_F(LoadConfig, ContractExampleLoads) {
    ScopedEnv t("TINBAO_IGATE_TOKEN", "igate-token-0123456789");
    ScopedEnv h("TINBAO_IGATE_HMAC", "hmac-secret");
    ScopedEnv k("ESMS_API_KEY", "api-key");
    ScopedEnv s("ESMS_SECRET_KEY", "secret-key");
    auto l = load(R"(state_dir: /var/lib/tinbao
shutdown_grace: 15s
log: { level: debug, format: json }
http:
  listen: "[::1]:9090"
  max_body_bytes: 65536
  clients:
    - { name: igate, token: "${TINBAO_IGATE_TOKEN}", hmac_secret: "${TINBAO_IGATE_HMAC}" }
queue:
  redis: { url: "redis://127.0.0.1:6380/2", prefix: tb }
  dedupe_ttl: 3d
templates:
  dir: tpl
statuses:
  aliases: { "DA_CO_KET_QUA": result_ready }
routes:
  - { status: [received, supplement_requested, DA_CO_KET_QUA, rejected], channels: [zalo, sms] }
  - { status: returned, channels: [email], mode: all }
sms: { unicode: never, max_segments: 4 }
quiet_hours:
  - { channels: [sms, zalo], from: "21:30", to: "07:00" }
retry: { max_attempts: 3, initial_delay: 500ms, max_delay: 10m, give_up_after: 24h }
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: https://rest.esms.vn
    api_key: "${ESMS_API_KEY}"
    secret_key: "${ESMS_SECRET_KEY}"
    brandname: UBND-VLONG
    rate_per_second: 20
    max_in_flight: 50
    timeout: 10s
  - { name: zalo, channel: zalo, type: zalo_zns, enabled: true }
  - { name: mail, channel: email, type: smtp }
)");
    ASSERT_TRUE(l.config);
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const Config& c = *l.config;
    EXPECT_EQ(c.shutdown_grace, 15s);
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.log.format, "json");
    EXPECT_EQ(c.http.listen_host, "::1");
    EXPECT_EQ(c.http.listen_port, 9090);
    EXPECT_EQ(c.http.clients[0].token, "igate-token-0123456789");
    EXPECT_EQ(c.http.clients[0].hmac_secret, "hmac-secret");
    EXPECT_EQ(c.queue.backend, "redis");  // a redis section is present
    EXPECT_EQ(c.queue.redis.port, 6380);
    EXPECT_EQ(c.queue.redis.db, 2);
    EXPECT_EQ(c.queue.redis.prefix, "tb");
    EXPECT_EQ(c.queue.dedupe_ttl, 72h);
    EXPECT_EQ(c.templates_dir, (tmp_.path() / "tpl").lexically_normal());
    ASSERT_EQ(c.routes.size(), 2u);
    EXPECT_EQ(c.routes[0].statuses,
              (std::vector<std::string>{"received", "supplement_requested", "result_ready",
                                        "rejected"}));
    EXPECT_EQ(c.routes[0].channels, (std::vector<Channel>{Channel::zalo, Channel::sms}));
    EXPECT_EQ(c.routes[1].statuses, (std::vector<std::string>{"returned"}));
    EXPECT_EQ(c.routes[1].mode, Route::Mode::all);
    EXPECT_EQ(c.sms.unicode, SmsSettings::Unicode::never);
    EXPECT_EQ(c.sms.max_segments, 4);
    ASSERT_EQ(c.quiet_hours.size(), 1u);
    EXPECT_EQ(c.quiet_hours[0].from_minute, 21 * 60 + 30);
    EXPECT_EQ(c.quiet_hours[0].to_minute, 7 * 60);
    EXPECT_EQ(c.retry.max_attempts, 3);
    EXPECT_EQ(c.retry.initial_delay, 500ms);
    ASSERT_EQ(c.providers.size(), 3u);
    const auto& esms = c.providers[0].settings;
    EXPECT_EQ(esms.rate_per_second, 20);
    EXPECT_EQ(esms.max_in_flight, 50);
    EXPECT_EQ(esms.timeout, 10s);
    EXPECT_EQ(esms.channel, Channel::sms);

    // The view is left for the factory: common keys accepted, its own keys still to read.
    auto& view = *c.providers[0].view;
    EXPECT_EQ(view.path(), "providers[0]");
    EXPECT_EQ(view.string("api_key"), "api-key");
    view.accept("base_url");
    view.accept("secret_key");
    view.finish();
    EXPECT_EQ(l.diagnostics->items.size(), 1u) << dump(*l.diagnostics);
    EXPECT_EQ(l.diagnostics->items[0].str(),
              (tmp_.path() / "tinbao.yaml").string() +
                  ":30: providers[0].brandname: unknown key 'brandname'");
}

TEST_F(LoadConfig, UnknownKeyAtTheRoot) {
    auto l = load(kBase + "shutdown_grance: 5s\n");
    const auto& d = only(l);
    EXPECT_EQ(d.line, 8);
    EXPECT_EQ(d.path, "shutdown_grance");
    EXPECT_EQ(d.message, "unknown key 'shutdown_grance' (did you mean 'shutdown_grace'?)");
}

TEST_F(LoadConfig, UnknownKeyNested) {
    auto l = load(kBase +
                  "queue:\n"
                  "  redis:\n"
                  "    url: redis://127.0.0.1:6379/0\n"
                  "    prefx: tb\n");
    const auto& d = only(l);
    EXPECT_EQ(d.line, 11);
    EXPECT_EQ(d.path, "queue.redis.prefx");
    EXPECT_EQ(d.message, "unknown key 'prefx' (did you mean 'prefix'?)");
}

TEST_F(LoadConfig, UnknownKeyInAClient) {
    auto l = load(
        "http:\n"
        "  clients:\n"
        "    - name: igate\n"
        "      token: 0123456789abcdef-token\n"
        "      hmac_secert: abc\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n");
    const auto& d = only(l);
    EXPECT_EQ(d.line, 5);
    EXPECT_EQ(d.path, "http.clients[0].hmac_secert");
    EXPECT_NE(d.message.find("did you mean 'hmac_secret'?"), std::string::npos);
}

TEST_F(LoadConfig, UnknownProviderCommonKeyReportedWhenTheViewIsFinished) {
    auto l2 = load(
        "http:\n"
        "  clients: [{ name: igate, token: 0123456789abcdef-token }]\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n"
        "  - name: other\n"
        "    channel: sms\n"
        "    type: outbox\n"
        "    rate_per_secnd: 5\n");
    ASSERT_TRUE(l2.config);
    EXPECT_TRUE(l2.diagnostics->empty()) << dump(*l2.diagnostics);
    EXPECT_EQ(l2.config->providers[1].settings.rate_per_second, 0);
    finish_providers(l2);
    const auto& d = only(l2);
    EXPECT_EQ(d.line, 8);
    EXPECT_EQ(d.path, "providers[1].rate_per_secnd");
    EXPECT_EQ(d.message, "unknown key 'rate_per_secnd' (did you mean 'rate_per_second'?)");
}

TEST_F(LoadConfig, ProviderErrors) {
    auto l = load(
        "http:\n"
        "  clients: [{ name: igate, token: 0123456789abcdef-token }]\n"
        "providers:\n"
        "  - { name: Out_SMS, channel: sms, type: outbox }\n"
        "  - { name: a, channel: fax, type: outbox }\n"
        "  - { name: b, channel: sms, type: outbox, rate_per_second: -2 }\n"
        "  - { name: b, channel: sms, type: outbox, max_in_flight: 1.5 }\n"
        "  - { name: c, channel: sms, type: outbox, timeout: 10 }\n"
        "  - { name: d, channel: sms, type: outbox, enabled: perhaps }\n"
        "  - { channel: sms, type: outbox }\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 8u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].line, 4);
    EXPECT_EQ(items[0].path, "providers[0].name");
    EXPECT_EQ(items[1].line, 5);
    EXPECT_EQ(items[1].path, "providers[1].channel");
    EXPECT_EQ(items[2].line, 6);
    EXPECT_EQ(items[2].path, "providers[2].rate_per_second");
    EXPECT_EQ(items[3].line, 7);  // duplicate name
    EXPECT_EQ(items[3].path, "providers[3].name");
    EXPECT_NE(items[3].message.find("twice"), std::string::npos);
    EXPECT_EQ(items[4].line, 7);
    EXPECT_EQ(items[4].path, "providers[3].max_in_flight");
    EXPECT_EQ(items[5].path, "providers[4].timeout");
    EXPECT_EQ(items[6].path, "providers[5].enabled");
    EXPECT_EQ(items[7].line, 10);
    EXPECT_EQ(items[7].path, "providers[6].name");
}

TEST_F(LoadConfig, ClientValidation) {
    auto l = load(
        "http:\n"
        "  clients:\n"
        "    - { name: a, token: short }\n"
        "    - { name: b, token: 0123456789abcdef-token }\n"
        "    - { name: c, token: 0123456789abcdef-token }\n"
        "    - { name: a, token: another-token-0123456789 }\n"
        "    - { name: d }\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 4u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].str(), l.config->file.string() +
                                  ":3: http.clients[0].token: a token must be at least 16 "
                                  "characters long");
    EXPECT_EQ(items[0].str().find("short"), std::string::npos);  // the token is not printed
    EXPECT_EQ(items[1].line, 5);
    EXPECT_EQ(items[1].path, "http.clients[2].token");
    EXPECT_EQ(items[1].str().find("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(items[2].line, 6);
    EXPECT_EQ(items[2].path, "http.clients[3].name");
    EXPECT_EQ(items[3].line, 7);
    EXPECT_EQ(items[3].path, "http.clients[4].token");
}

TEST_F(LoadConfig, ClientCallbacks) {
    // Standard Webhooks secrets: whsec_ + base64 (24 to 64 bytes).
    const std::string secret = "whsec_c2hvcnQtc2VjcmV0";  // 12 bytes: too short
    const std::string good = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    auto l = load(
        "http:\n"
        "  clients:\n"
        "    - name: a\n"
        "      token: 0123456789abcdef-token\n"
        "      callbacks:\n"
        "        url: https://motcua.example/cb\n"
        "        secret: \"" +
        good +
        "\"\n"
        "        previous_secret: \"" +
        good +
        "\"\n"
        "        kinds: [message.sent, event.settled]\n"
        "        max_in_flight: 3\n"
        "        timeout: 2s\n"
        "retry: { callback_initial_delay: 1s, callback_max_delay: 10s }\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n");
    ASSERT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    auto& cb = l.config->http.clients[0].callbacks;
    ASSERT_TRUE(cb);
    EXPECT_EQ(cb->url, "https://motcua.example/cb");
    EXPECT_EQ(cb->secrets.size(), 2u);
    EXPECT_TRUE(cb->wants("event.settled"));
    EXPECT_FALSE(cb->wants("message.delivered"));
    EXPECT_EQ(cb->max_in_flight, 3u);
    EXPECT_EQ(cb->timeout, 2s);
    EXPECT_EQ(l.config->retry.callback_initial_delay, 1s);
    EXPECT_EQ(l.config->retry.callback_give_up_after, 24h);

    auto bad = load(
        "http:\n"
        "  clients:\n"
        "    - name: a\n"
        "      token: 0123456789abcdef-token\n"
        "      scopes: [events:write]\n"
        "      callbacks: { url: ftp://x, secret: \"" +
        secret +
        "\", kinds: [message.read] }\n"
        "queue: { status_stream: { enabled: true } }\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n");
    std::string all = dump(*bad.diagnostics);
    EXPECT_NE(all.find("http.clients[0].callbacks.url: must start with http"), std::string::npos)
        << all;
    EXPECT_NE(all.find("callbacks.secret: must be a Standard Webhooks secret"), std::string::npos);
    EXPECT_EQ(all.find(secret), std::string::npos);  // the secret is not printed
    EXPECT_NE(all.find("unknown kind 'message.read'"), std::string::npos);
    EXPECT_NE(all.find("events:read:all"), std::string::npos);
    EXPECT_NE(all.find("queue.status_stream.enabled"), std::string::npos);
}

TEST_F(LoadConfig, AtLeastOneClientIsRequired) {
    auto none = load("providers: []\n");
    EXPECT_EQ(only(none).path, "http.clients");
    auto empty = load("http:\n  listen: 127.0.0.1:1\n  clients: []\n");
    EXPECT_EQ(only(empty).path, "http.clients");
    EXPECT_EQ(only(empty).line, 3);
}

TEST_F(LoadConfig, TokenFromEnvironmentAndFile) {
    tmp_.write("creds/token", "file-token-0123456789\n");
    ScopedEnv env("TINBAO_CFGTEST_TOKEN", "env-token-0123456789");
    auto l = load(
        "http:\n"
        "  clients:\n"
        "    - { name: a, token: \"${TINBAO_CFGTEST_TOKEN}\" }\n"
        "    - { name: b, token: \"${file:creds/token}\", hmac_secret: \"${file:creds/none}\" }\n"
        "providers: []\n");
    ASSERT_TRUE(l.config);
    EXPECT_EQ(l.config->http.clients[0].token, "env-token-0123456789");
    EXPECT_EQ(l.config->http.clients[1].token, "file-token-0123456789");
    const auto& d = only(l);
    EXPECT_EQ(d.line, 4);
    EXPECT_EQ(d.path, "http.clients[1].hmac_secret");
    EXPECT_NE(d.message.find("creds/none"), std::string::npos) << d.message;
}

TEST_F(LoadConfig, MissingEnvironmentVariableForAToken) {
    ScopedEnv env("TINBAO_CFGTEST_NOT_SET", nullptr);
    auto l = load(
        "http:\n"
        "  clients:\n"
        "    - name: a\n"
        "      token: \"${TINBAO_CFGTEST_NOT_SET}\"\n"
        "providers: []\n");
    const auto& d = only(l);
    EXPECT_EQ(d.line, 4);
    EXPECT_EQ(d.path, "http.clients[0].token");
    EXPECT_EQ(d.message, "environment variable 'TINBAO_CFGTEST_NOT_SET' is not set");
}

TEST_F(LoadConfig, ListenForms) {
    struct Case {
        const char* listen;
        const char* host;
        uint16_t port;
    };
    for (const Case& c :
         {Case{"127.0.0.1:8080", "127.0.0.1", 8080}, Case{"[::1]:8081", "::1", 8081},
          Case{"[::]:80", "::", 80}, Case{"0.0.0.0:0", "0.0.0.0", 0},
          Case{"api.local:65535", "api.local", 65535}}) {
        auto l2 = load(std::string("http:\n  listen: \"") + c.listen +
                       "\"\n  clients: [{ name: a, token: 0123456789abcdef-token }]\n");
        ASSERT_TRUE(l2.config);
        EXPECT_TRUE(l2.diagnostics->empty()) << c.listen << "\n" << dump(*l2.diagnostics);
        EXPECT_EQ(l2.config->http.listen_host, c.host) << c.listen;
        EXPECT_EQ(l2.config->http.listen_port, c.port) << c.listen;
    }
    for (const char* bad : {"8080", "::1:8080", "[::1]8080", ":8080", "host:99999",
                            "host:", "host:http", "[::1:80"}) {
        auto l = load(std::string("http:\n  listen: \"") + bad +
                      "\"\n  clients: [{ name: a, token: 0123456789abcdef-token }]\n");
        const auto& d = only(l);
        EXPECT_EQ(d.line, 2) << bad;
        EXPECT_EQ(d.path, "http.listen") << bad;
    }
}

TEST_F(LoadConfig, RedisUrls) {
    struct Case {
        const char* url;
        const char* host;
        uint16_t port;
        const char* username;
        const char* password;
        int db;
        bool tls;
    };
    for (const Case& c : {
             Case{"redis://127.0.0.1:6379/0", "127.0.0.1", 6379, "", "", 0, false},
             Case{"redis://redis.local", "redis.local", 6379, "", "", 0, false},
             Case{"redis://:p%40ss@10.0.0.5:6380/3", "10.0.0.5", 6380, "", "p@ss", 3, false},
             Case{"rediss://tinbao:secret@cache:6390/15", "cache", 6390, "tinbao", "secret", 15,
                  true},
             Case{"redis://secretonly@host/1", "host", 6379, "", "secretonly", 1, false},
             Case{"redis://[::1]:7000/2", "::1", 7000, "", "", 2, false},
             Case{"redis://[::1]", "::1", 6379, "", "", 0, false},
         }) {
        auto l = load(kBase + "queue:\n  redis: { url: \"" + c.url + "\" }\n");
        ASSERT_TRUE(l.config);
        EXPECT_TRUE(l.diagnostics->empty()) << c.url << "\n" << dump(*l.diagnostics);
        const auto& r = l.config->queue.redis;
        EXPECT_EQ(r.url, c.url);
        EXPECT_EQ(r.host, c.host) << c.url;
        EXPECT_EQ(r.port, c.port) << c.url;
        EXPECT_EQ(r.username, c.username) << c.url;
        EXPECT_EQ(r.password, c.password) << c.url;
        EXPECT_EQ(r.db, c.db) << c.url;
        EXPECT_EQ(r.tls, c.tls) << c.url;
        EXPECT_EQ(l.config->queue.backend, "redis");
    }
    for (const char* bad : {"http://h:1/0", "redis://", "redis://:pw-SECRET@:6379", "redis://h:0/0",
                            "redis://h:6379/x", "redis://h:6379/0?x=1", "redis://:pw-SECRET@h:port",
                            "redis://:bad%zzSECRET@h"}) {
        auto l = load(kBase + "queue:\n  redis:\n    url: \"" + bad + "\"\n");
        const auto& d = only(l);
        EXPECT_EQ(d.line, 10) << bad;
        EXPECT_EQ(d.path, "queue.redis.url") << bad;
        EXPECT_EQ(d.str().find("SECRET"), std::string::npos) << d.str();
    }
}

TEST_F(LoadConfig, RedisSentinelAndMinReplicas) {
    auto l = load(kBase +
                  "queue:\n"
                  "  redis:\n"
                  "    url: redis://:pw@ignored:1/2\n"
                  "    sentinels: [\"10.0.0.11:26380\", \"s2\", \"[::1]:5000\"]\n"
                  "    master_name: tinbao\n"
                  "    sentinel_password: sp\n"
                  "    min_replicas: 1\n"
                  "    min_replicas_timeout: 250ms\n");
    ASSERT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const auto& r = l.config->queue.redis;
    ASSERT_EQ(r.sentinels.size(), 3u);
    EXPECT_EQ(r.sentinels[0].host, "10.0.0.11");
    EXPECT_EQ(r.sentinels[0].port, 26380);
    EXPECT_EQ(r.sentinels[1].host, "s2");
    EXPECT_EQ(r.sentinels[1].port, 26379);
    EXPECT_EQ(r.sentinels[2].host, "::1");
    EXPECT_EQ(r.master_name, "tinbao");
    EXPECT_EQ(r.sentinel_password, "sp");
    EXPECT_EQ(r.password, "pw");
    EXPECT_EQ(r.db, 2);
    EXPECT_EQ(r.min_replicas, 1);
    EXPECT_EQ(r.min_replicas_timeout.count(), 250);

    auto defaults = load(kBase + "queue:\n  redis: { url: redis://h }\n");
    EXPECT_TRUE(defaults.config->queue.redis.sentinels.empty());
    EXPECT_EQ(defaults.config->queue.redis.min_replicas, 0);

    auto no_name = load(kBase + "queue:\n  redis:\n    sentinels: [\"h:1\"]\n");
    EXPECT_EQ(only(no_name).path, "queue.redis.master_name");
    auto no_list = load(kBase + "queue:\n  redis:\n    master_name: m\n");
    EXPECT_EQ(only(no_list).path, "queue.redis.sentinels");
    auto bad_port =
        load(kBase + "queue:\n  redis:\n    sentinels: [\"h:x\"]\n    master_name: m\n");
    EXPECT_EQ(only(bad_port).path, "queue.redis.sentinels");
    auto too_many = load(kBase + "queue:\n  redis:\n    min_replicas: 17\n");
    EXPECT_EQ(only(too_many).path, "queue.redis.min_replicas");
}

TEST_F(LoadConfig, QueueBackendChoice) {
    auto explicit_sqlite = load(kBase + "queue:\n  backend: sqlite\n  redis: { url: redis://h }\n");
    EXPECT_TRUE(explicit_sqlite.diagnostics->empty()) << dump(*explicit_sqlite.diagnostics);
    EXPECT_EQ(explicit_sqlite.config->queue.backend, "sqlite");
    auto explicit_redis = load(kBase + "queue:\n  backend: redis\n");
    EXPECT_EQ(explicit_redis.config->queue.backend, "redis");
    EXPECT_EQ(explicit_redis.config->queue.redis.host, "127.0.0.1");
    auto bad = load(kBase + "queue:\n  backend: kafka\n  batch: 0\n");
    ASSERT_EQ(bad.diagnostics->items.size(), 2u) << dump(*bad.diagnostics);
    EXPECT_EQ(bad.diagnostics->items[0].line, 9);
    EXPECT_EQ(bad.diagnostics->items[0].path, "queue.backend");
    EXPECT_EQ(bad.diagnostics->items[1].path, "queue.batch");
}

TEST_F(LoadConfig, StatusAliasesAcceptNumericKeys) {
    auto l = load(kBase +
                  "statuses:\n"
                  "  aliases:\n"
                  "    5: supplement_requested\n"
                  "    \"10\": returned\n"
                  "    DA_CO_KET_QUA: result_ready\n");
    ASSERT_TRUE(l.config);
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const Config& c = *l.config;
    EXPECT_EQ(c.canonical_status("5"), "supplement_requested");
    EXPECT_EQ(c.canonical_status("10"), "returned");
    EXPECT_EQ(c.canonical_status("DA_CO_KET_QUA"), "result_ready");
    EXPECT_EQ(c.canonical_status("received"), "received");
    EXPECT_EQ(c.canonical_status("6"), std::nullopt);
    EXPECT_EQ(c.canonical_status("Received"), std::nullopt);
}

TEST_F(LoadConfig, AliasTargetsMustBeCanonical) {
    auto l = load(kBase +
                  "statuses:\n"
                  "  aliases:\n"
                  "    5: supplement\n"
                  "    received: processing\n"
                  "    7: [cancelled]\n"
                  "  alias: {}\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 4u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].line, 10);
    EXPECT_EQ(items[0].path, "statuses.aliases.5");
    EXPECT_EQ(items[0].message, "'supplement' is not a canonical status");
    EXPECT_EQ(items[1].line, 11);
    EXPECT_EQ(items[1].path, "statuses.aliases.received");
    EXPECT_EQ(items[2].line, 12);
    EXPECT_EQ(items[3].line, 13);
    EXPECT_NE(items[3].message.find("did you mean 'aliases'?"), std::string::npos);
    EXPECT_EQ(l.config->canonical_status("5"), std::nullopt);
}

TEST_F(LoadConfig, RoutesValidation) {
    auto l = load(
        "http:\n"
        "  clients: [{ name: a, token: 0123456789abcdef-token }]\n"
        "statuses: { aliases: { \"9\": result_ready } }\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n"
        "routes:\n"
        "  - { status: [received, \"9\"], channels: [sms] }\n"
        "  - { status: [nope], channels: [sms] }\n"
        "  - { status: [result_ready], channels: [sms] }\n"
        "  - { status: [overdue], channels: [sms, pigeon], mode: sometimes }\n"
        "  - { status: [paused] }\n"
        "  - { status: [rejected], channels: [sms, sms] }\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 6u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].line, 8);
    EXPECT_EQ(items[0].path, "routes[1].status");
    EXPECT_NE(items[0].message.find("'nope'"), std::string::npos);
    EXPECT_EQ(items[1].line, 9);
    EXPECT_EQ(items[1].message, "status 'result_ready' is already routed by routes[0]");
    EXPECT_EQ(items[2].path, "routes[3].channels");
    EXPECT_EQ(items[3].path, "routes[3].mode");
    EXPECT_EQ(items[4].line, 11);
    EXPECT_EQ(items[4].path, "routes[4].channels");
    EXPECT_EQ(items[5].line, 12);
    EXPECT_EQ(items[5].path, "routes[5].channels");
    EXPECT_EQ(l.config->routes[0].statuses, (std::vector<std::string>{"received", "result_ready"}));
}

TEST_F(LoadConfig, RouteToAChannelWithoutAnEnabledProvider) {
    auto l = load(
        "http:\n"
        "  clients: [{ name: a, token: 0123456789abcdef-token }]\n"
        "providers:\n"
        "  - { name: out-sms, channel: sms, type: outbox }\n"
        "  - { name: zalo, channel: zalo, type: zalo_zns, enabled: false }\n"
        "routes:\n"
        "  - { status: [received], channels: [sms] }\n"
        "  - status: [returned]\n"
        "    mode: all\n"
        "    channels: [sms, zalo, email]\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 2u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].str(), l.config->file.string() +
                                  ":8: routes[1].channels: no enabled provider serves channel "
                                  "'zalo'");
    EXPECT_EQ(items[1].line, 8);
    EXPECT_NE(items[1].message.find("'email'"), std::string::npos);
}

TEST_F(LoadConfig, SmsQuietHoursRetryValidation) {
    auto l = load(kBase +
                  "sms: { unicode: sometimes, max_segments: 11 }\n"
                  "quiet_hours:\n"
                  "  - { channels: [sms], from: \"25:00\", to: \"07:00\" }\n"
                  "  - { channels: [sms], from: \"7:00\", to: \"08:00\" }\n"
                  "  - { channels: [sms], from: \"08:00\", to: \"08:00\" }\n"
                  "  - { from: \"21:00\", to: \"07:00\" }\n"
                  "retry: { max_attempts: 0, initial_delay: 20m, give_up_after: 1d }\n");
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 8u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].path, "sms.unicode");
    EXPECT_EQ(items[0].line, 8);
    EXPECT_EQ(items[1].path, "sms.max_segments");
    EXPECT_EQ(items[2].path, "quiet_hours[0].from");
    EXPECT_EQ(items[2].line, 10);
    EXPECT_EQ(items[3].path, "quiet_hours[1].from");
    EXPECT_EQ(items[4].path, "quiet_hours[2].to");
    EXPECT_EQ(items[5].path, "quiet_hours[3].channels");
    EXPECT_EQ(items[5].line, 13);
    EXPECT_EQ(items[6].path, "retry.max_attempts");
    EXPECT_EQ(items[6].line, 14);
    EXPECT_EQ(items[7].path, "retry.initial_delay");  // longer than the default max_delay
}

TEST_F(LoadConfig, RelativePathsResolveAgainstTheConfigFolder) {
    auto l = load(kBase +
                      "state_dir: ../state\n"
                      "templates: { dir: ../templates }\n",
                  "config/tinbao.yaml");
    ASSERT_TRUE(l.config);
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    EXPECT_EQ(l.config->state_dir, (tmp_.path() / "state").lexically_normal());
    EXPECT_EQ(l.config->templates_dir, (tmp_.path() / "templates").lexically_normal());
    auto abs = load(kBase + "state_dir: /srv/tinbao\n");
    EXPECT_EQ(abs.config->state_dir, "/srv/tinbao");
}

TEST_F(LoadConfig, YamlSyntaxErrorHasALine) {
    auto l = load("http:\n  clients: [\n    { name: a\n  - x\n");
    EXPECT_FALSE(l.config);
    ASSERT_EQ(l.diagnostics->items.size(), 1u);
    EXPECT_GT(l.diagnostics->items[0].line, 1);
}

TEST_F(LoadConfig, UnreadableFileAndNonMappingRoot) {
    auto missing = load_config(tmp_.path() / "absent.yaml");
    EXPECT_FALSE(missing.config);
    EXPECT_EQ(missing.diagnostics->items.size(), 1u);
    auto list = load("- a\n- b\n");
    ASSERT_EQ(list.diagnostics->items.size(), 1u) << dump(*list.diagnostics);
    EXPECT_EQ(list.diagnostics->items[0].line, 1);
}

TEST(CanonicalStatuses, AreTheContractOnes) {
    EXPECT_EQ(canonical_statuses(),
              (std::vector<std::string>{"received", "supplement_requested", "fee_required",
                                        "processing", "transferred", "paused", "result_ready",
                                        "returned", "rejected", "overdue", "cancelled"}));
    EXPECT_TRUE(is_canonical_status("overdue"));
    EXPECT_FALSE(is_canonical_status("done"));
}

TEST(ShippedExample, LoadsCleanlyWithoutEnvironment) {
    const std::filesystem::path file =
        std::filesystem::path(TINBAO_SOURCE_DIR) / "config" / "tinbao.example.yaml";
    auto l = load_config(file);
    ASSERT_TRUE(l.config) << dump(*l.diagnostics);
    for (auto& p : l.config->providers) {
        p.view->accept("path");  // what the outbox factory reads
        p.view->finish();
    }
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const Config& c = *l.config;
    const auto root = std::filesystem::path(TINBAO_SOURCE_DIR).lexically_normal();
    EXPECT_EQ(c.state_dir, (root / "state").lexically_normal());
    EXPECT_EQ(c.templates_dir, (root / "templates").lexically_normal());
    EXPECT_EQ(c.queue.backend, "sqlite");  // a first run needs no Redis
    EXPECT_EQ(c.queue.retention, std::chrono::hours(24 * 30));
    EXPECT_EQ(c.http.listen_port, 8080);
    ASSERT_FALSE(c.http.clients.empty());
    EXPECT_EQ(c.http.clients[0].name, "local");
    EXPECT_GE(c.http.clients[0].token.size(), 32u);
    // The national portal's TrangThaiHoSo codes.
    EXPECT_EQ(c.canonical_status("2"), "received");
    EXPECT_EQ(c.canonical_status("5"), "supplement_requested");
    EXPECT_EQ(c.canonical_status("9"), "result_ready");
    EXPECT_EQ(c.canonical_status("10"), "returned");
    std::set<Channel> channels;
    for (const auto& p : c.providers) {
        EXPECT_EQ(p.settings.type, "outbox");
        channels.insert(p.settings.channel);
    }
    EXPECT_EQ(channels, (std::set<Channel>{Channel::sms, Channel::zalo, Channel::email}));
    EXPECT_FALSE(c.routes.empty());
}

}  // namespace
}  // namespace tinbao

namespace tinbao {
namespace {

class SmsTextKeys : public ::testing::Test {
  protected:
    ConfigLoad load(const std::string& providers) {
        return load_config(tmp_.write("tinbao.yaml",
                                      "http:\n"
                                      "  clients: [{ name: igate, token: 0123456789abcdef-token }]\n"
                                      "providers:\n" +
                                          providers));
    }
    TempDir tmp_;
};

TEST_F(SmsTextKeys, ReadForSmsProviders) {
    auto l = load(
        "  - name: esms\n"
        "    channel: sms\n"
        "    type: outbox\n"
        "    forbidden_characters: \"&#\"\n"
        "    forbidden_replacement: \"\"\n"
        "    registered_templates:\n"
        "      - \"Ho so {{ code }} da co ket qua\"\n"
        "      - \"Ma OTP: {{ otp }}\"\n"
        "  - { name: plain, channel: sms, type: outbox }\n");
    ASSERT_TRUE(l.config);
    for (auto& p : l.config->providers) p.view->finish();  // no unknown keys left
    EXPECT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const ProviderSettings& s = l.config->providers.at(0).settings;
    EXPECT_EQ(s.forbidden_characters, "&#");
    EXPECT_EQ(s.forbidden_replacement, "");
    EXPECT_EQ(s.registered_templates,
              (std::vector<std::string>{"Ho so {{ code }} da co ket qua", "Ma OTP: {{ otp }}"}));
    const ProviderSettings& d = l.config->providers.at(1).settings;
    EXPECT_EQ(d.forbidden_characters, "");
    EXPECT_EQ(d.forbidden_replacement, " ");
    EXPECT_TRUE(d.registered_templates.empty());
}

TEST_F(SmsTextKeys, OnlyForSmsProviders) {
    auto l = load(
        "  - { name: out-sms, channel: sms, type: outbox }\n"
        "  - name: mail\n"
        "    channel: email\n"
        "    type: outbox\n"
        "    forbidden_characters: \"&\"\n"
        "    registered_templates: [\"x {{ y }}\"]\n");
    ASSERT_TRUE(l.config);
    for (auto& p : l.config->providers) p.view->finish();  // not also reported as unknown
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 2u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].str(), (tmp_.path() / "tinbao.yaml").string() +
                                  ":9: providers[1].registered_templates: only for sms providers "
                                  "(this one's channel is 'email')");
    EXPECT_EQ(items[1].line, 8);
    EXPECT_EQ(items[1].path, "providers[1].forbidden_characters");
    EXPECT_TRUE(l.config->providers[1].settings.forbidden_characters.empty());
}

TEST_F(SmsTextKeys, BadRegisteredTemplateNamesItsIndexAndLine) {
    auto l = load(
        "  - name: esms\n"
        "    channel: sms\n"
        "    type: outbox\n"
        "    registered_templates:\n"
        "      - \"Ho so {{ code }} da co ket qua\"\n"
        "      - \"Ho so {{ code da co ket qua\"\n"
        "      - \"Ma }} sai\"\n");
    ASSERT_TRUE(l.config);
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 2u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].str(), (tmp_.path() / "tinbao.yaml").string() +
                                  ":9: providers[0].registered_templates[1]: unclosed '{{' at "
                                  "byte 6");
    EXPECT_EQ(items[1].line, 10);
    EXPECT_EQ(items[1].path, "providers[0].registered_templates[2]");
    EXPECT_TRUE(l.config->providers[0].settings.registered_templates.empty());
}

TEST_F(SmsTextKeys, ReplacementMustNotHoldAForbiddenCharacter) {
    auto l = load(
        "  - { name: esms, channel: sms, type: outbox, forbidden_characters: \"&#\",\n"
        "      forbidden_replacement: \" & \" }\n");
    ASSERT_TRUE(l.config);
    const auto& items = l.diagnostics->items;
    ASSERT_EQ(items.size(), 1u) << dump(*l.diagnostics);
    EXPECT_EQ(items[0].line, 5);
    EXPECT_EQ(items[0].path, "providers[0].forbidden_replacement");
}

// agencies and prices (docs/usage.md).
TEST_F(LoadConfig, AgenciesAndPrices) {
    auto l = load(kBase + R"(agencies:
  - code: "000.00.12.H62"
    name: "Sở Tư pháp"
    sms_sender: { out-sms: "STP.VL" }
    templates: agencies/h62
    monthly_budget: { dong: 2000000, segments: 5000 }
  - { code: "000.00.15.H62", name: "Sở Xây dựng" }
prices:
  - { provider: out-sms, per: segment, dong: 800, telcos: { viettel: 850, mobifone: 700 } }
  - { channel: email, dong: 0 }
)");
    finish_providers(l);
    ASSERT_TRUE(l.diagnostics->empty()) << dump(*l.diagnostics);
    const Config& c = *l.config;
    ASSERT_EQ(c.agencies.size(), 2u);
    const Agency* a = c.agency("000.00.12.H62");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->name, "Sở Tư pháp");
    EXPECT_EQ(a->sms_sender.at("out-sms"), "STP.VL");
    EXPECT_EQ(a->templates_dir, (tmp_.path() / "agencies/h62").lexically_normal());
    EXPECT_EQ(a->budget_dong, 2000000);
    EXPECT_EQ(a->budget_segments, 5000);
    EXPECT_TRUE(a->has_budget());
    EXPECT_FALSE(c.agency("000.00.15.H62")->has_budget());
    EXPECT_EQ(c.agency_label("000.00.15.H62"), "000.00.15.H62");
    EXPECT_EQ(c.agency_label("999.99.99.X"), "other");
    EXPECT_EQ(c.agency_label(""), "other");
    const Price* p = c.price_of("out-sms", Channel::sms);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->per, Price::Per::segment);
    EXPECT_EQ(p->dong, 800);
    EXPECT_EQ(p->telcos.at("viettel"), 850);
    EXPECT_EQ(c.price_of("smtp", Channel::email)->dong, 0);  // the channel's row
    EXPECT_EQ(c.price_of("zns", Channel::zalo), nullptr);    // unpriced
}

TEST_F(LoadConfig, AgencyAndPriceMistakesNameTheirLine) {
    auto l = load(kBase + R"(agencies:
  - { code: "A1", name: a, sms_sender: { nobody: X } }
  - { code: "A1", name: b }
  - { code: other, name: c }
  - { code: "A2", name: d, monthly_budget: {} }
prices:
  - { provider: out-sms, channel: sms, dong: 1 }
  - { channel: zalo, per: segment, dong: 1 }
  - { channel: sms, dong: 1, telcos: { viettle: 2 } }
)");
    finish_providers(l);
    const std::string all = dump(*l.diagnostics);
    EXPECT_NE(all.find(":9: agencies[0].sms_sender: no provider named 'nobody'"), std::string::npos)
        << all;
    EXPECT_NE(all.find(":10: agencies[1].code: agency 'A1' is listed twice"), std::string::npos)
        << all;
    EXPECT_NE(all.find(":11: agencies[2].code: 'other' is where"), std::string::npos) << all;
    EXPECT_NE(all.find("agencies[3].monthly_budget: needs dong, segments or both"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find(":14: prices[0].channel: a price is for one provider or for one channel"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find(":15: prices[1].per: only SMS have segments"), std::string::npos) << all;
    EXPECT_NE(all.find(":16: prices[2].telcos: unknown carrier 'viettle'"), std::string::npos)
        << all;
}

}  // namespace
}  // namespace tinbao
