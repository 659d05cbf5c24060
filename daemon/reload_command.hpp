// `tinbaoctl reload`: sends SIGHUP to tinbaod and waits for its verdict on that reload
// (daemon/reload_verdict.hpp), so systemd's `ExecReload=` and an operator see a refused config
// as a failure with its reasons, not as a signal delivered.
#pragma once

#include <string>
#include <vector>

namespace tinbao {

// `args`: what follows `reload` ([--pid PID | --pid-file FILE] [--dir DIR] [--timeout SEC]).
// 0 when the reload was applied; 1 when refused (the problems printed), when no verdict came
// in time or tinbaod is not running; 2 for a usage error.
int reload_command(const std::string& config, const std::vector<std::string>& args);

extern const char* const kReloadHelp;

}  // namespace tinbao
