#include "daemon/pipeline/budget.hpp"

#include <algorithm>
#include <cstdio>

#include "common/time.hpp"

namespace tinbao {

std::string Budgets::month_of(int64_t now_ms) {
    const std::tm t = local_tm(now_ms / 1000);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d", t.tm_year + 1900, t.tm_mon + 1);
    return buf;
}

void Budgets::refresh(const std::string& month, const std::vector<queue::Spend>& rows) {
    if (month != month_) {
        month_ = month;
        spent_.clear();
        reported_.clear();
    }
    // The larger of each figure: the queue's includes other instances' messages; this
    // instance's may hold messages whose commit the queue had not written when it answered.
    for (const auto& r : rows) {
        auto& s = spent_[r.agency];
        s.month = month;
        s.agency = r.agency;
        s.dong = std::max(s.dong, r.dong);
        s.segments = std::max(s.segments, r.segments);
    }
}

void Budgets::add(const std::string& month, const std::string& agency, int64_t dong,
                  int64_t segments) {
    if (month != month_) {
        // The first message of a new month: last month's figures are over.
        month_ = month;
        spent_.clear();
        reported_.clear();
    }
    auto& s = spent_[agency];
    s.month = month;
    s.agency = agency;
    s.dong += dong;
    s.segments += segments;
}

queue::Spend Budgets::spent(const std::string& month, const std::string& agency) const {
    if (month != month_) return queue::Spend{month, agency, 0, 0};
    auto it = spent_.find(agency);
    return it == spent_.end() ? queue::Spend{month, agency, 0, 0} : it->second;
}

double Budgets::used(const Agency& agency, const std::string& month) const {
    const auto s = spent(month, agency.code);
    double used = 0;
    if (agency.budget_dong > 0)
        used =
            std::max(used, static_cast<double>(s.dong) / static_cast<double>(agency.budget_dong));
    if (agency.budget_segments > 0)
        used = std::max(
            used, static_cast<double>(s.segments) / static_cast<double>(agency.budget_segments));
    return used;
}

std::vector<Budgets::Crossing> Budgets::crossings(const Config& config, const std::string& month) {
    std::vector<Crossing> out;
    if (month != month_) return out;
    for (const auto& a : config.agencies) {
        if (!a.has_budget()) continue;
        const double u = used(a, month);
        for (int percent : {80, 100}) {
            if (u * 100 < percent) {
                reported_.erase({a.code, percent});  // a raised budget: report it again later
                continue;
            }
            if (reported_.insert({a.code, percent}).second) out.push_back({a.code, percent, u});
        }
    }
    return out;
}

}  // namespace tinbao
