#include "providers/zalo_zns/zalo_internal.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <string>
#include <utility>

#include "common/encoding.hpp"
#include "common/time.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"

namespace tinbao::zalo {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

using adapter::clean;
using adapter::retryable;
using adapter::scalar_text;

constexpr int64_t kRefreshMarginMs = 5 * 60 * 1000;
constexpr std::chrono::milliseconds kLeaseTtl{30000};
constexpr std::chrono::milliseconds kLeasePoll{200};
// After a failed refresh, sends fail at once for this long instead of asking OAuth again.
constexpr std::chrono::seconds kRefreshBackoff{15};

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

}  // namespace

TokenSource::TokenSource(std::string provider_name, const ZaloConfig& config,
                         const ProviderContext& ctx)
    : name_(std::move(provider_name)),
      config_(config),
      executor_(ctx.executor),
      http_(ctx.http),
      state_(ctx.state),
      tokens_key_("zalo:" + name_ + ":tokens"),
      lease_key_("zalo:" + name_ + ":refresh") {}

bool TokenSource::usable(const Tokens& t, const std::string& rejected) const {
    return !t.access_token.empty() && t.access_token != rejected &&
           t.expires_at_ms - now_ms() > kRefreshMarginMs;
}

asio::awaitable<TokenOutcome> TokenSource::access_token(
    bool force, std::string rejected, std::chrono::steady_clock::time_point deadline) {
    if (!loaded_ && !flight_) {
        auto stored = co_await read_store();
        if (!stored.first) {
            co_return TokenOutcome{
                {},
                retryable(reason::kProviderUnavailable, "state store unreadable (Zalo tokens)")};
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
asio::awaitable<std::pair<bool, std::optional<Tokens>>> TokenSource::read_store() {
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

TokenOutcome TokenSource::refresh_failed(std::string detail) {
    if (problem_.empty()) {
        spdlog::error("zalo_zns {}: access token refresh failed: {}; Zalo messages wait{}", name(),
                      detail,
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

TokenOutcome TokenSource::refresh_ok(const Tokens& t) {
    if (!problem_.empty()) spdlog::info("zalo_zns {}: token refresh works again", name());
    problem_.clear();
    return TokenOutcome{t.access_token, std::nullopt};
}

asio::awaitable<TokenOutcome> TokenSource::refresh(std::string rejected,
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
        if (time_left(deadline) <= kLeasePoll)
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

asio::awaitable<TokenOutcome> TokenSource::refresh_leased(
    std::string rejected, std::chrono::steady_clock::time_point deadline) {
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

asio::awaitable<bool> TokenSource::persist(const Tokens& t) {
    if (!state_) co_return true;
    bool stored = co_await state_->put(tokens_key_, tokens_json(t));
    co_return stored;
}

asio::awaitable<std::optional<Tokens>> TokenSource::call_oauth(
    const std::string& refresh_token, std::chrono::steady_clock::time_point deadline,
    std::string& detail) {
    if (refresh_token.empty()) {
        detail = "no refresh token";
        co_return std::nullopt;
    }
    auto budget = time_left(deadline);
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
    t.expires_at_ms = add_saturated(now_ms(), seconds_to_ms_saturated(*expires_in));
    co_return t;
}

}  // namespace tinbao::zalo
