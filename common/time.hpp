// Time as tinbao reads and writes it: Unix milliseconds on the wire and in records, RFC 3339 in
// text, and local time in Asia/Ho_Chi_Minh for everything a person in Vietnam sees (quiet hours,
// template dates, provider reschedules, mail Date headers).
//
// The local offset is written here and nowhere else. Pure functions apart from now_ms();
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace tinbao {

// Asia/Ho_Chi_Minh is UTC+7 all year: no daylight saving since 1975.
inline constexpr int kLocalUtcOffsetMinutes = 7 * 60;
inline constexpr int64_t kLocalUtcOffsetSeconds = int64_t{kLocalUtcOffsetMinutes} * 60;
inline constexpr int64_t kLocalUtcOffsetMs = kLocalUtcOffsetSeconds * 1000;
inline constexpr int64_t kDayMs = 24LL * 3600 * 1000;

// Seconds from outside (a Retry-After header, an OAuth expires_in) as milliseconds, and a sum of
// two instants or durations, both clamped to int64_t instead of overflowing (undefined in C++).
int64_t seconds_to_ms_saturated(int64_t seconds);
int64_t add_saturated(int64_t a, int64_t b);

// The system clock as Unix milliseconds.
int64_t now_ms();

// Unix ms of 00:00 local time on the local day that holds `unix_ms`.
int64_t local_day_start_ms(int64_t unix_ms);
// Minutes since local midnight, 0..1439.
int local_minute_of_day(int64_t unix_ms);
// Broken-down local time of `unix_seconds` (tm_isdst 0; tm_wday and tm_yday filled).
std::tm local_tm(int64_t unix_seconds);

// "2026-11-27T01:15:00.000Z": UTC, milliseconds, as records and logs carry it.
std::string rfc3339_utc(int64_t unix_ms);
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

struct Rfc3339Options {
    // A bare date ("2026-11-27") is accepted and means local midnight.
    bool allow_date_only = false;
    // A space between date and time is accepted (RFC 3339 §5.6 allows applications to).
    bool allow_space_separator = false;
};

// Unix ms of an RFC 3339 date-time ("2026-11-27T08:15:00+07:00", "...Z", fractions allowed and
// truncated to ms, a leap second :60 read as :59). nullopt when malformed or not a real date.
std::optional<int64_t> parse_rfc3339_ms(std::string_view s, Rfc3339Options options = {});

}  // namespace tinbao
