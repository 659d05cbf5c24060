#include "providers/fpt/fpt.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
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

constexpr std::size_t kRawResponseMax = 4096;
constexpr std::size_t kMinTokenLength = 16;
constexpr std::chrono::milliseconds kLeaseTtl{30000};
constexpr std::chrono::milliseconds kLeasePoll{200};
// After a failed refresh, sends fail at once for this long instead of asking OAuth again.
constexpr std::chrono::seconds kRefreshBackoff{15};
// How long the provider's id of a sent message is kept for its delivery report.
constexpr std::chrono::hours kReportWindow{24 * 7};

struct FptConfig {
    std::string base_url = "https://app.sms.fpt.net";
    std::string client_id;
    std::string client_secret;
    std::string scope = "send_brandname_otp";
    std::string brandname;
    std::string callback_token;
};

struct Token {
    std::string access_token;
    std::string session_id;
    int64_t expires_at_ms = 0;
    int64_t obtained_at_ms = 0;
};

std::string token_json(const Token& t) {
    json::object o;
    o["access_token"] = t.access_token;
    o["session_id"] = t.session_id;
    o["expires_at_ms"] = t.expires_at_ms;
    o["obtained_at_ms"] = t.obtained_at_ms;
    return json::serialize(o);
}

std::optional<int64_t> json_int(const json::value* v) {
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
        return static_cast<int64_t>(v->get_uint64());
    if (v->is_double()) return static_cast<int64_t>(v->get_double());
    if (v->is_string()) {
        std::string_view s = v->get_string();
        int64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc() && p == s.data() + s.size()) return n;
    }
    return std::nullopt;
}

std::optional<Token> parse_token(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    Token t;
    t.access_token = scalar_text(o.if_contains("access_token"));
    t.session_id = scalar_text(o.if_contains("session_id"));
    t.expires_at_ms = json_int(o.if_contains("expires_at_ms")).value_or(0);
    t.obtained_at_ms = json_int(o.if_contains("obtained_at_ms")).value_or(0);
    if (t.access_token.empty()) return std::nullopt;
    return t;
}

// Shortly before expiry: a quarter of the token's life, at most five minutes.
bool usable(const Token& t, const std::string& rejected) {
    if (t.access_token.empty() || t.access_token == rejected) return false;
    int64_t life = t.expires_at_ms - t.obtained_at_ms;
    int64_t margin = std::min<int64_t>(5 * 60 * 1000, std::max<int64_t>(life / 4, 0));
    return t.expires_at_ms - margin > now_ms();
}

std::string random_session_id() {
    static const char* hex = "0123456789abcdef";
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 32; ++i) out += hex[rd() % 16];
    return out;
}

std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

// The error code of an FPT answer: {"error": 1013, "error_description": "..."}.
std::string error_code(const json::object* o) {
    if (!o) return {};
    return scalar_text(o->if_contains("error"));
}

bool token_refused(const std::string& code) { return code == "1011" || code == "1013"; }

struct TokenOutcome {
    Token token;
    std::optional<SendResult> failure;
};

struct Flight {
    explicit Flight(const asio::any_io_executor& ex) : done(ex) {
        done.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer done;
    TokenOutcome outcome;
};

class FptProvider final : public Provider {
  public:
    FptProvider(ProviderSettings settings, FptConfig config, const ProviderContext& ctx)
        : Provider(std::move(settings)),
          config_(std::move(config)),
          executor_(ctx.executor),
          http_(ctx.http),
          state_(ctx.state),
          token_key_("fpt:" + name() + ":token"),
          lease_key_("fpt:" + name() + ":refresh"),
          sms_prefix_("fpt:" + name() + ":sms:") {}

    asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "fpt sends sms only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");
        const auto deadline = std::chrono::steady_clock::now() + settings().timeout;
        std::string rejected;
        SendResult result;
        for (int round = 0; round < 2; ++round) {
            TokenOutcome token = co_await access_token(rejected, deadline);
            if (token.failure) co_return std::move(*token.failure);
            HttpResponse response = co_await push(msg, token.token, deadline);
            result = classify_fpt_reply(response);
            result.raw_response = response.error == HttpResponse::Error::none
                                      ? response.body.substr(0, kRawResponseMax)
                                      : clean(response.error_text);
            if (!refused_token(response)) break;
            // The token was refused (expired early, revoked): one refresh, one more send.
            rejected = token.token.access_token;
        }
        if (result.ok && !result.provider_message_id.empty() && state_) {
            // The delivery report names FPT's id: keep the way back to the message.
            bool kept = co_await state_->put_for(sms_prefix_ + result.provider_message_id, msg.id,
                                                 kReportWindow);
            if (!kept)
                spdlog::warn(
                    "fpt {}: message {}: the state store did not keep MessageId {}; "
                    "its delivery report will not be matched",
                    name(), msg.id, result.provider_message_id);
        }
        co_return result;
    }

    std::optional<CallbackResult> handle_callback(const CallbackRequest& request) override {
        if (config_.callback_token.empty()) return std::nullopt;
        CallbackResult result;
        const std::string* token = nullptr;
        for (const auto& [k, v] : request.query)
            if (k == "token") token = &v;
        if (!token || !constant_time_equal(*token, config_.callback_token)) {
            result.status = 403;
            result.body = R"({"error":{"code":"forbidden","message":"bad callback token"}})";
            return result;
        }
        std::vector<json::object> reports;
        if (!request.body.empty()) {
            boost::system::error_code ec;
            json::value v = json::parse(request.body, ec);
            if (ec || !(v.is_object() || v.is_array())) {
                result.status = 400;
                result.body = R"({"error":{"code":"bad_request","message":"not JSON"}})";
                return result;
            }
            if (v.is_object()) reports.push_back(std::move(v.get_object()));
            if (v.is_array())
                for (auto& e : v.get_array())
                    if (e.is_object()) reports.push_back(std::move(e.get_object()));
        } else {
            json::object o;
            for (const auto& [k, v] : request.query)
                if (k != "token") o[k] = v;
            reports.push_back(std::move(o));
        }
        std::vector<DeliveryUpdate> by_provider_id;
        for (const auto& r : reports) {
            auto u = report_update(r);
            if (!u) continue;
            if (!u->message_id.empty())
                result.updates.push_back(std::move(*u));
            else
                by_provider_id.push_back(std::move(*u));
        }
        if (!by_provider_id.empty() && state_) {
            // Runs after the answer, maybe after a reload replaced this provider: it holds
            // nothing of it but the store (the queue's, alive as long as the daemon).
            result.resolve = [state = state_, name = name(), prefix = sms_prefix_,
                              pending = std::move(by_provider_id)]() mutable {
                return resolve(state, std::move(name), std::move(prefix), std::move(pending));
            };
        }
        return result;
    }

    std::string problem() const override { return problem_; }

  private:
    // A field of a report, its name in any case ("Status", "status").
    static std::string field(const json::object& o, std::string_view name) {
        for (const auto& [k, v] : o) {
            std::string_view key = k;
            if (key.size() == name.size() &&
                std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) ==
                           std::tolower(static_cast<unsigned char>(b));
                }))
                return clean(scalar_text(&v), 100);
        }
        return {};
    }

    std::optional<DeliveryUpdate> report_update(const json::object& r) const {
        std::string status = field(r, "Status");
        std::string smsid = field(r, "smsid");
        if (smsid.empty()) smsid = field(r, "MessageId");
        std::string request_id = field(r, "RequestId");
        if (smsid.empty() && request_id.empty()) return std::nullopt;
        DeliveryUpdate u;
        u.message_id = request_id;
        u.provider_message_id = smsid;
        std::string error = field(r, "Error");
        std::string telco = field(r, "Telco");
        u.detail = "Status " + status;
        if (!error.empty()) u.detail += ", Error " + error;
        if (!telco.empty()) u.detail += ", Telco " + telco;
        if (status == "1") {
            u.state = "delivered";
        } else if (status == "0") {
            u.state = "failed";
            u.reason = std::string(reason::kProviderError);
            u.detail = "not delivered (" + u.detail + ")";
        } else {
            return std::nullopt;  // 2, -11: pending; anything else: not a final state
        }
        u.dedupe_key = "fpt:" + (smsid.empty() ? request_id : smsid) + ":" + status;
        return u;
    }

    static asio::awaitable<std::vector<DeliveryUpdate>> resolve(
        StateStore* state, std::string name, std::string prefix,
        std::vector<DeliveryUpdate> pending) {
        std::vector<DeliveryUpdate> out;
        for (auto& u : pending) {
            StoreRead found = co_await state->get(prefix + u.provider_message_id);
            if (!found.ok || !found.value || found.value->empty()) {
                spdlog::warn("fpt {}: a delivery report for MessageId {} matches no message{}",
                             name, u.provider_message_id,
                             found.ok ? " (older than 7 days, or not sent by tinbao)"
                                      : " (the state store cannot be read)");
                continue;
            }
            u.message_id = *found.value;
            out.push_back(std::move(u));
        }
        co_return out;
    }

    static bool refused_token(const HttpResponse& response) {
        if (response.error != HttpResponse::Error::none) return false;
        if (response.status == 401) return true;
        boost::system::error_code ec;
        json::value v = json::parse(response.body, ec);
        return !ec && v.is_object() && token_refused(error_code(&v.get_object()));
    }

    asio::awaitable<HttpResponse> push(const OutboundMessage& msg, const Token& token,
                                       std::chrono::steady_clock::time_point deadline) {
        json::object body;
        body["access_token"] = token.access_token;
        body["session_id"] = token.session_id;
        body["BrandName"] = msg.sender.empty() ? config_.brandname : msg.sender;
        body["Phone"] = msg.to;
        body["Message"] = base64_encode(msg.text);
        body["RequestId"] = msg.id;
        HttpRequest request;
        request.method = "POST";
        request.url = config_.base_url + "/api/push-brandname-otp";
        request.headers = {{"Content-Type", "application/json; charset=utf-8"},
                           {"Accept", "application/json"}};
        request.body = json::serialize(body);
        body = json::object();  // not kept while the answer is awaited
        request.timeout = time_left(deadline);
        if (request.timeout.count() == 0) {
            HttpResponse timed_out;
            timed_out.error = HttpResponse::Error::timeout;
            timed_out.error_text = "deadline passed before the send";
            co_return timed_out;
        }
        HttpResponse response = co_await http_->perform(std::move(request));
        co_return response;
    }

    // The token to send with: the cached one, the stored one, or a new one (single-flight).
    asio::awaitable<TokenOutcome> access_token(std::string rejected,
                                               std::chrono::steady_clock::time_point deadline) {
        if (usable(token_, rejected)) co_return TokenOutcome{token_, std::nullopt};
        if (flight_) {
            auto flight = flight_;
            co_await flight->done.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return flight->outcome;
        }
        if (!problem_.empty() && std::chrono::steady_clock::now() < retry_refresh_at_ &&
            rejected.empty())
            co_return TokenOutcome{{}, last_failure_};
        auto flight = std::make_shared<Flight>(executor_);
        flight_ = flight;
        flight->outcome = co_await refresh(rejected, deadline);
        flight_.reset();
        flight->done.cancel();
        co_return flight->outcome;
    }

    asio::awaitable<std::optional<Token>> stored(const std::string& rejected, bool& readable) {
        readable = true;
        if (!state_) co_return std::nullopt;
        StoreRead r = co_await state_->get(token_key_);
        if (!r.ok) {
            readable = false;
            co_return std::nullopt;
        }
        if (!r.value) co_return std::nullopt;
        auto t = parse_token(*r.value);
        if (!t || !usable(*t, rejected)) co_return std::nullopt;
        co_return t;
    }

    asio::awaitable<TokenOutcome> refresh(std::string rejected,
                                          std::chrono::steady_clock::time_point deadline) {
        bool readable = true;
        auto shared = co_await stored(rejected, readable);
        if (shared) co_return ok(*shared);
        for (;;) {
            bool leased = true;
            if (state_) leased = co_await state_->try_lock(lease_key_, kLeaseTtl);
            if (leased) {
                TokenOutcome out = co_await refresh_leased(rejected, deadline);
                if (state_) co_await state_->unlock(lease_key_);
                co_return out;
            }
            // Another instance asks for a token: take what it stores.
            if (time_left(deadline) <= kLeasePoll)
                co_return failed(retryable(reason::kProviderUnavailable,
                                           "token: another instance holds the refresh lease"));
            asio::steady_timer wait(executor_, kLeasePoll);
            co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
            auto theirs = co_await stored(rejected, readable);
            if (theirs) co_return ok(*theirs);
        }
    }

    asio::awaitable<TokenOutcome> refresh_leased(std::string rejected,
                                                 std::chrono::steady_clock::time_point deadline) {
        bool readable = true;
        auto shared = co_await stored(rejected, readable);  // refreshed while we waited
        if (shared) co_return ok(*shared);
        auto budget = time_left(deadline);
        if (budget.count() == 0)
            co_return failed(retryable(reason::kTimeout, "token: deadline passed"));
        Token t;
        t.session_id = random_session_id();
        json::object body;
        body["grant_type"] = "client_credentials";
        body["client_id"] = config_.client_id;
        body["client_secret"] = config_.client_secret;
        body["scope"] = config_.scope;
        body["session_id"] = t.session_id;
        HttpRequest request;
        request.method = "POST";
        request.url = config_.base_url + "/oauth2/token";
        request.headers = {{"Content-Type", "application/json; charset=utf-8"},
                           {"Accept", "application/json"}};
        request.body = json::serialize(body);
        request.timeout = budget;
        HttpResponse response = co_await http_->perform(std::move(request));
        if (auto failed_transport = transport_failure(response)) {
            failed_transport->detail = "token: " + failed_transport->detail;
            co_return failed(std::move(*failed_transport));
        }
        boost::system::error_code ec;
        json::value v = json::parse(response.body, ec);
        const json::object* o = (!ec && v.is_object()) ? &v.get_object() : nullptr;
        const std::string http = "token: HTTP " + std::to_string(response.status);
        t.access_token = o ? scalar_text(o->if_contains("access_token")) : std::string();
        auto expires_in = o ? json_int(o->if_contains("expires_in")) : std::nullopt;
        if (response.status == 200 && !t.access_token.empty() && expires_in && *expires_in > 0) {
            t.obtained_at_ms = now_ms();
            t.expires_at_ms = add_saturated(t.obtained_at_ms, seconds_to_ms_saturated(*expires_in));
            bool stored_ok = !state_;
            if (state_) stored_ok = co_await state_->put(token_key_, token_json(t));
            if (!stored_ok)
                spdlog::warn(
                    "fpt {}: the state store did not keep the new token; other "
                    "instances will ask for their own",
                    name());
            spdlog::info("fpt {}: access token obtained, valid until {}", name(),
                         rfc3339_utc(t.expires_at_ms));
            co_return ok(t);
        }
        std::string code = error_code(o);
        std::string text = o ? clean(scalar_text(o->if_contains("error_description"))) : "";
        std::string detail = http + (code.empty() ? "" : ", error " + clean(code, 16)) +
                             (text.empty() ? "" : ": " + text);
        if (response.status == 429) {
            auto r = retryable(reason::kThrottled, detail);
            r.retry_after = parse_retry_after(response.header("retry-after"));
            co_return failed(std::move(r));
        }
        if (response.status >= 500)
            co_return failed(retryable(reason::kProviderUnavailable, detail));
        // The credentials or the scope are refused (1008, 400, 401): the account's problem.
        if (code == "1008" || response.status == 400 || response.status == 401 ||
            response.status == 403)
            co_return failed(permanent(reason::kAuthFailed, detail));
        co_return failed(retryable(reason::kProviderError, detail));
    }

    TokenOutcome ok(const Token& t) {
        if (!problem_.empty()) spdlog::info("fpt {}: the token endpoint works again", name());
        problem_.clear();
        token_ = t;
        return TokenOutcome{t, std::nullopt};
    }

    TokenOutcome failed(SendResult why) {
        if (problem_.empty())
            spdlog::error("fpt {}: no access token: {}: {}", name(), why.reason, why.detail);
        problem_ = "FPT token request failing: " + why.detail;
        last_failure_ = why;
        retry_refresh_at_ = std::chrono::steady_clock::now() + kRefreshBackoff;
        return TokenOutcome{{}, std::move(why)};
    }

    FptConfig config_;
    asio::any_io_executor executor_;
    HttpClient* http_;
    StateStore* state_;
    std::string token_key_;
    std::string lease_key_;
    std::string sms_prefix_;
    Token token_;
    std::shared_ptr<Flight> flight_;
    std::string problem_;
    SendResult last_failure_;
    std::chrono::steady_clock::time_point retry_refresh_at_{};
};

