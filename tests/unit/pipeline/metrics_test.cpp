// Metrics: the exposition read back by a strict parser of the text format, the way a scraper
// that refuses a family declared twice reads it.
#include "daemon/pipeline/metrics.hpp"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace tinbao {
namespace {

struct Family {
    std::string type;
    int helps = 0;
    int types = 0;
    std::multiset<std::string> series;  // sample name + label text
};

struct Exposition {
    std::map<std::string, Family> families;
    std::vector<std::string> errors;
};

// Reads the text exposition format strictly: HELP and TYPE once per family and before its
// samples, one group of lines per family, every sample in a declared family (a histogram's
// _bucket/_sum/_count in its own), no series twice, labels and values well formed.
Exposition parse(const std::string& text) {
    static const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? (\S+)$)");
    Exposition e;
    std::set<std::string> closed;
    std::string current;
    auto enter = [&](const std::string& family, int line) {
        if (family == current) return;
        if (closed.count(family))
            e.errors.push_back("line " + std::to_string(line) + ": " + family + " in two groups");
        if (!current.empty()) closed.insert(current);
        current = family;
    };
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
            std::istringstream words(line.substr(7));
            std::string name, rest;
            words >> name >> rest;
            auto& f = e.families[name];
            enter(name, n);
            if (!f.series.empty())
                e.errors.push_back("line " + std::to_string(n) + ": header after samples");
            if (line[2] == 'H') {
                ++f.helps;
            } else {
                ++f.types;
                f.type = rest;
            }
            continue;
        }
        if (line[0] == '#') continue;
        std::smatch m;
        if (!std::regex_match(line, m, sample)) {
            e.errors.push_back("line " + std::to_string(n) + ": malformed: " + line);
            continue;
        }
        std::string name = m[1];
        std::string family = name;
        for (std::string suffix : {"_bucket", "_sum", "_count"}) {
            if (name.size() > suffix.size() &&
                name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                auto base = name.substr(0, name.size() - suffix.size());
                auto it = e.families.find(base);
                if (it != e.families.end() && it->second.type == "histogram") family = base;
            }
        }
        auto it = e.families.find(family);
        if (it == e.families.end() || it->second.types == 0) {
            e.errors.push_back("line " + std::to_string(n) + ": " + name +
                               " belongs to no declared family");
            continue;
        }
        enter(family, n);
        std::string value = m[4];
        char* end = nullptr;
        std::strtod(value.c_str(), &end);
        if (value != "+Inf" && value != "-Inf" && value != "NaN" && *end != '\0')
            e.errors.push_back("line " + std::to_string(n) + ": bad value " + value);
        std::string key = name + m[2].str();
        if (it->second.series.count(key))
            e.errors.push_back("line " + std::to_string(n) + ": series twice: " + key);
        it->second.series.insert(key);
    }
    for (auto& [name, f] : e.families)
        if (f.helps != 1 || f.types != 1)
            e.errors.push_back(name + ": " + std::to_string(f.helps) + " HELP, " +
                               std::to_string(f.types) + " TYPE");
    return e;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += s + "\n";
    return out;
}

TEST(ExpositionParser, RefusesAFamilyDeclaredTwice) {
    auto e = parse(
        "# HELP a_total x\n# TYPE a_total counter\na_total 1\n"
        "# HELP a_total y\n# TYPE a_total counter\na_total{p=\"q\"} 2\n");
    EXPECT_FALSE(e.errors.empty());
    EXPECT_FALSE(parse("b_total 1\n").errors.empty()) << "a sample with no family";
    EXPECT_FALSE(parse("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n").errors.empty())
        << "a family in two groups";
    EXPECT_TRUE(parse("# HELP a x\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 2\n").errors.empty());
}

