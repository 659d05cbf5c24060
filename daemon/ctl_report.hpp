// `tinbaoctl report`: usage and cost of a period from GET /v1/reports/usage, as a table on a
// terminal, CSV or JSON.
//
// For the command-line tool only; one thread.
#pragma once

#include <string>
#include <vector>

#include "daemon/ctl_client.hpp"

namespace tinbao::ctl {

extern const char* const kReportHelp;

// `args` follow the word "report". `json_default`: JSON unless --format says otherwise (stdout
// is not a terminal, or --json). Exit code: 0 ok, 1 the daemon refused or did not answer, 2 usage.
int report(const Api& api, const std::vector<std::string>& args, bool json_default);

}  // namespace tinbao::ctl
