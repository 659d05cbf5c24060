// Time stamps as tinbao writes them: RFC 3339 in UTC with milliseconds
// ("2026-11-27T01:15:00.123Z"). Pure; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tinbao {

std::string rfc3339_utc(int64_t unix_ms);
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

}  // namespace tinbao
