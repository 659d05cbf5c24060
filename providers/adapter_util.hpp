// Small pieces every HTTP-style adapter needs: failure results, provider text made safe for
// records and logs, Retry-After, and JSON scalars that providers send as strings or numbers.
// Pure functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"
#include "providers/reasons.hpp"

namespace tinbao::adapter {

inline SendResult retryable(std::string_view reason, std::string detail) {
    return SendResult::fail(FailureClass::retryable, std::string(reason), std::move(detail));
}

inline SendResult permanent(std::string_view reason, std::string detail) {
    return SendResult::fail(FailureClass::permanent, std::string(reason), std::move(detail));
}

// Provider text goes into records and logs: at most `max` bytes, control characters blanked.
std::string clean(std::string_view s, std::size_t max = 200);

// Retry-After as delta-seconds; an HTTP date or garbage gives nothing.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view v);

// A request that got no HTTP answer (timeout, refused, TLS, other): its retryable failure.
// nullopt when the provider answered (the caller reads the status and body).
std::optional<SendResult> transport_failure(const HttpResponse& response);

// A JSON value documented as a string that may come as a number: its text, or empty.
std::string scalar_text(const boost::json::value* v);

// An http:// or https:// URL with something after the scheme (configuration checks).
bool is_http_url(std::string_view s);

}  // namespace tinbao::adapter
