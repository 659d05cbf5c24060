#include "daemon/http/usage_api.hpp"

#include "common/time.hpp"
#include "daemon/http/api.hpp"
#include "daemon/http/auth.hpp"
#include "daemon/model/usage_report.hpp"

namespace json = boost::json;

namespace tinbao::http {

namespace {

bool is_date(std::string_view s) { return s.size() == 10 && s[4] == '-' && s[7] == '-'; }

}  // namespace

std::optional<Period> parse_period(std::string_view from, std::string_view to, int64_t now,
                                   std::string& error, std::string& field) {
    Period p;
    const Rfc3339Options opts{true, false};
    if (from.empty()) {
        // The first day of the current local month.
        const std::tm t = local_tm(now / 1000);
        p.from_ms = local_day_start_ms(now) - int64_t{t.tm_mday - 1} * kDayMs;
    } else if (auto ms = parse_rfc3339_ms(from, opts)) {
        p.from_ms = *ms;
    } else {
        field = "from";
        error = "expected a date (2026-12-01) or an RFC 3339 date-time";
        return std::nullopt;
    }
    if (to.empty()) {
        p.to_ms = now;
    } else if (auto ms = parse_rfc3339_ms(to, opts)) {
        p.to_ms = is_date(to) ? *ms + kDayMs : *ms;  // a date includes its whole day
    } else {
        field = "to";
        error = "expected a date (2026-12-31) or an RFC 3339 date-time";
        return std::nullopt;
    }
    if (p.to_ms <= p.from_ms) {
        field = "to";
        error = "the period ends before it starts";
        return std::nullopt;
    }
    return p;
}

boost::asio::awaitable<Response> usage_report(
    ApiBackend& backend, const std::vector<std::pair<std::string, std::string>>& query) {
    std::string from, to, group_by = "agency", format = "json";
    for (auto& [k, v] : query) {
        if (k == "from") from = v;
        if (k == "to") to = v;
        if (k == "group_by") group_by = v;
        if (k == "format") format = v;
    }
    if (format != "json" && format != "csv")
        co_return error_response(400, "invalid_request", "format is json or csv", "format");
    std::string error, field;
    auto keys = usage::parse_keys(group_by, error);
    if (!keys) co_return error_response(400, "invalid_request", error, "group_by");
    auto period = parse_period(from, to, now_ms(), error, field);
    if (!period) co_return error_response(400, "invalid_request", error, field);

    usage::Builder builder(*keys);
    queue::UsageQuery q;
    q.from_ms = period->from_ms;
    q.to_ms = period->to_ms;
    auto scanned =
        co_await backend.scan_usage(q, [&builder](const MessageRecord& r) { builder.add(r); });
    if (!scanned)
        co_return error_response(503, "queue_unavailable",
                                 "the queue cannot be reached; retry later");
    if (scanned->truncated)
        co_return error_response(413, "too_many_records",
                                 "the period holds more than " + std::to_string(q.limit) +
                                     " message records: ask for a shorter one");
    usage::Report report = std::move(builder).finish();
    if (format == "csv") {
        Response r;
        r.content_type = "text/csv; charset=utf-8; header=present";
        r.body = usage::to_csv(report);
        co_return r;
    }
    json::object body = usage::to_json(report);
    body["from"] = rfc3339_utc(period->from_ms);
    body["to"] = rfc3339_utc(period->to_ms);
    body["records"] = scanned->records;
    co_return json_response(200, body);
}

}  // namespace tinbao::http
