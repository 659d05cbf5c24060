// The FPT SMS brandname adapter (FPT Telecom International): type `fpt`, channel sms.
//
// OAuth2 client credentials: `POST {base_url}/oauth2/token` with {grant_type:
// "client_credentials", client_id, client_secret, scope, session_id} gives {access_token,
// expires_in}. The token lives in the StateStore under "fpt:<name>:token" (shared by every
// tinbaod on the queue) and is used until shortly before it expires; a refresh is single-flight
// in the process and across instances (the lease "fpt:<name>:refresh"). A send the API refuses
// for its token (HTTP 401, error 1011 or 1013) refreshes the token once and sends again.
//
// One message per `POST {base_url}/api/push-brandname-otp` with {access_token, session_id,
// BrandName, Phone (84...), Message (the text's UTF-8 bytes, Base64), RequestId (the message
// id)}; the answer's MessageId is the provider's id, kept in the StateStore
// ("fpt:<name>:sms:<MessageId>" -> message id, for 7 days) so a delivery report finds its message
// after a restart. Keys: base_url (default https://app.sms.fpt.net), client_id, client_secret,
// brandname (required), scope (default send_brandname_otp), callback_token.
//
// Delivery reports on /v1/callbacks/<name>?token=<callback_token> (GET query or a JSON body):
// Status 1 delivered, 0 failed, 2 or -11 pending (no update); matched by RequestId when the
// report carries it, else by smsid / MessageId through the StateStore. Without callback_token
// the adapter takes no call-backs (404); a wrong token is 403.
//
// Threading: send() and handle_callback() run on the daemon's io_context.
#pragma once

#include <memory>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_fpt_factory();

// How a push-brandname-otp answer maps to a SendResult (a token refusal is retryable
// auth_failed here: send() refreshes and tries once more before returning it). Exposed for tests.
SendResult classify_fpt_reply(const HttpResponse& response);

}  // namespace tinbao
