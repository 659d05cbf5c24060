// Logging setup: spdlog to stderr (journald picks it up), as text or one JSON object per line
// (with the line's fields, common/log_fields.hpp). When stderr is the journal (systemd's
// JOURNAL_STREAM names it), each line starts with its sd-daemon priority, "<3>" for an error to
// "<7>" for debug, so `journalctl -p warning` selects warnings and errors.
// Messages never carry secrets or whole phone numbers: callers mask with common/redact.hpp.
#pragma once

#include "daemon/config/config.hpp"

namespace tinbao {

// Installs the default logger. Safe to call again on reload (level and format change).
void setup_logging(const LogSettings& settings);

// Whether stderr is the stream systemd connected to the journal (JOURNAL_STREAM).
bool stderr_is_journal();

}  // namespace tinbao
