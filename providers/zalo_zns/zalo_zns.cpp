#include "providers/zalo_zns/zalo_zns.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/redact.hpp"
#include "common/time.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/state_store.hpp"

namespace tinbao {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

using adapter::clean;
using adapter::is_http_url;
using adapter::parse_retry_after;
using adapter::permanent;
using adapter::retryable;
using adapter::scalar_text;
using adapter::transport_failure;

constexpr int64_t kMorningMs = 6 * 3600 * 1000;  // 06:00 local
constexpr int64_t kRefreshMarginMs = 5 * 60 * 1000;
constexpr std::chrono::milliseconds kLeaseTtl{30000};
constexpr std::chrono::milliseconds kLeasePoll{200};
// After a failed refresh, sends fail at once for this long instead of asking OAuth again.
constexpr std::chrono::seconds kRefreshBackoff{15};

// Zalo's longest documented parameter type (address, product, URL) allows 200 characters.
constexpr int64_t kDefaultParamMax = 200;

std::string truncated(std::string_view s, std::size_t max = 4096) {
    return std::string(s.substr(0, max));
}

std::optional<int64_t> scalar_int(const json::value* v) {
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
    if (v->is_string()) {
        std::string_view s = v->get_string();
        int64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc() && p == s.data() + s.size()) return n;
    }
    return std::nullopt;
}

// Characters as Zalo counts them: Unicode code points of the UTF-8 text.
std::size_t code_points(std::string_view s) {
    std::size_t n = 0;
    for (char c : s)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
    return n;
}

bool is_access_token_error(int64_t code) { return code == -124 || code == -216 || code == -220; }

bool is_config_error(int64_t code) {
    switch (code) {
        // app invalid or inactive, secret key, no OA; template, button, OA id; development
        // mode only; template not approved, OA without ZNS or blocked, template disabled;
        // appsecret_proof
        case -101:
        case -102:
        case -103:
        case -104:
        case -105:
        case -109:
        case -113:
        case -117:
        case -125:
        case -126:
        case -127:
        case -131:
        case -135:
        case -1351:
        case -146:
        case -1241:
            return true;
        default:
            return false;
    }
}

SendResult classify_code(int64_t code, const std::string& message, const json::object* data,
                         int64_t now) {
    std::string detail = "Zalo error " + std::to_string(code);
    if (!message.empty()) detail += ": " + message;
    if (code == 0) {
        std::string msg_id = data ? clean(scalar_text(data->if_contains("msg_id")), 100) : "";
        return SendResult::success(msg_id, detail);
    }
    if (is_access_token_error(code)) return retryable(reason::kAuthFailed, detail);
    if (is_config_error(code)) return permanent(reason::kConfigError, detail);
    switch (code) {
        case -108:
            return permanent(reason::kInvalidPhone, detail);
        case -110:  // Zalo app too old to show the message
        case -114:  // inactive user, refused, outdated app
        case -118:  // no Zalo account for this number
        case -119:  // account cannot receive messages
            return permanent(reason::kNoContact, detail);
        case -139:  // the user refused this content type
        case -141:  // the user refused ZNS from this OA
            return permanent(reason::kBlocked, detail);
        case -106:
        case -107:
        case -111:
        case -112:
        case -1121:
        case -1122:
        case -1124:
        case -116:
            return permanent(reason::kRejectedContent, detail);
        case -115:  // out of quota or balance: SMS takes over
        case -136:
        case -137:
            return permanent(reason::kQuotaExceeded, detail);
        case -133: {
            auto r = retryable(reason::kThrottled, detail + " (no sending 22:00-06:00)");
            r.not_before_ms = zalo_next_morning_ms(now);
            return r;
        }
        case -144:
        case -147: {
            auto r = retryable(reason::kQuotaExceeded, detail);
            r.not_before_ms = zalo_next_day_morning_ms(now);
            return r;
        }
        case -32:
            return retryable(reason::kThrottled, detail);
        default:  // -100 and anything undocumented
            return retryable(reason::kProviderError, detail);
    }
}

