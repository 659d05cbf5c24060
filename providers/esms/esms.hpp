// The eSMS.vn (ViHAT) brandname SMS adapter: type `esms`, channel sms.
//
// Sends one message per request with SendMultipleMessage_V4_post_json (docs/providers/esms.md); the
// message id goes as RequestId so eSMS deduplicates a resend within the day, and its answer 124
// ("Request exist") counts as sent. Keys: base_url, api_key, secret_key, brandname
// (all required), sms_type (default "2", customer care), sandbox (default false), callback_url,
// callback_token.
//
// Delivery reports: eSMS calls CallbackUrl with GET (SMSID, SendStatus, RequestId, SendSuccess,
// SendFailed, ...). CallbackUrl is `callback_url`, or `<http.public_base_url>/v1/callbacks/<name>`
// when only the public base is configured (then callback_token is required); the token is added
// as `?token=`. handle_callback answers 403 without updates unless the token matches (compared
// in constant time). SendStatus 5 with SendSuccess >= 1 -> delivered; 4 (rejected) -> failed
// rejected_content; 5 with SendFailed >= 1 -> failed provider_error; 1, 2, 7 -> no update.
//
// Threading: send() runs on the daemon's io_context through the shared HttpClient.
#pragma once

#include <memory>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_esms_factory();

// How an eSMS answer (or the lack of one) maps to a SendResult. Exposed for tests.
SendResult classify_esms_reply(const HttpResponse& response);

}  // namespace tinbao
