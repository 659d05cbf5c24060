#include "daemon/render/unicode.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace tinbao::text {

namespace detail {
std::pair<int32_t, std::size_t> decode_one(std::string_view s) {
    auto c = static_cast<unsigned char>(s[0]);
    if (c < 0x80) return {c, 1};
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &cp);
    if (n <= 0 || cp < 0) return {-1, 1};
    return {cp, static_cast<std::size_t>(n)};
}
}  // namespace detail

bool valid_utf8(std::string_view s) {
    auto p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
    while (left > 0) {
        // Fast path for ASCII.
        if (*p < 0x80) {
            ++p;
            --left;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n < 0 || cp < 0) return false;
        p += n;
        left -= n;
    }
    return true;
}

bool stable_nfc(std::string_view s) {
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    auto end = p + s.size();
    auto cont = [](unsigned char c) { return (c & 0xC0) == 0x80; };
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
        } else if (c >= 0xC2 && c <= 0xCB) {  // U+0080..U+02FF
            if (end - p < 2 || !cont(p[1])) return false;
            p += 2;
        } else if (c == 0xE1 && end - p >= 3 && p[1] >= 0xB8 && p[1] <= 0xBB && cont(p[2])) {
            p += 3;  // U+1E00..U+1EFF
        } else {
            return false;
        }
    }
    return true;
}

std::size_t grapheme_prefix(std::string_view s, std::size_t n) {
    std::size_t chars = 0;
    utf8proc_int32_t state = 0;  // for the rules that look further back than one code point
    int32_t prev = -1;
    for (std::size_t i = 0; i < s.size();) {
        auto [cp, len] = detail::decode_one(s.substr(i));
        bool starts = prev < 0 || cp < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state);
        if (starts) {
            if (chars == n) return i;
            ++chars;
        }
        if (cp < 0) state = 0;
        prev = cp;
        i += len;
    }
    return s.size();
}

std::optional<std::string> nfc(std::string_view s) {
    if (stable_nfc(s)) return std::string(s);
    if (!valid_utf8(s)) return std::nullopt;
    utf8proc_uint8_t* out = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                      static_cast<utf8proc_ssize_t>(s.size()), &out,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE |
                                                                     UTF8PROC_COMPOSE));
    if (n < 0) return std::nullopt;
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
    return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

}  // namespace tinbao::text
