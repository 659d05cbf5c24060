// Call-backs to API clients (docs/callbacks.md): the JSON document of each change, the clients
// that get it, its webhook-id, and its signature (Standard Webhooks,
// https://www.standardwebhooks.com/).
//
// A document is queued as a queue::Notice in the same write as the change that causes it (the
// Processor's commits, the delivery reports' apply_updates), so a crash keeps both or neither;
// CallbackSender (callback_sender.hpp) then POSTs it until the client answers 2xx.
//
// The entry point for other code (feedback, inbound messages): build the notice with
// make_notice() and queue it with emit() (or add it to a queue::Commit's `notices` when there is
// a commit to ride on), e.g.
//
//     boost::json::object data{{"dossier_code", code}, {"message_id", id}, {"rating", 5},
//                               {"from", mask_address(phone)}};
//     co_await callbacks::emit(queue, *config, "feedback.received", provider_event_id, data);
//
// Documents never carry a full phone number or email address: mask them (common/redact.hpp)
// before they go in `data`.
//
// Pure functions of their arguments; thread-safe (the queue backends call the report hook on
// their writer thread).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/model/records.hpp"
#include "daemon/queue/queue.hpp"

namespace tinbao::callbacks {

// Whether any call-back or the status stream is configured (else no notice is ever built).
bool enabled(const Config& cfg);

// A document of `kind` (a JSON object: "kind", then the fields of `data`, then "at", when the
// change happened, unless `data` has one: `timestamp_ms`, 0 for now) for every client whose
// callbacks want that kind (only `only_client` when not empty), and for the status stream when
// it is on; nullopt when nobody gets it. `subject` names the change: the same kind and subject
// give the same webhook-id (a change written twice is one call-back).
std::optional<queue::Notice> make_notice(const Config& cfg, std::string_view kind,
                                         std::string_view subject, boost::json::object data,
                                         int64_t timestamp_ms = 0,
                                         std::string_view only_client = {});

// Queues the notice on its own durable write (for a change that has no commit to ride on).
// Nothing to do (and success) when nobody wants the kind.
boost::asio::awaitable<Result<void>> emit(queue::Queue& queue, const Config& cfg,
                                          std::string_view kind, std::string_view subject,
                                          boost::json::object data,
                                          std::string_view only_client = {});

// The message.* notice of a record's new state: sent, failed or expired after an attempt,
// delivered or failed by a delivery report (`from_report`). nullopt for other states.
std::optional<queue::Notice> message_notice(const Config& cfg, const MessageRecord& rec,
                                            bool from_report);

// Adds to `c` the notices of its message records and, when a message settled, the event.settled
// notice that the queue writes only if the commit settles the event. No-op when !enabled(cfg).
void add_commit_notices(const Config& cfg, queue::Commit& c);

// The hook for Queue::apply_updates (a copy of `cfg` kept); empty when !enabled(*cfg).
queue::ReportNotices report_notices(std::shared_ptr<const Config> cfg);

// The webhook-id of a change for one client: "msg_" + 32 hex digits.
std::string webhook_id(std::string_view client, std::string_view kind, std::string_view subject);

// The webhook-signature header: "v1,<base64 of HMAC-SHA256(key, id.timestamp.body)>" for each
// secret (key: the base64 after "whsec_"), space-separated.
std::string signature_header(const std::vector<std::string>& secrets, std::string_view id,
                             int64_t timestamp_s, std::string_view body);

}  // namespace tinbao::callbacks
