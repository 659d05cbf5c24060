// The Zalo ZNS / ZBS template-message adapter: type `zalo_zns`, channel zalo
// (docs/providers/zalo_zns.md).
//
// send(): POST {base_url}/message/template with header access_token and
// {phone, template_id, template_data, tracking_id = message id[, mode: "development"]}.
// Parameter lengths are checked before sending (`param_limits`, default `param_max_length`).
// Zalo's error codes are classified as docs/providers/zalo_zns.md lists: -124/-216/-220 refresh the
// token and resend once inside the same send(); -133 (night) and -144/-147 (daily limits) are
// retryable with a fixed earliest time (06:00 Asia/Ho_Chi_Minh); recipient problems are
// permanent so the route falls back to SMS; configuration problems are permanent and logged.
//
// Tokens (zalo_tokens.cpp): the access token and the single-use rotating refresh token live in
// the StateStore under "zalo:<name>:tokens" as {access_token, refresh_token, expires_at_ms}.
// A new pair is stored before it is used; the configured refresh_token is only the seed used
// when nothing is stored. Refresh is proactive (within 5 minutes of expiry), single-flight in
// the process (one coroutine refreshes, the others await it) and across instances (the lease
// "zalo:<name>:refresh"). A failing refresh shows in problem() and fails sends retryable.
//
// Webhook: handle_callback() takes events signed with X-ZEvent-Signature ("mac=" + hex
// sha256(app id + raw body + timestamp + webhook_secret)): `user_received_message`, a delivery
// update per tracking_id, deduplicated by msg_id; `user_feedback`, a citizen's answer to a
// rating template, returned as a RatingReport (the daemon records it before answering).
// Without webhook_secret the adapter takes no call-backs.
//
// Threading: one io_context thread; send() and handle_callback() run there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_zalo_zns_factory();

// Exposed for tests. Unix milliseconds; Asia/Ho_Chi_Minh is UTC+7 without DST.
// The next 06:00 local strictly after `now_ms` (Zalo -133: no sending 22:00-06:00).
int64_t zalo_next_morning_ms(int64_t now_ms);
// 06:00 local on the calendar day after `now_ms`'s local day (Zalo -144/-147: daily limits).
int64_t zalo_next_day_morning_ms(int64_t now_ms);

// How one /message/template answer maps to a SendResult (without the token handshake: an
// access-token error comes back as retryable auth_failed). `now_ms` fixes rescheduled times.
SendResult classify_zalo_reply(const HttpResponse& response, int64_t now_ms);

}  // namespace tinbao
