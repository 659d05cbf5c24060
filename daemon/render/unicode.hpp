// Unicode at the boundary: UTF-8 validation and NFC normalisation (utf8proc).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <string>
#include <string_view>

namespace tinbao::text {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

// Calls f(cp, bytes) for each code point of `s`; an invalid byte is passed as cp == -1 with that
// one byte, so iteration never stops early.
template <class F>
void for_each_codepoint(std::string_view s, F&& f);

// NFC form of valid UTF-8 `s` (returns `s` unchanged when it is ASCII). nullopt when invalid.
std::optional<std::string> nfc(std::string_view s);

// True when `s` is valid UTF-8 that NFC leaves as it is, told without normalising: every code
// point is below U+0300 (ASCII, Latin-1, Latin Extended-A/B, IPA, spacing modifiers) or in
// Latin Extended Additional U+1E00..U+1EFF (the precomposed Vietnamese letters). None of these
// decomposes differently or composes with a neighbour. False says nothing: use nfc().
bool stable_nfc(std::string_view s);

// The byte length of the first `n` user-perceived characters of `s`: extended grapheme clusters
// (UAX #29), so a letter keeps its combining marks and an emoji sequence stays whole. An invalid
// byte counts as a character of its own. All of `s` when it has `n` characters or fewer.
std::size_t grapheme_prefix(std::string_view s, std::size_t n);

namespace detail {
// Decodes the code point at the start of `s` (non-empty): its length, and -1 when invalid.
std::pair<int32_t, std::size_t> decode_one(std::string_view s);
}  // namespace detail

template <class F>
void for_each_codepoint(std::string_view s, F&& f) {
    while (!s.empty()) {
        auto [cp, n] = detail::decode_one(s);
        f(cp, s.substr(0, n));
        s.remove_prefix(n);
    }
}

}  // namespace tinbao::text
