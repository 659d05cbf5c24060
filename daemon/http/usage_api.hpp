// GET /v1/reports/usage (docs/api.md, docs/usage.md): usage and cost of a period, grouped, as
// JSON or CSV, computed from the queue's message records.
//
// Threading: runs on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/http/server.hpp"
#include "daemon/queue/queue.hpp"

namespace tinbao::http {

class ApiBackend;

// The period of a report from its `from` and `to` parameters: an RFC 3339 date-time, or a
// local date ("2026-12-01": `from` at its start, `to` at its end, both days included).
// Defaults: from the start of the current local month to now. The error names the parameter.
struct Period {
    int64_t from_ms = 0;
    int64_t to_ms = 0;
};
std::optional<Period> parse_period(std::string_view from, std::string_view to, int64_t now_ms,
                                   std::string& error, std::string& field);

boost::asio::awaitable<Response> usage_report(
    ApiBackend& backend, const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace tinbao::http