// Every family the daemon exposes, with series counted here and values read at scrape time.
Metrics busy_metrics() {
    Metrics m;
    m.inc("tinbao_retries_total", {{"provider", "esms"}, {"reason", "timeout"}});
    m.inc("tinbao_retries_total", {{"provider", "esms"}, {"reason", "throttled"}}, 2);
    m.inc("tinbao_fallbacks_total", {{"from", "zalo"}, {"to", "sms"}});
    m.inc("tinbao_messages_total",
          {{"channel", "sms"}, {"provider", "esms"}, {"outcome", "sent"}, {"reason", ""}});
    m.observe("tinbao_provider_request_seconds", {{"provider", "esms"}}, 0.003);
    m.observe("tinbao_end_to_end_seconds", {{"channel", "sms"}}, 0.2);
    return m;
}

std::vector<Metrics::Sample> scrape_samples() {
    std::vector<Metrics::Sample> v;
    for (auto name :
         {"tinbao_events_accepted_total", "tinbao_events_duplicate_total",
          "tinbao_events_unavailable_total", "tinbao_callbacks_total",
          "tinbao_events_processed_total", "tinbao_events_invalid_total",
          "tinbao_messages_sent_total", "tinbao_messages_failed_total",
          "tinbao_messages_expired_total", "tinbao_quiet_hours_deferred_total",
          "tinbao_dead_letters_replayed_total", "tinbao_pipeline_active", "tinbao_queue_up",
          "tinbao_instances", "tinbao_stream_backlog", "tinbao_scheduled_messages",
          "tinbao_dead_letters", "tinbao_stream_entries_held_back_total"})
        v.push_back({name, {}, 3});
    for (auto provider : {"esms", "zalo"})
        for (auto name : {"tinbao_provider_in_flight", "tinbao_provider_problem",
                          "tinbao_provider_circuit_open"})
            v.push_back({name, {{"provider", provider}}, 1});
    return v;
}

TEST(Metrics, EachFamilyIsDeclaredOnceAndEverySampleBelongsToOne) {
    auto m = busy_metrics();
    auto samples = scrape_samples();
    for (auto& s : samples) EXPECT_TRUE(m.declared(s.name)) << s.name;
    auto text = m.render(samples);
    auto e = parse(text);
    EXPECT_TRUE(e.errors.empty()) << joined(e.errors) << text;
    EXPECT_EQ(e.families["tinbao_retries_total"].series.size(), 2u);
    EXPECT_EQ(e.families["tinbao_fallbacks_total"].series.size(), 1u);
    EXPECT_EQ(e.families["tinbao_provider_in_flight"].series.size(), 2u);
    EXPECT_EQ(e.families["tinbao_provider_request_seconds"].series.size(), 16u)
        << "13 buckets, +Inf, _sum, _count";
    EXPECT_NE(text.find("tinbao_retries_total{provider=\"esms\",reason=\"throttled\"} 2\n"),
              std::string::npos);
}

TEST(Metrics, AValueReadAtScrapeTimeNeverDuplicatesASeriesOrAFamily) {
    auto m = busy_metrics();
    auto samples = scrape_samples();
    // The same series counted here and handed in again, a name that is not in the catalogue,
    // and a histogram's series handed in as a plain sample.
    samples.push_back({"tinbao_retries_total", {{"provider", "esms"}, {"reason", "timeout"}}, 9});
    samples.push_back({"tinbao_unknown_total", {}, 1});
    samples.push_back({"tinbao_end_to_end_seconds", {}, 1});
    EXPECT_FALSE(m.declared("tinbao_unknown_total"));
    auto text = m.render(samples);
    auto e = parse(text);
    EXPECT_TRUE(e.errors.empty()) << joined(e.errors) << text;
    EXPECT_NE(text.find("tinbao_retries_total{provider=\"esms\",reason=\"timeout\"} 1\n"),
              std::string::npos);
    EXPECT_EQ(text.find("tinbao_unknown_total"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
    Metrics m;
    m.inc("tinbao_messages_total", {{"reason", "a\"b\\c\nd"}});
    auto text = m.render();
    EXPECT_NE(text.find(R"(tinbao_messages_total{reason="a\"b\\c\nd"} 1)"), std::string::npos);
    EXPECT_TRUE(parse(text).errors.empty()) << joined(parse(text).errors);
}

}  // namespace
}  // namespace tinbao
