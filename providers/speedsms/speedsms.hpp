// The SpeedSMS.vn adapter: type `speedsms`, channel sms.
//
// One message per `POST {base_url}/index.php/sms/send` with HTTP Basic auth (the access token as
// user name, "x" as password) and the JSON body {"to": ["84..."], "content", "sms_type",
// "sender"} (docs/providers/speedsms.md). Keys: base_url (default https://api.speedsms.vn),
// access_token (required), sms_type (default 3, brandname), sender (the brandname; required for
// sms_type 3 and 5). Answers: {"status":"success","code":"00","data":{"tranId",...}} is sent; error
// codes 105 invalid_phone, 113 too_long, 110 rejected_content, 007/008/009/101 config or auth
// (permanent), 300 quota_exceeded and 500 (retryable); HTTP 429 throttled with
// X-Rate-Limit-Reset / Retry-After; 401/403 auth_failed; 5xx provider_unavailable.
//
// Threading: send() runs on the daemon's io_context through the shared HttpClient.
#pragma once

#include <memory>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_speedsms_factory();

// How a SpeedSMS answer (or the lack of one) maps to a SendResult; `to` is the number sent to
// (checked against the answer's invalidPhone list). Exposed for tests.
SendResult classify_speedsms_reply(const HttpResponse& response, const std::string& to);

}  // namespace tinbao
