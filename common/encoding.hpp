// Byte encodings used on the wire: percent-encoding (URLs, form bodies), base64 (HTTP Basic,
// MIME), hex (digests) and JSON string escaping (JSON written by hand, where building a
// document first would cost more than the text itself: records, log lines, request templates).
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao {

// RFC 3986: unreserved characters (ALPHA DIGIT - . _ ~) as they are, every other byte as %XX
// (upper-case hex). `plus_for_space`: a space becomes '+' (application/x-www-form-urlencoded).
std::string percent_encode(std::string_view s, bool plus_for_space = false);
// %XX sequences decoded (either case); '+' is left as it is. nullopt when a '%' is not followed
// by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);
// Standard base64 with its padding; nullopt when `text` is not that.
std::optional<std::string> base64_decode(std::string_view text);

// Lower-case hex of every byte.
std::string hex_encode(std::string_view bytes);

// Appends `s` as the inside of a JSON string (without the quotes), escaped as RFC 8259 asks:
// quote, backslash and control characters; other bytes (UTF-8) as they are.
void append_json_escaped(std::string& out, std::string_view s);
// The same, as a new string.
std::string json_escaped(std::string_view s);

// Appends `s` as text that stays on one line and cannot drive a terminal: C0 controls and DEL
// as \n, \r, \t or \xHH, C1 controls (U+0080..U+009F, e.g. the one-byte CSI) and bytes that
// are not UTF-8 as \xHH; everything else as it is. Log lines in the text format go through it.
void append_log_escaped(std::string& out, std::string_view s);

// The non-empty pieces of `s` between separators (a stored list such as "id1,id2").
std::vector<std::string> split_nonempty(std::string_view s, char sep);

}  // namespace tinbao