struct ZaloConfig {
    std::string base_url = "https://business.openapi.zalo.me";
    std::string oauth_url = "https://oauth.zaloapp.com";
    std::string app_id;
    std::string secret_key;
    std::string refresh_token;
    std::string webhook_secret;
    bool development_mode = false;
    int64_t param_max_length = kDefaultParamMax;
    std::map<std::string, int64_t, std::less<>> param_limits;
};

struct Tokens {
    std::string access_token;
    std::string refresh_token;
    int64_t expires_at_ms = 0;
};

std::string tokens_json(const Tokens& t) {
    json::object o;
    o["access_token"] = t.access_token;
    o["refresh_token"] = t.refresh_token;
    o["expires_at_ms"] = t.expires_at_ms;
    return json::serialize(o);
}

std::optional<Tokens> parse_tokens(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    Tokens t;
    t.access_token = scalar_text(o.if_contains("access_token"));
    t.refresh_token = scalar_text(o.if_contains("refresh_token"));
    t.expires_at_ms = scalar_int(o.if_contains("expires_at_ms")).value_or(0);
    if (t.refresh_token.empty()) return std::nullopt;
    return t;
}

// The outcome of getting an access token: the token, or why there is none.
struct TokenOutcome {
    std::string access_token;
    std::optional<SendResult> failure;
};

// One in-process refresh that other coroutines wait for.
struct Flight {
    explicit Flight(const asio::any_io_executor& ex) : done(ex) {
        done.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer done;
    TokenOutcome outcome;
};

class ZaloProvider final : public Provider {
  public:
    ZaloProvider(ProviderSettings settings, ZaloConfig config, const ProviderContext& ctx)
        : Provider(std::move(settings)),
          config_(std::move(config)),
          executor_(ctx.executor),
          http_(ctx.http),
          state_(ctx.state),
          tokens_key_("zalo:" + name() + ":tokens"),
          lease_key_("zalo:" + name() + ":refresh") {}

    asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::zalo)
            co_return permanent(reason::kConfigError, "zalo_zns sends zalo only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");
        auto phone = zalo_phone(msg.to);
        if (!phone) {
            co_return permanent(reason::kNoContact,
                                "zalo_zns sends by phone number; not one: " + mask_address(msg.to));
        }
        if (msg.template_id.empty())
            co_return permanent(reason::kTemplateError, "no Zalo template_id");
        json::object data;
        for (const auto& [key, value] : msg.params) {
            auto it = config_.param_limits.find(key);
            int64_t limit =
                it != config_.param_limits.end() ? it->second : config_.param_max_length;
            std::size_t n = code_points(value);
            if (static_cast<int64_t>(n) > limit) {
                co_return permanent(reason::kRejectedContent,
                                    "template parameter " + key + " is " + std::to_string(n) +
                                        " characters; Zalo allows " + std::to_string(limit));
            }
            data[key] = value;
        }
        json::object body;
        body["phone"] = *phone;
        body["template_id"] = msg.template_id;
        body["template_data"] = std::move(data);
        body["tracking_id"] = msg.id;
        if (config_.development_mode) body["mode"] = "development";
        std::string wire = json::serialize(body);

