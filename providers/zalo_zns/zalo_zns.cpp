#include "providers/zalo_zns/zalo_zns.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/redact.hpp"
#include "common/time.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/zalo_zns/zalo_internal.hpp"

namespace tinbao {

namespace asio = boost::asio;
namespace json = boost::json;

namespace zalo {

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

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return d.count() > 0 ? d : std::chrono::milliseconds(0);
}

std::optional<Quota> reply_quota(const json::object* data) {
    if (!data) return std::nullopt;
    const json::value* q = data->if_contains("quota");
    if (!q || !q->is_object()) return std::nullopt;
    auto daily = scalar_int(q->get_object().if_contains("dailyQuota"));
    auto remaining = scalar_int(q->get_object().if_contains("remainingQuota"));
    if (!daily || !remaining || *daily < 0 || *remaining < 0) return std::nullopt;
    return Quota{*daily, *remaining};
}

}  // namespace zalo

namespace {

using adapter::clean;
using adapter::is_http_url;
using adapter::parse_retry_after;
using adapter::permanent;
using adapter::retryable;
using adapter::scalar_text;
using adapter::transport_failure;
using zalo::handle_webhook;
using zalo::kDefaultParamMax;
using zalo::scalar_int;
using zalo::time_left;
using zalo::TokenOutcome;
using zalo::TokenSource;
using zalo::ZaloConfig;

constexpr int64_t kMorningMs = 6 * 3600 * 1000;  // 06:00 local

std::string truncated(std::string_view s, std::size_t max = 4096) {
    return std::string(s.substr(0, max));
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

class ZaloProvider final : public Provider {
  public:
    ZaloProvider(ProviderSettings settings, ZaloConfig config, const ProviderContext& ctx)
        : Provider(std::move(settings)),
          config_(std::move(config)),
          http_(ctx.http),
          tokens_(name(), config_, ctx) {}

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
        body = json::object();  // not kept while the answer is awaited

        const auto deadline = std::chrono::steady_clock::now() + settings().timeout;
        TokenOutcome token = co_await tokens_.access_token(false, {}, deadline);
        if (token.failure) co_return *token.failure;
        HttpResponse response = co_await post_template(token.access_token, wire, deadline);
        SendResult result = classify_zalo_reply(response, now_ms());
        if (!result.ok && result.reason == reason::kAuthFailed &&
            response.error == HttpResponse::Error::none) {
            // Part of the token handshake, not a pipeline retry: Zalo refused the access token.
            TokenOutcome fresh = co_await tokens_.access_token(true, token.access_token, deadline);
            if (fresh.failure) co_return *fresh.failure;
            response = co_await post_template(fresh.access_token, wire, deadline);
            result = classify_zalo_reply(response, now_ms());
        }
        note_quota(response);
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
        return handle_webhook(name(), config_, request, logged_oa_variant_, now_ms());
    }

    std::string problem() const override { return tokens_.problem(); }

    std::vector<Gauge> gauges() const override {
        std::vector<Gauge> out;
        if (auto at = tokens_.expires_at_ms(); at > 0)
            out.push_back({"token_expiry_timestamp_seconds", static_cast<double>(at) / 1000.0});
        if (quota_) {
            out.push_back({"quota_daily", static_cast<double>(quota_->daily)});
            out.push_back({"quota_remaining", static_cast<double>(quota_->remaining)});
        }
        return out;
    }

  private:
    // The quota a successful reply reports; -144 (the OA's daily quota is spent) leaves none.
    void note_quota(const HttpResponse& response) {
        if (response.error != HttpResponse::Error::none || response.status != 200) return;
        boost::system::error_code ec;
        json::value reply = json::parse(response.body, ec);
        if (ec || !reply.is_object()) return;
        auto code = scalar_int(reply.get_object().if_contains("error"));
        const json::value* d = reply.get_object().if_contains("data");
        if (code == 0) {
            if (auto q = zalo::reply_quota(d && d->is_object() ? &d->get_object() : nullptr))
                quota_ = q;
        } else if (code == -144 && quota_) {
            quota_->remaining = 0;
        }
    }

    static std::optional<std::string> zalo_phone(std::string_view to) {
        if (to.starts_with("+")) to.remove_prefix(1);
        if (to.size() < 10 || to.size() > 12 || !to.starts_with("84")) return std::nullopt;
        if (to.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        return std::string(to);
    }

    asio::awaitable<HttpResponse> post_template(const std::string& access_token,
                                                const std::string& wire,
                                                std::chrono::steady_clock::time_point deadline) {
        auto budget = time_left(deadline);
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
        HttpResponse response = co_await http_->perform(std::move(request));
        co_return response;
    }

    ZaloConfig config_;
    HttpClient* http_;
    TokenSource tokens_;
    std::optional<zalo::Quota> quota_;
    bool logged_oa_variant_ = false;
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
        if (auto v = cfg.duration("webhook_window")) {
            if (*v < std::chrono::seconds(30) || *v > std::chrono::hours(24))
                cfg.error("webhook_window", "must be between 30s and 24h");
            else
                c.webhook_window = *v;
        }
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
