// The one vocabulary of failure reasons, shown in message records, metrics and logs.
// Each reason is either retryable or permanent by default; an adapter may classify a specific
// provider answer otherwise (documented at the adapter).
#pragma once

#include <string_view>

namespace tinbao::reason {

// permanent
inline constexpr std::string_view kInvalidPhone = "invalid_phone";      // not a VN mobile number
inline constexpr std::string_view kNoContact = "no_contact";            // no address for channel
inline constexpr std::string_view kAuthFailed = "auth_failed";          // credentials refused
inline constexpr std::string_view kRejectedContent = "rejected_content";
inline constexpr std::string_view kTemplateNotRegistered = "template_not_registered";
inline constexpr std::string_view kTooLong = "too_long";
inline constexpr std::string_view kTemplateError = "template_error";    // hole in the text
inline constexpr std::string_view kConfigError = "config_error";        // brandname, IP, ...
inline constexpr std::string_view kBlocked = "recipient_blocked";
inline constexpr std::string_view kNoProvider = "no_provider";          // channel has none enabled
// retryable
inline constexpr std::string_view kThrottled = "throttled";
inline constexpr std::string_view kProviderUnavailable = "provider_unavailable";  // 5xx, refused
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kQuotaExceeded = "quota_exceeded";    // balance, daily quota
inline constexpr std::string_view kProviderError = "provider_error";    // unknown answer

}  // namespace tinbao::reason
