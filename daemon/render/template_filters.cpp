#include "daemon/render/template_filters.hpp"

#include "daemon/render/unicode.hpp"

#include "common/time.hpp"

#include <boost/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace tinbao::tpl::detail {
namespace {

namespace json = boost::json;

// The local offset as strftime's %z ("+0700") and %Z ("+07") would write it.
std::string offset_text(bool with_minutes) {
    int minutes = kLocalUtcOffsetMinutes;
    char sign = minutes < 0 ? '-' : '+';
    minutes = minutes < 0 ? -minutes : minutes;
    char buf[16];
    if (with_minutes || minutes % 60 != 0)
        std::snprintf(buf, sizeof buf, "%c%02d%02d", sign, minutes / 60, minutes % 60);
    else
        std::snprintf(buf, sizeof buf, "%c%02d", sign, minutes / 60);
    return buf;
}

}  // namespace

std::string map_case(std::string_view s, bool upper) {
    std::string out;
    out.reserve(s.size());
    text::for_each_codepoint(s, [&](int32_t cp, std::string_view bytes) {
        if (cp < 0) {
            out.append(bytes);  // kept as it came
            return;
        }
        utf8proc_int32_t m = upper ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        utf8proc_uint8_t buf[4];
        utf8proc_ssize_t k = utf8proc_encode_char(m, buf);
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(k));
    });
    return out;
}

// A cut that ends on spaces drops them, so "Ho Van " never leaves a double space before the text
// that follows.
std::string truncate_chars(std::string_view s, std::size_t n) {
    std::size_t cut = text::grapheme_prefix(s, n);
    if (cut == s.size()) return std::string(s);
    std::string out(s.substr(0, cut));
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::optional<long long> parse_rfc3339(std::string_view s) {
    auto ms = parse_rfc3339_ms(s, {.allow_date_only = true, .allow_space_separator = true});
    if (!ms) return std::nullopt;
    return *ms / 1000 - (*ms % 1000 < 0 ? 1 : 0);  // whole seconds, rounded down
}

std::string format_vietnam_time(long long utc, const std::string& fmt) {
    std::tm tm = local_tm(utc);
    // The zone is fixed, so %z and %Z are expanded here rather than by the C library.
    std::string f;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%' && i + 1 < fmt.size()) {
            char c = fmt[++i];
            if (c == 'z') {
                f += offset_text(true);
            } else if (c == 'Z') {
                f += offset_text(false);
            } else {
                f += {'%', c};
            }
        } else {
            f.push_back(fmt[i]);
        }
    }
    if (f.empty()) return {};
    for (std::size_t size = 256; size <= 65536; size *= 4) {
        std::string buf(size, '\0');
        std::size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &tm);
        if (n > 0) {
            buf.resize(n);
            return buf;
        }
    }
    return {};
}

std::optional<long long> integer_of_text(std::string_view s) {
    long long n = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), n);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty()) return n;
    return std::nullopt;
}

std::optional<long long> as_integer(const json::value& v) {
    if (const std::int64_t* i = v.if_int64()) return *i;
    if (const std::uint64_t* u = v.if_uint64())
        return *u <= 9'000'000'000'000'000'000ULL ? std::optional<long long>(*u) : std::nullopt;
    if (const double* d = v.if_double())
        if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9e18)
            return static_cast<long long>(*d);
    if (const json::string* s = v.if_string())
        return integer_of_text(std::string_view(s->data(), s->size()));
    return std::nullopt;
}

std::string format_vnd(long long amount) {
    std::string digits = std::to_string(amount < 0 ? -(amount + 1) + 1ULL : amount + 0ULL);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back('.');
        out.push_back(digits[i]);
    }
    return (amount < 0 ? "-" : "") + out + " đ";
}

void append_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
}

}  // namespace tinbao::tpl::detail