        const auto deadline = std::chrono::steady_clock::now() + settings().timeout;
        TokenOutcome token = co_await access_token(false, {}, deadline);
        if (token.failure) co_return *token.failure;
        HttpResponse response = co_await post_template(token.access_token, wire, deadline);
        SendResult result = classify_zalo_reply(response, now_ms());
        if (!result.ok && result.reason == reason::kAuthFailed &&
            response.error == HttpResponse::Error::none) {
            // Part of the token handshake, not a pipeline retry: Zalo refused the access token.
            TokenOutcome fresh = co_await access_token(true, token.access_token, deadline);
            if (fresh.failure) co_return *fresh.failure;
            response = co_await post_template(fresh.access_token, wire, deadline);
            result = classify_zalo_reply(response, now_ms());
        }
        if (!result.ok && result.reason == reason::kConfigError) {
            spdlog::error(
                "zalo_zns {}: Zalo refused template {}: {}; fix the provider or "
                "template configuration (messages go to the fallback channel)",
                name(), clean(msg.template_id, 40), result.detail);
        } else if (!result.ok && result.reason == reason::kQuotaExceeded &&
                   result.failure == FailureClass::permanent) {
            spdlog::error("zalo_zns {}: {}; Zalo account needs attention (quota or billing)",
                          name(), result.detail);
        }
        co_return result;
    }

    std::optional<CallbackResult> handle_callback(const CallbackRequest& request) override {
        if (config_.webhook_secret.empty()) return std::nullopt;
        CallbackResult out;
        auto reject = [&](int status, std::string_view why) {
            CallbackResult r;
            r.status = status;
            json::object e;
            e["error"] = json::object{{"code", why}};
            r.body = json::serialize(e);
            return r;
        };
        if (request.method != "POST") return reject(405, "method_not_allowed");
        std::string signature;
        for (const auto& [k, v] : request.headers)
            if (k == "x-zevent-signature") signature = v;
        if (signature.starts_with("mac=")) signature.erase(0, 4);
        for (char& c : signature)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (signature.empty()) return reject(401, "missing_signature");

        boost::system::error_code ec;
        json::value v = json::parse(request.body, ec);
        const json::object* obj = (!ec && v.is_object()) ? &v.get_object() : nullptr;
        std::string timestamp = obj ? scalar_text(obj->if_contains("timestamp")) : "";
        std::string oa_id;
        if (obj) {
            if (auto* s = obj->if_contains("sender"); s && s->is_object())
                oa_id = scalar_text(s->get_object().if_contains("id"));
        }
        // Zalo documents app id first; community code reports the OA id. Both need the secret.
        bool good = constant_time_equal(
            signature,
            hex_encode(sha256(config_.app_id + request.body + timestamp + config_.webhook_secret)));
        if (!good && !oa_id.empty()) {
            good = constant_time_equal(
                signature,
                hex_encode(sha256(oa_id + request.body + timestamp + config_.webhook_secret)));
            if (good && !logged_oa_variant_) {
                logged_oa_variant_ = true;
                spdlog::info("zalo_zns {}: webhook signatures use the OA id variant", name());
            }
        }
        if (!good) {
            spdlog::warn("zalo_zns {}: webhook with a bad X-ZEvent-Signature refused", name());
            return reject(401, "bad_signature");
        }
        if (!obj) return reject(400, "invalid_json");

        std::string event = scalar_text(obj->if_contains("event_name"));
        if (event != "user_received_message") return out;
        const json::value* m = obj->if_contains("message");
        if (!m || !m->is_object()) return out;
        const json::object& message = m->get_object();
        std::string tracking_id = scalar_text(message.if_contains("tracking_id"));
        // An OA-to-user message uses the same event name without tracking_id/delivery_time.
        if (tracking_id.empty()) return out;
        DeliveryUpdate u;
        u.message_id = clean(tracking_id, 100);
        u.provider_message_id = clean(scalar_text(message.if_contains("msg_id")), 100);
        u.dedupe_key = u.provider_message_id;
        u.state = "delivered";
        if (auto t = scalar_int(message.if_contains("delivery_time")))
            u.detail = "delivered at " + rfc3339_utc(*t);
        out.updates.push_back(std::move(u));
        return out;
    }

    std::string problem() const override { return problem_; }

  private:
    static std::optional<std::string> zalo_phone(std::string_view to) {
        if (to.starts_with("+")) to.remove_prefix(1);
        if (to.size() < 10 || to.size() > 12 || !to.starts_with("84")) return std::nullopt;
        if (to.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        return std::string(to);
    }

    static std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) {
        auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        return d.count() > 0 ? d : std::chrono::milliseconds(0);
    }

    asio::awaitable<HttpResponse> post_template(const std::string& access_token,
                                                const std::string& wire,
                                                std::chrono::steady_clock::time_point deadline) {
        auto budget = left(deadline);
        if (budget.count() == 0) {
            HttpResponse r;
            r.error = HttpResponse::Error::timeout;
            r.error_text = "deadline passed before the request";
            co_return r;
        }
        HttpRequest request;
        request.method = "POST";
        request.url = config_.base_url + "/message/template";
        request.headers = {{"Content-Type", "application/json"},
                           {"Accept", "application/json"},
                           {"access_token", access_token}};
        request.body = wire;
        request.timeout = budget;
        co_return co_await http_->perform(std::move(request));
    }

    bool usable(const Tokens& t, const std::string& rejected) const {
        return !t.access_token.empty() && t.access_token != rejected &&
               t.expires_at_ms - now_ms() > kRefreshMarginMs;
    }

    // The access token to send with; refreshes when it is missing, near expiry, or `force`d
    // because Zalo refused `rejected`.
    asio::awaitable<TokenOutcome> access_token(bool force, std::string rejected,
                                               std::chrono::steady_clock::time_point deadline) {
        if (!loaded_ && !flight_) {
            auto stored = co_await read_store();
            if (!stored.first) {
                co_return TokenOutcome{{},
                                       retryable(reason::kProviderUnavailable,
                                                 "state store unreadable (Zalo tokens)")};
            }
            if (!loaded_) {
                loaded_ = true;
                if (stored.second)
                    tokens_ = *stored.second;
                else
                    tokens_.refresh_token = config_.refresh_token;
            }
        }
        if (loaded_ && !pending_persist_ && usable(tokens_, force ? rejected : std::string()))
            co_return TokenOutcome{tokens_.access_token, std::nullopt};
        if (!problem_.empty() && !pending_persist_ &&
            std::chrono::steady_clock::now() < retry_refresh_at_)
            co_return TokenOutcome{
                {}, retryable(reason::kAuthFailed, "token refresh failed: " + last_failure_)};
        if (flight_) {
            auto flight = flight_;
            co_await flight->done.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return flight->outcome;
        }
        auto flight = std::make_shared<Flight>(executor_);
        flight_ = flight;
        std::string refused = force ? rejected : std::string();
        flight->outcome = co_await refresh(refused, deadline);
        flight_.reset();
        flight->done.cancel();
        co_return flight->outcome;
    }

    // {readable, stored pair}
    asio::awaitable<std::pair<bool, std::optional<Tokens>>> read_store() {
        if (!state_) co_return std::make_pair(true, std::optional<Tokens>{});
        StoreRead r = co_await state_->get(tokens_key_);
        if (!r.ok) co_return std::make_pair(false, std::optional<Tokens>{});
        if (!r.value) co_return std::make_pair(true, std::optional<Tokens>{});
        auto t = parse_tokens(*r.value);
        if (!t) {
            spdlog::error(
                "zalo_zns {}: stored token record is unreadable; using the configured "
                "refresh_token",
                name());
        }
        co_return std::make_pair(true, t);
    }

    TokenOutcome refresh_failed(std::string detail) {
        if (problem_.empty()) {
            spdlog::error("zalo_zns {}: access token refresh failed: {}; Zalo messages wait{}",
                          name(), detail,
                          detail.starts_with("OAuth error")
                              ? " (an OA admin may need to grant access again and set "
                                "refresh_token)"
                              : "");
        }
        problem_ = "Zalo token refresh failing: " + detail;
        last_failure_ = detail;
        retry_refresh_at_ = std::chrono::steady_clock::now() + kRefreshBackoff;
        return TokenOutcome{{}, retryable(reason::kAuthFailed, "token refresh failed: " + detail)};
    }

    TokenOutcome refresh_ok(const Tokens& t) {
        if (!problem_.empty()) spdlog::info("zalo_zns {}: token refresh works again", name());
        problem_.clear();
        return TokenOutcome{t.access_token, std::nullopt};
    }

    asio::awaitable<TokenOutcome> refresh(std::string rejected,
                                          std::chrono::steady_clock::time_point deadline) {
        // A pair refreshed earlier but not yet durable: store it before anything else.
        if (pending_persist_) {
            // (No co_await inside conditions: g++ 12 miscompiles some of those frames.)
            bool durable = co_await persist(tokens_);
            if (!durable) co_return refresh_failed("state store write failed");
            pending_persist_ = false;
            if (usable(tokens_, rejected)) co_return refresh_ok(tokens_);
        }
        for (;;) {
            bool leased = true;
            if (state_) leased = co_await state_->try_lock(lease_key_, kLeaseTtl);
            if (leased) {
                TokenOutcome out = co_await refresh_leased(rejected, deadline);
                if (state_) co_await state_->unlock(lease_key_);
                co_return out;
            }
            // Another instance refreshes: wait briefly, then take what it stored.
            if (left(deadline) <= kLeasePoll)
                co_return refresh_failed("another instance holds the refresh lease");
            asio::steady_timer wait(executor_, kLeasePoll);
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
            auto stored = co_await read_store();
            if (stored.first && stored.second && usable(*stored.second, rejected)) {
                tokens_ = *stored.second;
                co_return refresh_ok(tokens_);
            }
        }
    }

    asio::awaitable<TokenOutcome> refresh_leased(std::string rejected,
                                                 std::chrono::steady_clock::time_point deadline) {
        // The store holds the newest pair (another instance may have rotated it).
        auto stored = co_await read_store();
        if (!stored.first) co_return refresh_failed("state store unreadable");
        if (stored.second) {
            tokens_ = *stored.second;
            if (usable(tokens_, rejected)) co_return refresh_ok(tokens_);
        }
        std::string detail;
        auto fresh = co_await call_oauth(tokens_.refresh_token, deadline, detail);
        if (!fresh && !config_.refresh_token.empty() && !tried_configured_ &&
            tokens_.refresh_token != config_.refresh_token) {
            // The stored chain is dead; an operator may have configured a newly granted token.
            tried_configured_ = true;
            std::string second;
            fresh = co_await call_oauth(config_.refresh_token, deadline, second);
            if (!fresh) detail += "; configured refresh_token: " + second;
        }
        if (!fresh) co_return refresh_failed(detail);
        tokens_ = *fresh;
        bool durable = co_await persist(tokens_);
        if (!durable) {
            // The old refresh token is spent: keep the new pair, unused, until it is stored.
            pending_persist_ = true;
            co_return refresh_failed("state store write failed; new tokens kept until stored");
        }
        spdlog::info("zalo_zns {}: access token refreshed, valid until {}", name(),
                     rfc3339_utc(tokens_.expires_at_ms));
        co_return refresh_ok(tokens_);
    }

    asio::awaitable<bool> persist(const Tokens& t) {
        if (!state_) co_return true;
        co_return co_await state_->put(tokens_key_, tokens_json(t));
    }

    asio::awaitable<std::optional<Tokens>> call_oauth(
        const std::string& refresh_token, std::chrono::steady_clock::time_point deadline,
        std::string& detail) {
        if (refresh_token.empty()) {
            detail = "no refresh token";
            co_return std::nullopt;
        }
        auto budget = left(deadline);
        if (budget.count() == 0) {
            detail = "deadline passed";
            co_return std::nullopt;
        }
        HttpRequest request;
        request.method = "POST";
        request.url = config_.oauth_url + "/v4/oa/access_token";
        request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                           {"Accept", "application/json"},
                           {"secret_key", config_.secret_key}};
        request.body = "app_id=" + percent_encode(config_.app_id) +
                       "&grant_type=refresh_token&refresh_token=" + percent_encode(refresh_token);
        request.timeout = budget;
        HttpResponse response = co_await http_->perform(std::move(request));
        if (response.error != HttpResponse::Error::none) {
            detail = "OAuth request failed: " + clean(response.error_text);
            co_return std::nullopt;
        }
        boost::system::error_code ec;
        json::value v = json::parse(response.body, ec);
        const json::object* o = (!ec && v.is_object()) ? &v.get_object() : nullptr;
        if (response.status != 200 || !o) {
            detail = "OAuth HTTP " + std::to_string(response.status);
            co_return std::nullopt;
        }
        Tokens t;
        t.access_token = scalar_text(o->if_contains("access_token"));
        t.refresh_token = scalar_text(o->if_contains("refresh_token"));
        auto expires_in = scalar_int(o->if_contains("expires_in"));
        if (t.access_token.empty() || t.refresh_token.empty() || !expires_in) {
            auto code = scalar_int(o->if_contains("error"));
            std::string text = scalar_text(o->if_contains("error_description"));
            if (text.empty()) text = scalar_text(o->if_contains("error_name"));
            if (text.empty()) text = scalar_text(o->if_contains("message"));
            detail = "OAuth error " + (code ? std::to_string(*code) : std::string("?"));
            if (!text.empty()) detail += ": " + clean(text);
            co_return std::nullopt;
        }
        t.expires_at_ms = now_ms() + *expires_in * 1000;
        co_return t;
    }

    ZaloConfig config_;
    asio::any_io_executor executor_;
    HttpClient* http_;
    StateStore* state_;
    std::string tokens_key_;
    std::string lease_key_;
    Tokens tokens_;
    bool loaded_ = false;
    bool pending_persist_ = false;
    bool tried_configured_ = false;
    bool logged_oa_variant_ = false;
    std::shared_ptr<Flight> flight_;
    std::string problem_;
    std::string last_failure_;
    std::chrono::steady_clock::time_point retry_refresh_at_{};
};

