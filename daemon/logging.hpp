// Logging setup: spdlog to stderr (journald picks it up), as text or one JSON object per line.
// Messages never carry secrets or whole phone numbers: callers mask with common/redact.hpp.
#pragma once

#include "daemon/config/config.hpp"

namespace tinbao {

// Installs the default logger. Safe to call again on reload (level and format change).
void setup_logging(const LogSettings& settings);

}  // namespace tinbao
