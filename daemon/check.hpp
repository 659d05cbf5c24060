// `tinbaod --check`: validates the config, the providers' keys and the templates, checks every
// value the templates name against the event's fields (no sample needed), then renders every
// template against every sample event (templates/samples/*.json) for each channel it has, with
// each SMS provider's gateway rules for the statuses a route sends by SMS. Each problem is
// reported once; settings that work against each other (quiet hours longer than give_up_after)
// are warnings. Nothing is sent and nothing is opened but files.
#pragma once

#include <cstdio>
#include <filesystem>

namespace tinbao {

// Prints each warning and problem ("file:line: message") and a summary to `out`; returns the
// exit code (0 clean, warnings allowed; 1 problems).
int run_check(const std::filesystem::path& config_file, std::FILE* out = stdout);

}  // namespace tinbao
