// The Viettel SMS brandname adapter (the "BulkSMS" SOAP API): type `viettel`, channel sms.
//
// One SOAP 1.1 request per message: operation wsCpMt of service CcApi, namespace
// http://impl.bulkSms.ws/, document/literal, POSTed to `url` with SOAPAction "" (the WSDL's
// binding); parameters User, Password, CPCode, RequestID, UserID and ReceiverID (both the number,
// 84...), ServiceID (the brandname), CommandCode, Content, ContentType (0 unaccented, 1 accented:
// the SMS policy's choice). docs/providers/viettel.md has the wire format and its sources.
//
// Keys: url, user, password, cp_code, service_id (required); command_code (default bulksms);
// ampersand_replacement (default "va": the API refuses '&' in Content, so sms_text() replaces
// it, and the preview shows it); request_id: numeric (default: a number derived from the message
// id, the same on every attempt; integrators report REQUEST_ID_NOT_NUMBER) or message_id.
//
// Answers: return/result 1 ("Insert MT_QUEUE: OK") is sent; otherwise return/message names the
// check that failed and classify_viettel_reply() maps each known one (authentication and IP
// auth_failed, brandname or command code config_error, receiver invalid_phone, content
// rejected_content / too_long / template_not_registered, DUPLICATE MESSAGE sent). A SOAP fault:
// a Client fault is config_error, a Server fault provider_unavailable. HTTP 429 throttled, 401/403
// auth_failed, 404 config_error, 5xx provider_unavailable; anything else provider_error.
// No delivery reports: the API has none that is known.
//
// Threading: send() runs on the daemon's io_context through the shared HttpClient.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_viettel_factory();

// How a wsCpMt answer (or the lack of one) maps to a SendResult. Exposed for tests.
SendResult classify_viettel_reply(const HttpResponse& response);

// The numeric RequestID sent for a message id: at most 9 digits (a 32-bit integer), the same
// for the same id. Exposed for tests and the fake's checks.
std::string viettel_numeric_request_id(std::string_view message_id);

}  // namespace tinbao
