// The generic HTTP SMS adapter: type `http`, channel sms. An operator adds a brandname gateway
// with a plain HTTP API by configuration only (like Kannel's generic HTTP SMSC).
//
// Keys:
//   url              required; may hold placeholders (values percent-encoded)
//   method           POST (default), GET, PUT or PATCH
//   headers          a map of header name -> value (secrets via ${ENV} / ${file:...})
//   body             a template: {{ to }}, {{ text }}, {{ message_id }}, {{ unicode }} (1 or 0),
//                    {{ segments }}, {{ event_id }}, {{ dossier_code }}; unknown names are errors
//   content_type     json | form | text | xml: how values are escaped in the body (JSON
//                    string escaping, form-urlencoding, as is, XML character data) and the
//                    Content-Type sent unless `headers` has one; default json when the body
//                    starts with '{' or '[', else text
//   success          { status: [200, 201], json_field: "code", equals: "00" },
//                    { xml_element: "result", equals: "1" } (the text of the first element of
//                    that local name, a SOAP gateway's answer) or { body_contains: "OK" };
//                    default: any 2xx status
//   permanent_status HTTP statuses that fail permanently (default 400, 401, 403, 404, 422;
//                    401/403 auth_failed, 404 config_error, others rejected_content)
//   permanent_values values of success.json_field or xml_element that fail permanently
//                    (rejected_content)
//   message_id_field dotted path of the provider's message id in a JSON answer ("data.id")
// Everything else is retryable: 429 throttled (Retry-After), 5xx provider_unavailable, an
// answer that does not meet `success` provider_error.
//
// Threading: send() runs on the daemon's io_context through the shared HttpClient.
#pragma once

#include <memory>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_http_generic_factory();

}  // namespace tinbao
