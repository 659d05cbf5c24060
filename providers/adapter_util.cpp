#include "providers/adapter_util.hpp"

#include <charconv>

namespace tinbao::adapter {

std::string clean(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) break;
        out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    }
    return out;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v) {
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 0) return std::nullopt;
    return std::chrono::seconds(n);
}

std::optional<SendResult> transport_failure(const HttpResponse& response) {
    using E = HttpResponse::Error;
    switch (response.error) {
        case E::none:
            return std::nullopt;
        case E::timeout:
            return retryable(reason::kTimeout, clean(response.error_text));
        case E::connect:
        case E::tls:
            return retryable(reason::kProviderUnavailable, clean(response.error_text));
        case E::other:
            break;
    }
    return retryable(reason::kProviderError, clean(response.error_text));
}

std::string scalar_text(const boost::json::value* v) {
    if (!v) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    return {};
}

bool is_http_url(std::string_view s) {
    return (s.starts_with("http://") && s.size() > 7) ||
           (s.starts_with("https://") && s.size() > 8);
}

}  // namespace tinbao::adapter
