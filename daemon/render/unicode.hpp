// Unicode at the boundary: UTF-8 validation and NFC normalisation (utf8proc).
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tinbao::text {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool valid_utf8(std::string_view s);

// NFC form of valid UTF-8 `s` (returns `s` unchanged when it is ASCII). nullopt when invalid.
std::optional<std::string> nfc(std::string_view s);

}  // namespace tinbao::text
