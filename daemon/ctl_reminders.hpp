// `tinbaoctl reminders`: the pending reminders (config `reminders:`) and cancelling them, through
// the daemon's admin API (GET /v1/reminders, POST /v1/reminders/cancel; docs/api.md).
#pragma once

#include <string>
#include <vector>

#include "daemon/ctl_client.hpp"

namespace tinbao::ctl {

extern const char* const kRemindersHelp;

// `args`: what follows `reminders` (list [--dossier CODE] [--limit N] | cancel ID...). JSON when
// `json_out`, else a table. 0 ok; 1 a failure, or an id that was no pending reminder; 2 usage.
int reminders_command(const Api& api, const std::vector<std::string>& args, bool json_out);

}  // namespace tinbao::ctl
