// Builds the Runtime (providers with their limits, templates) from a loaded config: the one
// builder used by tinbaod at start and on reload, by `tinbaod --check` and by tinbaoctl.
//
// Threading: runs on any thread (a reload builds off the event loop); it does no network I/O,
// and the providers it creates only keep the context's executor and clients for later.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/processor.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// Each provider's factory reads its own keys from the config (and reports those nobody asked
// for), the templates are compiled and each route's statuses checked against them. Every problem
// of the config and of the runtime is appended to `problems` as "file:line: message"; the
// runtime is null when there was any. `loaded` is consumed: a config's provider keys are read
// once.
std::shared_ptr<Runtime> build_runtime(ConfigLoad loaded, const ProviderContext& ctx,
                                       std::vector<std::string>& problems);

// load_config(config_file), then build_runtime().
std::shared_ptr<Runtime> load_runtime(const std::filesystem::path& config_file,
                                      const ProviderContext& ctx,
                                      std::vector<std::string>& problems);

}  // namespace tinbao
