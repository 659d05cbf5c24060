// Internals of the zalo_zns adapter, shared by its files: zalo_zns.cpp (sending, reply codes,
// the factory), zalo_tokens.cpp (the access token and its refresh), zalo_webhook.cpp (delivery
// call-backs and ratings). Not part of the adapter's interface (zalo_zns.hpp is).
//
// Threading: as the adapter, one io_context thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"
#include "providers/state_store.hpp"

namespace tinbao::zalo {

// Zalo's longest documented parameter type (address, product, URL) allows 200 characters.
constexpr int64_t kDefaultParamMax = 200;

struct ZaloConfig {
    std::string base_url = "https://business.openapi.zalo.me";
    std::string oauth_url = "https://oauth.zaloapp.com";
    std::string app_id;
    std::string secret_key;
    std::string refresh_token;
    std::string webhook_secret;
    // How far a webhook's signed `timestamp` may be from our clock before it is refused as a
    // replay (or a sender whose clock is wrong).
    std::chrono::milliseconds webhook_window{std::chrono::minutes(10)};
    bool development_mode = false;
    int64_t param_max_length = kDefaultParamMax;
    std::map<std::string, int64_t, std::less<>> param_limits;
};

// A JSON value documented as a number that may come as a string.
std::optional<int64_t> scalar_int(const boost::json::value* v);

// What is left of a deadline (zero when passed).
std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline);

struct Tokens {
    std::string access_token;
    std::string refresh_token;
    int64_t expires_at_ms = 0;
};

// The outcome of getting an access token: the token, or why there is none.
struct TokenOutcome {
    std::string access_token;
    std::optional<SendResult> failure;
};

// One in-process refresh that other coroutines wait for.
struct Flight {
    explicit Flight(const boost::asio::any_io_executor& ex) : done(ex) {
        done.expires_at(boost::asio::steady_timer::time_point::max());
    }
    boost::asio::steady_timer done;
    TokenOutcome outcome;
};

// The access token of one provider. The pair (access token, single-use rotating refresh token)
// lives in the StateStore under "zalo:<name>:tokens"; a new pair is stored before it is used,
// and the configured refresh_token is only the seed when nothing is stored. Refresh is
// proactive (near expiry), single-flight in the process (one coroutine refreshes, the others
// await it) and across instances (the lease "zalo:<name>:refresh").
class TokenSource {
  public:
    TokenSource(std::string provider_name, const ZaloConfig& config, const ProviderContext& ctx);

    // The access token to send with; refreshes when it is missing, near expiry, or `force`d
    // because Zalo refused `rejected`.
    boost::asio::awaitable<TokenOutcome> access_token(
        bool force, std::string rejected, std::chrono::steady_clock::time_point deadline);

    // Why refreshing fails, for the provider's problem(); empty when it works.
    const std::string& problem() const { return problem_; }
    // When the access token in hand expires (Unix ms); 0 before one is read or refreshed.
    int64_t expires_at_ms() const {
        return tokens_.access_token.empty() ? 0 : tokens_.expires_at_ms;
    }

  private:
    bool usable(const Tokens& t, const std::string& rejected) const;
    boost::asio::awaitable<std::pair<bool, std::optional<Tokens>>> read_store();
    TokenOutcome refresh_failed(std::string detail);
    TokenOutcome refresh_ok(const Tokens& t);
    boost::asio::awaitable<TokenOutcome> refresh(std::string rejected,
                                                 std::chrono::steady_clock::time_point deadline);
    boost::asio::awaitable<TokenOutcome> refresh_leased(
        std::string rejected, std::chrono::steady_clock::time_point deadline);
    boost::asio::awaitable<bool> persist(const Tokens& t);
    boost::asio::awaitable<std::optional<Tokens>> call_oauth(
        const std::string& refresh_token, std::chrono::steady_clock::time_point deadline,
        std::string& detail);
    const std::string& name() const { return name_; }

    std::string name_;
    ZaloConfig config_;
    boost::asio::any_io_executor executor_;
    HttpClient* http_;
    StateStore* state_;
    std::string tokens_key_;
    std::string lease_key_;
    Tokens tokens_;
    bool loaded_ = false;
    bool pending_persist_ = false;
    bool tried_configured_ = false;
    std::shared_ptr<Flight> flight_;
    std::string problem_;
    std::string last_failure_;
    std::chrono::steady_clock::time_point retry_refresh_at_{};
};

// The OA's daily ZNS quota as a reply reports it: `data.quota.dailyQuota` and
// `data.quota.remainingQuota` (numbers written as strings) of a successful send.
struct Quota {
    int64_t daily = 0;
    int64_t remaining = 0;
};
std::optional<Quota> reply_quota(const boost::json::object* data);

// How much of a citizen's rating is kept: the note, each ticked comment, how many comments.
constexpr std::size_t kMaxNoteBytes = 2000;
constexpr std::size_t kMaxCommentBytes = 300;
constexpr std::size_t kMaxComments = 20;

// The rating in a `user_feedback` event's `message` object (docs/providers/zalo_zns.md "Ratings"):
// msg_id, tracking_id, rate, note, feedbacks, submit_time (their camelCase spellings too);
// nullopt without a msg_id, a submit time, or a rate of 1 to 5.
std::optional<RatingReport> rating_of(const boost::json::object& message);

// A call-back on /v1/callbacks/<name>: `user_received_message` (a delivery update) or
// `user_feedback` (a citizen's rating), signed with X-ZEvent-Signature.
// nullopt when the provider has no webhook_secret (it takes no call-backs). `logged_oa_variant`
// remembers that the OA-id signature variant was logged once. A signed timestamp further than
// `webhook_window` from `now_ms` is refused (401 stale_timestamp): a captured call-back cannot
// be replayed later; within the window a replay repeats an update the pipeline deduplicates.
std::optional<CallbackResult> handle_webhook(const std::string& provider_name,
                                             const ZaloConfig& config,
                                             const CallbackRequest& request,
                                             bool& logged_oa_variant, int64_t now_ms);

}  // namespace tinbao::zalo
