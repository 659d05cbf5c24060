// Limits that the queue backends, the API and the pipeline must agree on, named once.
//
// Constants only.
#pragma once

#include <cstddef>

namespace tinbao::limits {

// A dossier's messages listed by GET /v1/dossiers/<code>/messages, newest first.
inline constexpr std::size_t kDossierMessages = 200;
// GET /v1/dossiers/{code}/feedback lists at most this many, newest first.
inline constexpr std::size_t kDossierFeedback = 200;
// Dead letters read for one listing, or for one replay by reason (newest first).
inline constexpr std::size_t kDeadLetters = 5000;
// Entries that were not valid events, kept aside for inspection (the oldest go first).
inline constexpr std::size_t kInvalidEntriesKept = 100000;
// Calls gathered into one Redis script run: a script blocks Redis while it runs (about 1 ms
// for 128 calls).
inline constexpr std::size_t kCallsPerScriptRun = 128;

}  // namespace tinbao::limits