class FptFactory final : public adapter::FactoryKit<FptConfig> {
  public:
    FptFactory() : FactoryKit("fpt", {Channel::sms}) {}

  protected:
    FptConfig read(const ProviderSettings&, ConfigView& cfg,
                   const ProviderContext&) const override {
        FptConfig c;
        if (auto v = cfg.string("base_url")) {
            c.base_url = *v;
            while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
            if (!is_http_url(c.base_url))
                cfg.error("base_url", "must be an http:// or https:// URL");
        }
        auto required = [&](std::string_view key, std::string& into) {
            if (auto v = cfg.string(key, true)) {
                into = *v;
                if (into.empty()) cfg.error(key, "must not be empty");
            }
        };
        required("client_id", c.client_id);
        required("client_secret", c.client_secret);
        required("brandname", c.brandname);
        if (auto v = cfg.string("scope")) {
            c.scope = *v;
            if (c.scope.empty()) cfg.error("scope", "must not be empty");
        }
        if (auto v = cfg.string("callback_token")) {
            c.callback_token = *v;
            if (c.callback_token.size() < kMinTokenLength)
                cfg.error("callback_token", "must be at least 16 characters");
        }
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, FptConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<FptProvider>(settings, std::move(c), ctx);
    }
};

}  // namespace

