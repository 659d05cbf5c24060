// The outbox adapter: type `outbox`, any channel. Instead of delivering, it appends each message
// as it would be sent to a JSON-lines file and reports it sent ("outbox-<id>"): for trying tinbao
// without provider accounts and for dry runs.
//
// Key: path (default <state_dir>/outbox.jsonl). The parent directory is created on the first
// send, not when the config is loaded (a `--check` run touches nothing).
// Durability: each message is one write(2) of one whole line on a file opened with O_APPEND, so
// lines never interleave and each reaches the kernel before send() completes; there is no
// fsync (a crash of the machine may lose the last lines). The file is reopened per message, so
// a rotated file is picked up at once.
//
// Threading: send() runs on the daemon's io_context; the write is a short local-file write.
#pragma once

#include <memory>

#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_outbox_factory();

}  // namespace tinbao
