// The shipped Grafana dashboard and Prometheus alert rules (monitoring/) use only metrics that
// tinbaod exports: every metric name in their PromQL expressions is a family of the exposition
// (a histogram's _bucket, _sum and _count included), or one Prometheus makes itself (`up`).
// A metric renamed in the daemon but not in the dashboard would otherwise draw an empty panel
// and an alert that never fires. promtool checks the expressions' syntax and the rules' outcomes
// (scripts/check-monitoring.sh).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/pipeline/metrics.hpp"

namespace tinbao {
namespace {

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Family name -> type, from the exposition's TYPE lines.
std::map<std::string, std::string> exported() {
    std::map<std::string, std::string> types;
    std::istringstream lines(Metrics().render());
    std::string line;
    static const std::regex type_line(R"(^# TYPE (\S+) (\S+)$)");
    std::smatch m;
    while (std::getline(lines, line))
        if (std::regex_match(line, m, type_line)) types[m[1]] = m[2];
    return types;
}

// The metric names of a PromQL expression: what is left once strings, label matchers, range and
// subquery brackets, grouping label lists, function calls, keywords and numbers are taken out.
std::set<std::string> metric_names(std::string expr) {
    static const std::regex strings(R"("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')");
    static const std::regex matchers(R"(\{[^}]*\})");
    static const std::regex ranges(R"(\[[^\]]*\])");
    static const std::regex grouping(
        R"(\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))");
    static const std::regex identifier(R"([a-zA-Z_:][a-zA-Z0-9_:]*)");
    static const std::set<std::string> keywords = {
        "and", "or",       "unless",     "bool",        "offset", "by", "without",
        "on",  "ignoring", "group_left", "group_right", "inf",    "nan"};
    expr = std::regex_replace(expr, strings, "\"\"");
    expr = std::regex_replace(expr, matchers, " ");
    expr = std::regex_replace(expr, ranges, " ");
    expr = std::regex_replace(expr, grouping, " ");
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), identifier);
         it != std::sregex_iterator(); ++it) {
        auto end = it->position() + it->length();
        while (end < static_cast<long>(expr.size()) && expr[end] == ' ') ++end;
        bool call = end < static_cast<long>(expr.size()) && expr[end] == '(';
        bool number = it->position() > 0 && std::isdigit(expr[it->position() - 1]);
        auto name = it->str();
        if (call || number || keywords.count(name)) continue;
        names.insert(name);
    }
    return names;
}

// Empty when tinbaod exports the metric, else why not.
std::string check(const std::map<std::string, std::string>& types, const std::string& name) {
    if (name == "up") return {};  // made by Prometheus for every scrape target
    if (types.count(name)) return {};
    for (std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            auto base = name.substr(0, name.size() - suffix.size());
            auto it = types.find(base);
            if (it != types.end() && it->second == "histogram") return {};
        }
    }
    return "not exported by tinbaod";
}

void collect_json(const boost::json::value& v, std::vector<std::string>& out) {
    if (v.is_object()) {
        for (auto& [key, value] : v.as_object()) {
            if (key == "expr" && value.is_string())
                out.emplace_back(value.as_string());
            else
                collect_json(value, out);
        }
    } else if (v.is_array()) {
        for (auto& e : v.as_array()) collect_json(e, out);
    }
}

TEST(Monitoring, PromqlNamesAreFoundInExpressions) {
    EXPECT_EQ(metric_names(R"x(sum by (le, provider) (rate(tinbao_x_bucket{a="b(c)"}[5m])))x"),
              std::set<std::string>{"tinbao_x_bucket"});
    EXPECT_EQ(metric_names("tinbao_a > 1e3 and deriv(tinbao_b[15m]) > 0"),
              (std::set<std::string>{"tinbao_a", "tinbao_b"}));
    EXPECT_EQ(metric_names("max by (instance) (up{job=\"tinbao\"}) == 0"),
              std::set<std::string>{"up"});
}

TEST(Monitoring, DashboardUsesOnlyExportedMetrics) {
    auto types = exported();
    ASSERT_GT(types.size(), 10u);
    std::vector<std::string> exprs;
    collect_json(boost::json::parse(read(TINBAO_SOURCE_DIR "/monitoring/grafana-dashboard.json")),
                 exprs);
    ASSERT_GT(exprs.size(), 20u);
    for (auto& e : exprs)
        for (auto& name : metric_names(e)) EXPECT_EQ(check(types, name), "") << name << " in " << e;
}

TEST(Monitoring, AlertRulesUseOnlyExportedMetrics) {
    auto types = exported();
    auto rules = YAML::LoadFile(TINBAO_SOURCE_DIR "/monitoring/alerts.yaml");
    std::set<std::string> alerts;
    for (auto group : rules["groups"])
        for (auto rule : group["rules"]) {
            alerts.insert(rule["alert"].as<std::string>());
            auto e = rule["expr"].as<std::string>();
            for (auto& name : metric_names(e))
                EXPECT_EQ(check(types, name), "") << name << " in " << e;
        }
    // The conditions an operator must hear of.
    for (auto name : {"TinbaoProviderDown", "TinbaoBacklogGrowing", "TinbaoDeadLettersGrowing",
                      "TinbaoTokenRefreshFailing", "TinbaoReloadRefused"})
        EXPECT_TRUE(alerts.count(name)) << name;
}

}  // namespace
}  // namespace tinbao
