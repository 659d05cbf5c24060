#include "daemon/ctl_report.hpp"

#include <cstdio>

#include "daemon/ctl_output.hpp"

namespace json = boost::json;

namespace tinbao::ctl {

const char* const kReportHelp =
    "usage: tinbaoctl [...] report [--from DATE] [--to DATE] [--group-by KEYS]\n"
    "                        [--format table|csv|json]\n"
    "Messages, segments, sent, delivered, failed, the delivered rate, the median time from\n"
    "the event to the provider's acceptance and to delivery, and the cost in dong, for a\n"
    "period, from the daemon's records (as far back as queue.retention keeps them).\n"
    "  --from, --to  a local date (2026-12-01; both days included) or an RFC 3339 date-time;\n"
    "                default: the current month up to now\n"
    "  --group-by    any of agency, procedure, channel, provider, telco, and day or month,\n"
    "                comma-separated (default agency)\n"
    "  --format      table (on a terminal), json (otherwise, or --json), csv\n"
    "The token needs the events:read:all scope.\n";

namespace {

std::string seconds_cell(const json::object& o, const char* key) {
    auto* v = o.if_contains(key);
    if (!v || !v->is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", v->to_number<double>());
    return buf;
}

std::string rate_cell(const json::object& o) {
    auto* v = o.if_contains("delivered_rate");
    if (!v || !v->is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %%", v->to_number<double>() * 100);
    return buf;
}

void print_table(const json::object& report) {
    std::vector<std::string> keys;
    if (auto* g = report.if_contains("group_by"); g && g->is_array())
        for (auto& k : g->as_array())
            if (k.is_string()) keys.emplace_back(k.as_string());
    std::vector<std::string> headers = keys;
    for (const char* h : {"messages", "segments", "sent", "delivered", "failed", "delivered %",
                          "to accepted", "to delivered", "cost (dong)"})
        headers.emplace_back(h);
    Table t(headers);
    auto add = [&](const json::object& row, bool total) {
        std::vector<std::string> cells;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (total) {
                cells.push_back(i == 0 ? "total" : "");
                continue;
            }
            std::string c = cell(row, keys[i].c_str());
            cells.push_back(c.empty() ? "-" : c);
        }
        for (const char* k : {"messages", "segments", "sent", "delivered", "failed"})
            cells.push_back(cell(row, k));
        cells.push_back(rate_cell(row));
        cells.push_back(seconds_cell(row, "median_accept_seconds"));
        cells.push_back(seconds_cell(row, "median_delivery_seconds"));
        cells.push_back(cell(row, "cost_dong"));
        t.add(std::move(cells));
    };
    if (auto* rows = report.if_contains("rows"); rows && rows->is_array())
        for (auto& r : rows->as_array())
            if (r.is_object()) add(r.as_object(), false);
    if (auto* total = report.if_contains("total"); total && total->is_object() && !keys.empty())
        add(total->as_object(), true);
    std::printf("from %s to %s, %s record(s)\n", cell(report, "from").c_str(),
                cell(report, "to").c_str(), cell(report, "records").c_str());
    t.print();
}

}  // namespace

int report(const Api& api, const std::vector<std::string>& args, bool json_default) {
    std::string from, to, group_by = "agency", format = json_default ? "json" : "table";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (i + 1 >= args.size() ||
            (a != "--from" && a != "--to" && a != "--group-by" && a != "--format")) {
            std::fputs(kReportHelp, stderr);
            return 2;
        }
        const std::string& v = args[++i];
        if (a == "--from") from = v;
        if (a == "--to") to = v;
        if (a == "--group-by") group_by = v;
        if (a == "--format") format = v;
    }
    if (format != "table" && format != "csv" && format != "json") {
        std::fputs(kReportHelp, stderr);
        return 2;
    }
    std::string path = "/v1/reports/usage?group_by=" + escape(group_by) +
                       "&format=" + (format == "csv" ? "csv" : "json");
    if (!from.empty()) path += "&from=" + escape(from);
    if (!to.empty()) path += "&to=" + escape(to);
    Answer a = call(api, "GET", path);
    if (!a.ok()) {
        std::fprintf(stderr, "tinbaoctl: %s\n", a.error_text().c_str());
        return 1;
    }
    if (format == "csv") {
        std::fwrite(a.body.data(), 1, a.body.size(), stdout);
        return 0;
    }
    if (!a.json || !a.json->is_object()) {
        std::fprintf(stderr, "tinbaoctl: the daemon's answer is not a report\n");
        return 1;
    }
    if (format == "json")
        std::printf("%s\n", pretty(*a.json).c_str());
    else
        print_table(a.json->as_object());
    return 0;
}

}  // namespace tinbao::ctl
