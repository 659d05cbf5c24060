#include "daemon/pipeline/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tinbao {

void Metrics::counter(std::string_view name, std::string_view help) {
    auto& f = families_[std::string(name)];
    f.type = "counter";
    f.help = help;
}

void Metrics::histogram(std::string_view name, std::string_view help,
                        std::vector<double> buckets) {
    auto& f = families_[std::string(name)];
    f.type = "histogram";
    f.help = help;
    std::sort(buckets.begin(), buckets.end());
    f.buckets = std::move(buckets);
}

std::string Metrics::label_text(const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (auto& [k, v] : labels) {
        if (!first) out += ",";
        first = false;
        out += k;
        out += "=\"";
        for (char c : v) {
            if (c == '\\' || c == '"') out += '\\';
            if (c == '\n') {
                out += "\\n";
                continue;
            }
            out += c;
        }
        out += "\"";
    }
    return out + "}";
}

void Metrics::inc(std::string_view name, const Labels& labels, double n) {
    auto it = families_.find(name);
    if (it == families_.end()) return;  // undeclared: a programming error, ignored
    it->second.series[label_text(labels)].value += n;
}

void Metrics::observe(std::string_view name, const Labels& labels, double value) {
    auto it = families_.find(name);
    if (it == families_.end()) return;
    auto& f = it->second;
    auto& s = f.series[label_text(labels)];
    if (s.counts.empty()) s.counts.assign(f.buckets.size(), 0);
    for (size_t i = 0; i < f.buckets.size(); ++i)
        if (value <= f.buckets[i]) {
            ++s.counts[i];
            break;
        }
    ++s.count;
    s.sum += value;
}

std::string Metrics::render() const {
    std::string out;
    for (auto& [name, f] : families_) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
        for (auto& [labels, s] : f.series) {
            if (f.type == "counter") {
                out += fmt::format("{}{} {}\n", name, labels, s.value);
                continue;
            }
            // Histogram: cumulative buckets, then +Inf, sum and count.
            std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
            uint64_t cumulative = 0;
            for (size_t i = 0; i < f.buckets.size(); ++i) {
                cumulative += s.counts.empty() ? 0 : s.counts[i];
                out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, inner, f.buckets[i],
                                   cumulative);
            }
            out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, inner, s.count);
            out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, labels, s.sum, name, labels,
                               s.count);
        }
    }
    return out;
}

}  // namespace tinbao
