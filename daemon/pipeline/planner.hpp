// The planner: from an event to the messages to send. It finds the route of the event's status,
// picks the channels (the event's own list, or the route's), checks the applicant's addresses
// (normalising phone numbers), renders each channel's template and plans the SMS encoding and
// segments. Also the quiet hours, which say when a channel may not be used.
//
// Pure: no I/O; the time is passed in. Any thread (reads a Runtime it does not change).
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/model/records.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/pipeline/runtime.hpp"

namespace tinbao {

// One message as planned for an event: its record and what the provider will get.
struct PlannedMessage {
    MessageRecord record;
    OutboundMessage outbound;
    // A reason the message cannot be sent at all (invalid_phone, template_error, too_long, ...).
    std::string preflight_reason;
    std::string preflight_detail;
    // Each template-based provider of the channel: the form it gets (Provider::param_templates),
    // or why it cannot send the message. Saved with the message's job.
    ProviderParamsMap provider_params;
};

struct Plan {
    bool routed = false;  // false: no route covers the status -> skipped
    Route::Mode mode = Route::Mode::fallback;
    std::vector<Channel> channels;         // candidate channels in order
    std::vector<PlannedMessage> messages;  // fallback: only the first channel with a contact
};

// Plans (routes and renders) an event; records are stamped `now` (Unix ms).
Plan plan_event(const Runtime& rt, const Event& event, const std::string& entry_id,
                int64_t now = now_ms());
// Renders one channel's message for an event.
PlannedMessage plan_message(const Runtime& rt, const Event& event, const std::string& entry_id,
                            Channel channel, int64_t now = now_ms());
// Renders one channel's message from the template `t` (null: none) under the id `id`; `what`
// names the template in errors ("status received"). Without `provider_forms`, template-based
// providers get no form of it (they have no registered template for it) and pass it over.
PlannedMessage plan_with(const Runtime& rt, const Event& event, std::string id, Channel channel,
                         int64_t now, const tpl::StatusTemplates* t, const std::string& what,
                         bool provider_forms);
// The preview of POST /v1/render and `tinbaoctl render`.
boost::json::value preview(const Runtime& rt, const Event& event);

// The wording of a template-based provider with `{1}`, `{2}`... replaced by the values (a number
// outside them is left as it is).
std::string fill_wording(std::string_view wording, const std::vector<std::string>& values);

// Whether the applicant has an address for the channel.
bool has_contact(const Event& event, Channel channel);

// The minutes of quiet hours: when `channel` is covered at `now_ms`, the end of the window (Unix
// ms), else nullopt. Local time is Asia/Ho_Chi_Minh (UTC+7, no daylight saving).
std::optional<int64_t> quiet_until(const Config& cfg, Channel channel, int64_t now_ms);

}  // namespace tinbao
