// The composition root: the only place that knows every module. run_daemon() loads the config
// once, builds the runtime from it (daemon/runtime_builder), opens the queue, wires the
// pipeline, the API backend and the HTTP server, and runs the daemon's life cycle: systemd
// notify and watchdog, signals, reloads on SIGHUP (daemon/reloader), graceful shutdown.
//
// Threading: everything runs on one io_context thread; only a reload's loading runs on the
// Reloader's own thread.
#pragma once

#include <filesystem>

namespace tinbao {

// `tinbaod --config FILE`: runs until SIGTERM/SIGINT. Returns the exit code.
int run_daemon(const std::filesystem::path& config_file);

}  // namespace tinbao
