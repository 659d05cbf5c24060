// Prometheus metrics: every family tinbao exposes is declared here, once, with its help text and
// type (the catalogue is at the top of metrics.cpp), and the whole exposition is written here in
// the text format (version 0.0.4), one group per family. Components count through inc() and
// observe(); values kept elsewhere (gauges, counters another component keeps) are handed to
// render() as samples read at scrape time and land in their declared family. A name that is not
// in the catalogue is dropped: a family cannot appear twice or without its HELP and TYPE.
//
// Labels never carry phone numbers, names or other personal data: only channels, providers,
// outcomes, reasons and encodings.
//
// Threading: one io_context thread updates and renders (no locks).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tinbao {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
  public:
    // Declares every family of the catalogue.
    Metrics();

    void inc(std::string_view name, const Labels& labels = {}, double n = 1);
    void observe(std::string_view name, const Labels& labels, double value);

    // A value read at scrape time: a gauge, or a counter kept by another component.
    struct Sample {
        std::string name;
        Labels labels;
        double value = 0;
    };

    // The exposition: every declared family with its own series and the `collected` samples
    // that belong to it (a collected sample never replaces a series counted here).
    std::string render(const std::vector<Sample>& collected = {}) const;

    bool declared(std::string_view name) const { return families_.count(name) != 0; }

  private:
    struct Series {
        double value = 0;              // counter, gauge
        std::vector<uint64_t> counts;  // histogram: per bucket (cumulative at render)
        uint64_t count = 0;
        double sum = 0;
    };
    enum class Type { counter, gauge, histogram };
    struct Family {
        Type type = Type::counter;
        std::string help;
        std::vector<double> buckets;
        std::map<std::string, Series> series;  // rendered label set -> values
    };
    void declare(std::string_view name, Type type, std::string_view help,
                 std::vector<double> buckets = {});
    static std::string label_text(const Labels& labels);
    static void render_histogram(std::string& out, const std::string& name, const Family& f,
                                 const std::string& labels, const Series& s);

    std::map<std::string, Family, std::less<>> families_;
};

}  // namespace tinbao
