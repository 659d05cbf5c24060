// The value filters of the template language, and the date and number formats they use.
// Internal to the template engine (template_render.cpp applies them). Pure functions;
// thread-safe.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tinbao::tpl::detail {

// `upper` / `lower`: per code point (utf8proc's simple case mapping); invalid bytes are kept.
std::string map_case(std::string_view s, bool upper);

// `truncate(n)`: the first `n` user-perceived characters (a letter with its combining marks is
// one); spaces at the cut are dropped.
std::string truncate_chars(std::string_view s, std::size_t n);

// RFC 3339 date-time (or a bare date, taken as midnight in Vietnam) -> Unix seconds.
std::optional<long long> parse_rfc3339(std::string_view s);

// `date(fmt)`: strftime in Vietnam time (common/time.hpp); %z and %Z give +0700 and +07.
std::string format_vietnam_time(long long utc, const std::string& fmt);

// The integer written in `s` (all of it), or nullopt.
std::optional<long long> integer_of_text(std::string_view s);

// An integral JSON number, or a text holding one; nullopt otherwise.
std::optional<long long> as_integer(const boost::json::value& v);

// `vnd`: 1234567 -> "1.234.567 đ".
std::string format_vnd(long long amount);

// Appends `s` to `out` with & < > " ' escaped (email html part).
void append_escaped(std::string& out, std::string_view s);

}  // namespace tinbao::tpl::detail
