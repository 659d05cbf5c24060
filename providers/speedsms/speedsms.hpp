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
// Webhook (only with callback_token): SpeedSMS POSTs JSON to the URL set in its dashboard,
// `<public base>/v1/callbacks/<name>?token=<callback_token>`; handle_callback answers 403 unless
// the token matches (constant time). `{"type": "incoming", "phone", "content", ...}` (a citizen's
// SMS) becomes an InboundMessage that the daemon queues before it answers (503 when it cannot,
// so SpeedSMS sends it again); its id (smsId, sms_id or id) or else a hash of phone, content and
// time recognises it sent again within inbound_dedupe_window (default 1h). `report` and other
// types are answered 200 and not applied (their status codes are not documented).
//
// Threading: send() and handle_callback() run on the daemon's io_context; send() goes through the
// shared HttpClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_speedsms_factory();

// How a SpeedSMS answer (or the lack of one) maps to a SendResult; `to` is the number sent to
// (checked against the answer's invalidPhone list). Exposed for tests.
SendResult classify_speedsms_reply(const HttpResponse& response, const std::string& to);

// One webhook body, read (no token check). Exposed for tests.
struct SpeedSmsWebhook {
    enum class Kind { incoming, report, other, invalid };
    Kind kind = Kind::invalid;
    std::vector<InboundMessage> messages;  // incoming: one per document (a body may be a list)
    std::string error;                     // invalid: why
};
// `provider`: the configured name; `now_ms`: when it came (when SpeedSMS gives no time);
// `window`: inbound_dedupe_window (0: no dedupe_key when the document has no id).
SpeedSmsWebhook parse_speedsms_webhook(std::string_view body, const std::string& provider,
                                       int64_t now_ms, std::chrono::milliseconds window);

}  // namespace tinbao
