#include "common/time.hpp"

#include <limits>

#include <cstdio>

namespace tinbao {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

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

bool expect(std::string_view s, std::size_t& p, char c) {
    if (p >= s.size() || s[p] != c) return false;
    ++p;
    return true;
}

}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t local_day_start_ms(int64_t unix_ms) {
    return floor_div(unix_ms + kLocalUtcOffsetMs, kDayMs) * kDayMs - kLocalUtcOffsetMs;
}

int local_minute_of_day(int64_t unix_ms) {
    return static_cast<int>((unix_ms - local_day_start_ms(unix_ms)) / 60000);
}

std::tm local_tm(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds + kLocalUtcOffsetSeconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    tm.tm_isdst = 0;
    return tm;
}

std::string rfc3339_utc(int64_t ms) {
    int64_t secs = floor_div(ms, 1000);
    int64_t rem = ms - secs * 1000;
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rem));
    return buf;
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
    return rfc3339_utc(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view s, Rfc3339Options options) {
    std::size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!read_digits(s, p, 4, y) || !expect(s, p, '-') || !read_digits(s, p, 2, mo) ||
        !expect(s, p, '-') || !read_digits(s, p, 2, d))
        return std::nullopt;
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1]) return std::nullopt;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return std::nullopt;
    const int64_t day_ms =
        days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * kDayMs;
    if (p == s.size()) {
        if (!options.allow_date_only) return std::nullopt;
        return day_ms - kLocalUtcOffsetMs;
    }
    const char t = s[p++];
    if (t != 'T' && t != 't' && !(t == ' ' && options.allow_space_separator)) return std::nullopt;
    if (!read_digits(s, p, 2, h) || !expect(s, p, ':') || !read_digits(s, p, 2, mi) ||
        !expect(s, p, ':') || !read_digits(s, p, 2, sec))
        return std::nullopt;
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
    int64_t fraction_ms = 0;
    if (p < s.size() && s[p] == '.') {
        ++p;
        const std::size_t first = p;
        int64_t scale = 100;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
            fraction_ms += (s[p] - '0') * scale;
            scale /= 10;
            ++p;
        }
        if (p == first) return std::nullopt;
    }
    if (p >= s.size()) return std::nullopt;
    int64_t offset_ms = 0;
    const char z = s[p++];
    if (z == '+' || z == '-') {
        int oh, om;
        if (!read_digits(s, p, 2, oh) || !expect(s, p, ':') || !read_digits(s, p, 2, om) ||
            oh > 23 || om > 59)
            return std::nullopt;
        offset_ms = (oh * 3600LL + om * 60LL) * 1000 * (z == '+' ? 1 : -1);
    } else if (z != 'Z' && z != 'z') {
        return std::nullopt;
    }
    if (p != s.size()) return std::nullopt;
    return day_ms + (h * 3600LL + mi * 60LL + (sec > 59 ? 59 : sec)) * 1000 + fraction_ms -
           offset_ms;
}

int64_t seconds_to_ms_saturated(int64_t seconds) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1000;
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min() / 1000;
    if (seconds > kMax) return std::numeric_limits<int64_t>::max();
    if (seconds < kMin) return std::numeric_limits<int64_t>::min();
    return seconds * 1000;
}

int64_t add_saturated(int64_t a, int64_t b) {
    int64_t sum = 0;
    if (!__builtin_add_overflow(a, b, &sum)) return sum;
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace tinbao
