// The record rules both queue backends follow, written once: the event's state from its
// messages' states, a delivery report applied to a message record, and which waiting notice
// holds a dossier back. The backends only gather the inputs and store the outputs.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/records.hpp"

namespace tinbao {

struct DeliveryUpdate;

// The event's state from the states of its messages (one per message the event has; the order
// does not matter):
//   accepted  a message is still queued or sending (or scheduled: it is queued then);
//   done      every message settled, at least one sent or delivered;
//   failed    every message settled, none sent or delivered, and one failed, expired or skipped
//             (no address for the channel);
//   skipped   no message at all (no route covers the status), or every message superseded.
// A superseded message never decides: in fallback the next channel's message does, and a notice
// coalesced into a newer event of its dossier was not sent by choice, not by failure, so an
// event whose every message was superseded reads `skipped`, as one no route covers.
// An unknown state counts as a failure.
std::string_view event_state(const std::vector<std::string_view>& message_states);

// A delivery report (a provider's call-back): applied once, never backwards. Only a `sent`
// message moves, to `delivered` or `failed`; `updated_at` follows. True when `record` changed.
bool apply_delivery_report(MessageRecord& record, const DeliveryUpdate& update, int64_t now_ms);

// A notice of a dossier that waits for a later attempt (a retry, quiet hours, a replay).
struct WaitingNotice {
    std::string message_id;
    int64_t created_ms = 0;       // when the message was first recorded: the dossier's order
    int64_t next_attempt_ms = 0;  // its next attempt (or the end of the lease while one runs)
};

// Per-dossier order: the latest next attempt among the dossier's waiting notices created before
// `created_before` (nullopt: all of them), other than `except`; 0 when none. A newer notice of
// the dossier is held back until then, so it never overtakes an older one. Reminders (ids
// "r...") are due at a set time and hold nothing back.
int64_t dossier_blocked_until(const std::vector<WaitingNotice>& waiting,
                              std::optional<int64_t> created_before, std::string_view except);

}  // namespace tinbao
