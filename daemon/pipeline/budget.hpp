// Agencies' monthly budgets (config `agencies[].monthly_budget`, docs/usage.md): what each
// configured agency has spent this month, and whether its SMS may still go.
//
// The month's spend lives in the queue (Commit::spend adds each accepted message's cost and
// segments, Queue::month_spend reads them): it survives a restart and is shared by every
// instance on one Redis. This object holds the figures the queue last gave plus what this
// instance sent since; the Processor refreshes it every few seconds, so instances agree within
// that delay (a budget can be overrun by what they send meanwhile).
//
// Pure: no I/O. Threading: one io_context thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/queue/queue.hpp"

namespace tinbao {

class Budgets {
  public:
    // The calendar month of `now_ms` in local time (Asia/Ho_Chi_Minh, UTC+7): "2026-12".
    static std::string month_of(int64_t now_ms);

    // The queue's figures for `month`: each figure becomes the larger of the queue's and this
    // instance's (a new month starts from the queue's).
    void refresh(const std::string& month, const std::vector<queue::Spend>& rows);
    // A message accepted in `month`, added here (the commit adds it in the queue).
    void add(const std::string& month, const std::string& agency, int64_t dong, int64_t segments);

    // The spend of an agency in `month` (zero when none is known).
    queue::Spend spent(const std::string& month, const std::string& agency) const;
    // The larger part of its budgets the agency has spent (1 = all); 0 without a budget.
    double used(const Agency& agency, const std::string& month) const;
    bool exhausted(const Agency& agency, const std::string& month) const {
        return agency.has_budget() && used(agency, month) >= 1.0;
    }

    // Thresholds crossed since the last call, each reported once per agency and month:
    // 80 (a warning) and 100 (its SMS are refused from now on).
    struct Crossing {
        std::string agency;
        int percent = 0;
        double used = 0;
    };
    std::vector<Crossing> crossings(const Config& config, const std::string& month);

  private:
    std::string month_;
    std::map<std::string, queue::Spend, std::less<>> spent_;
    std::set<std::pair<std::string, int>> reported_;  // (agency, percent) this month
};

}  // namespace tinbao
