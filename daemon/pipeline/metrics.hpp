// Prometheus metrics: counters and histograms with labels, rendered in the text exposition
// format. Labels never carry phone numbers, names or other personal data: only channels,
// providers, outcomes, reasons and encodings.
//
// Threading: one io_context thread updates and renders (no locks).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tinbao {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
public:
    void counter(std::string_view name, std::string_view help);
    void histogram(std::string_view name, std::string_view help, std::vector<double> buckets);

    void inc(std::string_view name, const Labels& labels = {}, double n = 1);
    void observe(std::string_view name, const Labels& labels, double value);

    // The whole registry in the text exposition format (version 0.0.4).
    std::string render() const;

private:
    struct Series {
        double value = 0;                 // counter
        std::vector<uint64_t> counts;     // histogram: per bucket (cumulative at render)
        uint64_t count = 0;
        double sum = 0;
    };
    struct Family {
        std::string type;
        std::string help;
        std::vector<double> buckets;
        std::map<std::string, Series> series;  // rendered label set -> values
    };
    static std::string label_text(const Labels& labels);
    std::map<std::string, Family, std::less<>> families_;
};

}  // namespace tinbao
