#include "daemon/render/template_filters.hpp"

#include "daemon/render/unicode.hpp"

#include <boost/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

namespace tinbao::tpl::detail {
namespace {

namespace json = boost::json;

long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

void civil_from_days(long long z, long long& y, unsigned& m, unsigned& d) {
    z += 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<long long>(yoe) + era * 400 + (m <= 2);
}

constexpr long long kVietnamOffset = 7 * 3600;  // Asia/Ho_Chi_Minh: UTC+7, no DST since 1975

bool read_digits(std::string_view s, std::size_t& p, std::size_t n, int& out) {
    if (p + n > s.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = s[p + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    p += n;
    return true;
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

// RFC 3339 date-time (or a bare date, taken as midnight in Vietnam) -> Unix seconds.
std::optional<long long> parse_rfc3339(std::string_view s) {
    std::size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!read_digits(s, p, 4, y) || p >= s.size() || s[p++] != '-' ||
        !read_digits(s, p, 2, mo) || p >= s.size() || s[p++] != '-' ||
        !read_digits(s, p, 2, d))
        return std::nullopt;
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1]) return std::nullopt;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return std::nullopt;
    long long days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    if (p == s.size()) return days * 86400 - kVietnamOffset;
    char t = s[p++];
    if (t != 'T' && t != 't' && t != ' ') return std::nullopt;
    if (!read_digits(s, p, 2, h) || p >= s.size() || s[p++] != ':' ||
        !read_digits(s, p, 2, mi) || p >= s.size() || s[p++] != ':' ||
        !read_digits(s, p, 2, sec))
        return std::nullopt;
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    if (p < s.size() && s[p] == '.') {
        ++p;
        std::size_t f = p;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
        if (p == f) return std::nullopt;
    }
    if (p >= s.size()) return std::nullopt;
    long long offset = 0;
    char z = s[p++];
    if (z == 'Z' || z == 'z') {
        offset = 0;
    } else if (z == '+' || z == '-') {
        int oh, om;
        if (!read_digits(s, p, 2, oh) || p >= s.size() || s[p++] != ':' ||
            !read_digits(s, p, 2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset = (oh * 3600LL + om * 60LL) * (z == '+' ? 1 : -1);
    } else {
        return std::nullopt;
    }
    if (p != s.size()) return std::nullopt;
    return days * 86400 + h * 3600LL + mi * 60LL + std::min(sec, 59) - offset;
}

std::string format_vietnam_time(long long utc, const std::string& fmt) {
    long long local = utc + kVietnamOffset;
    long long days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    long long secs = local - days * 86400;
    long long y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    std::tm tm{};
    tm.tm_year = static_cast<int>(y - 1900);
    tm.tm_mon = static_cast<int>(m - 1);
    tm.tm_mday = static_cast<int>(d);
    tm.tm_hour = static_cast<int>(secs / 3600);
    tm.tm_min = static_cast<int>(secs % 3600 / 60);
    tm.tm_sec = static_cast<int>(secs % 60);
    tm.tm_wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    tm.tm_yday = static_cast<int>(days - days_from_civil(y, 1, 1));
    tm.tm_isdst = 0;
    // The zone is fixed, so %z and %Z are expanded here rather than by the C library.
    std::string f;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%' && i + 1 < fmt.size()) {
            char c = fmt[++i];
            if (c == 'z') f += "+0700";
            else if (c == 'Z') f += "+07";
            else f += {'%', c};
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