SendResult classify_fpt_reply(const HttpResponse& response) {
    if (auto failed = transport_failure(response)) return *failed;
    const int status = response.status;
    const std::string http = "HTTP " + std::to_string(status);
    boost::system::error_code ec;
    json::value reply = json::parse(response.body, ec);
    const json::object* o = (!ec && reply.is_object()) ? &reply.get_object() : nullptr;
    const std::string code = clean(error_code(o), 16);
    const std::string text = o ? clean(scalar_text(o->if_contains("error_description"))) : "";
    std::string detail = http;
    if (!code.empty()) detail += ", error " + code;
    if (!text.empty()) detail += ": " + text;
    if (status == 429) {
        auto r = retryable(reason::kThrottled, detail);
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    if (status >= 500) {
        auto r = retryable(reason::kProviderUnavailable, detail);
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    if (status == 401 || token_refused(code)) return retryable(reason::kAuthFailed, detail);
    if (!code.empty() && code != "0") {
        int n = 0;
        std::from_chars(code.data(), code.data() + code.size(), n);
        switch (n) {
            case 1008:  // client_id / client_secret refused
                return permanent(reason::kAuthFailed, detail);
            case 2501:  // the same message within 5 minutes: an earlier attempt got through
                return SendResult::success({}, detail + " (already sent)");
            case 2513:  // brandname wrong or not declared for the account
                return permanent(reason::kConfigError, detail);
            case 2518:  // the text matches no registered template
                return permanent(reason::kTemplateNotRegistered, detail);
            case 2519:  // a forbidden keyword
                return permanent(reason::kRejectedContent, detail);
            default:
                return retryable(reason::kProviderError, detail);
        }
    }
    std::string id = o ? clean(scalar_text(o->if_contains("MessageId")), 100) : std::string();
    if (status >= 200 && status < 300 && !id.empty()) {
        std::string telco = clean(scalar_text(o->if_contains("Telco")), 32);
        return SendResult::success(id, http + (telco.empty() ? "" : ", Telco " + telco));
    }
    if (status == 403) return permanent(reason::kAuthFailed, detail);
    if (status == 404) return permanent(reason::kConfigError, detail + ": no API at base_url");
    return retryable(reason::kProviderError, detail + ": reply without MessageId (" +
                                                 std::to_string(response.body.size()) + " bytes)");
}

std::unique_ptr<ProviderFactory> make_fpt_factory() { return std::make_unique<FptFactory>(); }

}  // namespace tinbao
