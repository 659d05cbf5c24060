// Usage and cost reports (GET /v1/reports/usage, `tinbaoctl report`; docs/usage.md): message
// records of a period grouped by any of agency, procedure, channel, provider, telco and day or
// month, with their counts, segments, delivery rate, median delays and cost.
//
// Pure functions; any thread.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/records.hpp"

namespace tinbao::usage {

enum class Key { agency, procedure, channel, provider, telco, day, month };
std::string_view to_string(Key k);
// "agency,channel,month" -> keys, in order; nullopt (and `error` says why) for an unknown or
// repeated key, or day with month.
std::optional<std::vector<Key>> parse_keys(std::string_view list, std::string& error);

// One group's figures. A message counts once, by its record's state: `sent` were accepted by a
// provider (sent or delivered), `delivered` were reported delivered, `failed` failed, expired or
// were handed to the next channel after failing; skipped, coalesced and pending ones count only
// in `messages`.
struct Row {
    std::vector<std::string> key;  // one value per grouping key
    int64_t messages = 0;
    int64_t segments = 0;  // SMS segments of the accepted messages
    int64_t sent = 0;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t cost_dong = 0;
    std::vector<int64_t> accept_ms;    // event -> provider's acceptance, per accepted message
    std::vector<int64_t> delivery_ms;  // event -> delivery report, per delivered message

    std::optional<double> delivered_rate() const;  // delivered / sent; none when nothing sent
};

// The median of `v` (the mean of the middle two for an even count); nullopt when empty.
// Reorders `v`.
std::optional<double> median(std::vector<int64_t>& v);

struct Report {
    std::vector<Key> keys;
    std::vector<Row> rows;  // sorted by key
    Row total;
};

// Adds records one at a time (a report over many records keeps only its groups).
class Builder {
  public:
    explicit Builder(std::vector<Key> keys) : keys_(std::move(keys)) {}
    void add(const MessageRecord& record);
    Report finish() &&;

  private:
    std::vector<Key> keys_;
    std::map<std::vector<std::string>, Row> groups_;
    Row total_;
};

Report build(const std::vector<MessageRecord>& records, const std::vector<Key>& keys);

// The report as JSON ({"group_by", "rows": [...], "total"}; the caller adds the period) and as
// CSV (RFC 4180: a header line, one line per row, CRLF line ends).
boost::json::object to_json(Report& report);
std::string to_csv(Report& report);

}  // namespace tinbao::usage
