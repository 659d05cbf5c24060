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

std::string scalar_text(const boost::json::value* v) {
    if (!v) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    return {};
}

}  // namespace tinbao::adapter