class ZaloFactory final : public adapter::FactoryKit<ZaloConfig> {
  public:
    ZaloFactory() : FactoryKit("zalo_zns", {Channel::zalo}) {}

  protected:
    ZaloConfig read(const ProviderSettings&, ConfigView& cfg,
                    const ProviderContext&) const override {
        ZaloConfig c;
        auto url = [&](std::string_view key, std::string& into) {
            if (auto v = cfg.string(key)) {
                into = *v;
                while (!into.empty() && into.back() == '/') into.pop_back();
                if (!is_http_url(into)) cfg.error(key, "must be an http:// or https:// URL");
            }
        };
        url("base_url", c.base_url);
        url("oauth_url", c.oauth_url);
        auto required = [&](std::string_view key, std::string& into) {
            if (auto v = cfg.string(key, true)) {
                into = *v;
                if (into.empty()) cfg.error(key, "must not be empty");
            }
        };
        required("app_id", c.app_id);
        required("secret_key", c.secret_key);
        required("refresh_token", c.refresh_token);
        if (auto v = cfg.string("webhook_secret")) c.webhook_secret = *v;
        if (auto v = cfg.boolean("development_mode")) c.development_mode = *v;
        if (auto v = cfg.integer("param_max_length", 1, 2000)) c.param_max_length = *v;
        if (auto m = cfg.string_map("param_limits")) {
            for (auto& [k, v] : *m) {
                int64_t n = 0;
                auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > 2000)
                    cfg.error("param_limits", "limit of " + k + " must be a number 1..2000");
                else
                    c.param_limits[k] = n;
            }
        }
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, ZaloConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<ZaloProvider>(settings, std::move(c), ctx);
    }
};

}  // namespace

