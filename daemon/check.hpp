// `tinbaod --check`: validates the config, the providers' keys and the templates, then renders
// every template against every sample event (templates/samples/*.json) for each channel it has,
// with each SMS provider's gateway rules. Nothing is sent and nothing is opened but files.
#pragma once

#include <filesystem>

namespace tinbao {

// Prints each problem ("file:line: message") and a summary to stdout; returns the exit code
// (0 clean, 1 problems).
int run_check(const std::filesystem::path& config_file);

}  // namespace tinbao
