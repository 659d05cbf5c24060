// `tinbaoctl dlq` and `tinbaoctl callbacks`: the dead letters (messages that failed or expired)
// and the dead call-backs to API clients, listed and replayed (dead letters also discarded)
// through the daemon's admin API (GET /v1/dead-letters, POST /v1/dead-letters/replay and
// /discard, GET /v1/webhooks/dead-letters, POST /v1/webhooks/replay; docs/api.md).
//
// For the command-line tool only; one thread.
#pragma once

#include <string>
#include <vector>

#include "daemon/ctl_client.hpp"

namespace tinbao::ctl {

extern const char* const kDeadLettersHelp;
extern const char* const kCallbacksHelp;

// `args`: what follows `dlq` (list [--reason R] [--limit N] | replay ID... | replay --reason R |
// discard ID...). JSON when `json_out`, else a table. 0 ok; 1 a failure, or an id that was no
// dead letter (or no dead letter with the reason); 2 usage.
int dead_letters_command(const Api& api, const std::vector<std::string>& args, bool json_out);

// `args`: what follows `callbacks` (list [--client NAME] [--limit N] | replay ID... | replay
// --client NAME). As dead_letters_command, for the dead call-backs.
int callbacks_command(const Api& api, const std::vector<std::string>& args, bool json_out);

}  // namespace tinbao::ctl