int64_t zalo_next_morning_ms(int64_t now) {
    int64_t morning = local_day_start_ms(now) + kMorningMs;
    if (morning <= now) morning += kDayMs;
    return morning;
}

int64_t zalo_next_day_morning_ms(int64_t now) {
    return local_day_start_ms(now) + kDayMs + kMorningMs;
}

SendResult classify_zalo_reply(const HttpResponse& response, int64_t now) {
    if (auto failed = transport_failure(response)) return *failed;
    SendResult r;
    const int status = response.status;
    if (status == 429) {
        r = retryable(reason::kThrottled, "HTTP 429");
        r.retry_after = parse_retry_after(response.header("retry-after"));
    } else if (status >= 500) {
        r = retryable(reason::kProviderUnavailable, "HTTP " + std::to_string(status));
        r.retry_after = parse_retry_after(response.header("retry-after"));
    } else {
        boost::system::error_code ec;
        json::value reply = json::parse(response.body, ec);
        const json::object* obj = (!ec && reply.is_object()) ? &reply.get_object() : nullptr;
        auto code = obj ? scalar_int(obj->if_contains("error")) : std::nullopt;
        if (!code) {
            r = retryable(reason::kProviderError,
                          "HTTP " + std::to_string(status) + ": reply without error code (" +
                              std::to_string(response.body.size()) + " bytes)");
        } else {
            const json::value* d = obj->if_contains("data");
            r = classify_code(*code, clean(scalar_text(obj->if_contains("message"))),
                              d && d->is_object() ? &d->get_object() : nullptr, now);
        }
    }
    r.raw_response = truncated(response.body);
    return r;
}

std::unique_ptr<ProviderFactory> make_zalo_zns_factory() { return std::make_unique<ZaloFactory>(); }

}  // namespace tinbao
