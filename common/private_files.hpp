// Files and directories only tinbao's own user may read: the queue database with its -wal and
// -shm, provider state (tokens), outbox files. Created 0600 (files) and 0700 (directories)
// whatever the process umask, and tightened to that when they already exist wider.
//
// Plain POSIX calls; thread-safe.
#pragma once

#include <filesystem>
#include <system_error>

namespace tinbao {

// Creates `dir` and its missing parents; each one created here is set to 0700. Directories that
// already exist (/var/lib, a systemd StateDirectory) are left as they are.
std::error_code create_private_directories(const std::filesystem::path& dir);

// Opens `file` with `flags` (O_CREAT added) so that it is 0600 once open: a new file is created
// so, an existing file of ours that others could read is narrowed. -1 with errno on failure.
int open_private(const std::filesystem::path& file, int flags);

// The same for a file that must exist before another library opens it (SQLite).
std::error_code ensure_private_file(const std::filesystem::path& file);

// Narrows `file` to 0600 when it exists and others could read it; nothing when it is missing.
void narrow_if_exists(const std::filesystem::path& file);

}  // namespace tinbao
