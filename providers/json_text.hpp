// JSON written by hand, where building a document first would cost more than the text itself
// (message records, JSON log lines). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tinbao {

// Appends `s` as the inside of a JSON string (without the quotes), escaped as RFC 8259 asks:
// quote, backslash and control characters; other bytes (UTF-8) as they are.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace tinbao
