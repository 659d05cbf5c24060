// The composition root: the only place that knows every module. Loads the config, builds the
// runtime (providers, templates), wires the queue, the pipeline and the HTTP API, and runs the
// daemon's life cycle (systemd notify, signals, reload, graceful shutdown).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/processor.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// Loads the config and builds a Runtime from it: provider factories validate their keys,
// templates are compiled. Every problem is appended to `problems` as "file:line: message";
// the runtime is null when there was any. Does no network I/O.
std::shared_ptr<Runtime> load_runtime(const std::filesystem::path& config_file,
                                      const ProviderContext& ctx,
                                      std::vector<std::string>& problems);

// `tinbaod --check`: validates everything and renders every template against every sample.
// Prints problems and a summary to stdout; returns the exit code.
int run_check(const std::filesystem::path& config_file);

// `tinbaod --config FILE`: runs until SIGTERM/SIGINT. Returns the exit code.
int run_daemon(const std::filesystem::path& config_file);

}  // namespace tinbao
