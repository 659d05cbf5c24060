#include "daemon/model/usage_report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/time.hpp"

namespace json = boost::json;

namespace tinbao::usage {

namespace {

constexpr std::pair<std::string_view, Key> kKeys[] = {
    {"agency", Key::agency},     {"procedure", Key::procedure}, {"channel", Key::channel},
    {"provider", Key::provider}, {"telco", Key::telco},         {"day", Key::day},
    {"month", Key::month},
};

std::string local_date(int64_t ms, bool with_day) {
    const std::tm t = local_tm(ms / 1000);
    char buf[32];
    if (with_day)
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday);
    else
        std::snprintf(buf, sizeof buf, "%04d-%02d", t.tm_year + 1900, t.tm_mon + 1);
    return buf;
}

std::string value_of(const MessageRecord& r, Key k) {
    switch (k) {
        case Key::agency:
            return r.agency.empty() ? "other" : r.agency;  // a record from before agencies
        case Key::procedure:
            return r.procedure;
        case Key::channel:
            return r.channel;
        case Key::provider:
            return r.provider;
        case Key::telco:
            return r.telco;
        case Key::day:
            return local_date(r.created_at_ms, true);
        case Key::month:
            return local_date(r.created_at_ms, false);
    }
    return {};
}

void count(Row& row, const MessageRecord& r) {
    ++row.messages;
    const bool accepted = r.state == state::kSent || r.state == state::kDelivered;
    if (accepted) {
        ++row.sent;
        if (r.channel == "sms") row.segments += r.segments;
        row.cost_dong += r.cost_dong;
        if (r.sent_at_ms > 0 && r.event_at_ms > 0 && r.sent_at_ms >= r.event_at_ms)
            row.accept_ms.push_back(r.sent_at_ms - r.event_at_ms);
    }
    if (r.state == state::kDelivered) {
        ++row.delivered;
        if (r.delivered_at_ms > 0 && r.event_at_ms > 0 && r.delivered_at_ms >= r.event_at_ms)
            row.delivery_ms.push_back(r.delivered_at_ms - r.event_at_ms);
    }
    const bool handed_on = r.state == state::kSuperseded && !r.last_error_reason.empty() &&
                           r.last_error_reason != "coalesced";
    if (r.state == state::kFailed || r.state == state::kExpired || handed_on) ++row.failed;
}

json::value number_or_null(std::optional<double> v) {
    return v ? json::value(*v) : json::value(nullptr);
}

std::optional<double> seconds(std::optional<double> ms) {
    if (!ms) return std::nullopt;
    return *ms / 1000.0;
}

json::object row_json(Row& row, const std::vector<Key>& keys) {
    json::object o;
    for (std::size_t i = 0; i < keys.size() && i < row.key.size(); ++i)
        o[to_string(keys[i])] = row.key[i];
    o["messages"] = row.messages;
    o["segments"] = row.segments;
    o["sent"] = row.sent;
    o["delivered"] = row.delivered;
    o["failed"] = row.failed;
    o["delivered_rate"] = number_or_null(row.delivered_rate());
    o["median_accept_seconds"] = number_or_null(seconds(median(row.accept_ms)));
    o["median_delivery_seconds"] = number_or_null(seconds(median(row.delivery_ms)));
    o["cost_dong"] = row.cost_dong;
    return o;
}

// A CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
// A value from an event that a spreadsheet would take for a formula (=, +, -, @) is prefixed
// with an apostrophe.
std::string csv_field(std::string_view s) {
    std::string prefixed;
    if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) {
        prefixed = "'" + std::string(s);
        s = prefixed;
    }
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string fixed(std::optional<double> v, int decimals) {
    if (!v) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, *v);
    return buf;
}

}  // namespace

std::string_view to_string(Key k) {
    for (auto& [name, key] : kKeys)
        if (key == k) return name;
    return "?";
}

std::optional<std::vector<Key>> parse_keys(std::string_view list, std::string& error) {
    std::vector<Key> out;
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view name = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        auto it = std::find_if(std::begin(kKeys), std::end(kKeys),
                               [&](const auto& kv) { return kv.first == name; });
        if (it == std::end(kKeys)) {
            error = "unknown grouping '" + std::string(name) +
                    "' (agency, procedure, channel, provider, telco, day, month)";
            return std::nullopt;
        }
        if (std::find(out.begin(), out.end(), it->second) != out.end()) {
            error = "grouping '" + std::string(name) + "' is given twice";
            return std::nullopt;
        }
        out.push_back(it->second);
    }
    const bool day = std::find(out.begin(), out.end(), Key::day) != out.end();
    const bool month = std::find(out.begin(), out.end(), Key::month) != out.end();
    if (day && month) {
        error = "group by day or by month, not both";
        return std::nullopt;
    }
    return out;
}

std::optional<double> Row::delivered_rate() const {
    if (sent == 0) return std::nullopt;
    return static_cast<double>(delivered) / static_cast<double>(sent);
}

std::optional<double> median(std::vector<int64_t>& v) {
    if (v.empty()) return std::nullopt;
    const std::size_t mid = v.size() / 2;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
    const double upper = static_cast<double>(v[mid]);
    if (v.size() % 2 == 1) return upper;
    const double lower = static_cast<double>(
        *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
    return (lower + upper) / 2.0;
}

void Builder::add(const MessageRecord& r) {
    std::vector<std::string> key;
    key.reserve(keys_.size());
    for (Key k : keys_) key.push_back(value_of(r, k));
    Row& row = groups_[key];
    if (row.key.empty()) row.key = std::move(key);
    count(row, r);
    count(total_, r);
}

Report Builder::finish() && {
    Report rep;
    rep.keys = std::move(keys_);
    for (auto& [key, row] : groups_) rep.rows.push_back(std::move(row));
    rep.total = std::move(total_);
    return rep;
}

Report build(const std::vector<MessageRecord>& records, const std::vector<Key>& keys) {
    Builder b(keys);
    for (const auto& r : records) b.add(r);
    return std::move(b).finish();
}

json::object to_json(Report& report) {
    json::array group_by;
    for (Key k : report.keys) group_by.push_back(json::string(to_string(k)));
    json::array rows;
    for (auto& row : report.rows) rows.push_back(row_json(row, report.keys));
    json::object o;
    o["group_by"] = std::move(group_by);
    o["rows"] = std::move(rows);
    o["total"] = row_json(report.total, {});
    return o;
}

std::string to_csv(Report& report) {
    std::string out;
    for (Key k : report.keys) out.append(to_string(k)).push_back(',');
    out +=
        "messages,segments,sent,delivered,failed,delivered_rate,median_accept_seconds,"
        "median_delivery_seconds,cost_dong\r\n";
    for (auto& row : report.rows) {
        for (auto& v : row.key) out.append(csv_field(v)).push_back(',');
        out += std::to_string(row.messages) + "," + std::to_string(row.segments) + "," +
               std::to_string(row.sent) + "," + std::to_string(row.delivered) + "," +
               std::to_string(row.failed) + "," + fixed(row.delivered_rate(), 4) + "," +
               fixed(seconds(median(row.accept_ms)), 3) + "," +
               fixed(seconds(median(row.delivery_ms)), 3) + "," + std::to_string(row.cost_dong) +
               "\r\n";
    }
    return out;
}

}  // namespace tinbao::usage
