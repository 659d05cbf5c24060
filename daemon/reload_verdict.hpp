// The verdict of reloads, between tinbaod and `tinbaoctl reload` (which systemd's
// `ExecReload=` runs): tinbaod keeps a small JSON file, reload.json, in its run directory
// ($RUNTIME_DIRECTORY under systemd, else its state_dir), replaced whole (written aside, then
// renamed) at its start, at each SIGHUP received, and when each reload ends.
//
// `requested` counts the SIGHUPs received, and is written before the reload it asks for
// starts; a reload's `generation` is the count when it started. So a verdict whose generation
// is above the `requested` read before sending SIGHUP comes from a load that read the config
// after that: the one the sender asked for, or a later one.
//
// Thread-safe (files only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao {

struct ReloadVerdict {
    int64_t pid = 0;
    std::string config;       // the config file
    uint64_t requested = 0;   // SIGHUPs received since the start
    uint64_t generation = 0;  // `requested` when the last finished load started (0: the start)
    std::string result;       // "started", "ok" or "refused"
    std::vector<std::string> problems;  // why it was refused: file:line: key: message
    int64_t at_ms = 0;                  // when the result was reached
};

inline constexpr const char* kReloadVerdictFile = "reload.json";

// Where tinbaod keeps it: $RUNTIME_DIRECTORY (its first entry) when set, else `state_dir`.
std::filesystem::path reload_verdict_dir(const std::filesystem::path& state_dir);

std::string verdict_json(const ReloadVerdict& v);
std::optional<ReloadVerdict> parse_verdict(std::string_view text);

// Replaces `file` whole (0600); false with `error` set when it cannot.
bool write_verdict(const std::filesystem::path& file, const ReloadVerdict& v, std::string& error);
std::optional<ReloadVerdict> read_verdict(const std::filesystem::path& file);

}  // namespace tinbao
