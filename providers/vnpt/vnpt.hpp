// The VNPT (VinaPhone) brandname SMS adapter: type `vnpt`, channel sms (docs/providers/vnpt.md).
//
// VNPT's `send_sms_list` JSON API is template-based: a message is a registered TEMPLATEID plus
// numbered PARAMS, not free text. The adapter declares its templates (Provider::
// param_templates(), key `templates`: for each status an `id`, the ordered `params`, each a
// tinbao template, and optionally the registered wording `text` with `{1}`, `{2}`...); the
// planner renders them when it plans a message and the job keeps them, so send() takes the
// form from OutboundMessage::provider_params. A status without a template is not sent through
// this provider (template_not_registered; the next provider of the channel takes over).
//
// send(): POST {url} with {"RQST": {"name": "send_sms_list", "REQID": <message id>, "LABELID",
// "CONTRACTTYPEID", "CONTRACTID", "TEMPLATEID", "PARAMS": [{"NUM": "1", "CONTENT": ...}, ...],
// "SCHEDULETIME": "", "MOBILELIST": "84...", "ISTELCOSUB", "AGENTID", "APIUSER", "APIPASS",
// "USERNAME", "DATACODING"}}, every value a string. DATACODING follows the SMS policy: `0` for
// GSM-7 and `8` for UCS-2 unless `data_coding` says otherwise (unconfirmed). The answer
// {"RPLY": {"name": "send_sms_list", "ERROR": "0", "ERROR_DESC": "success"}} is success; any
// other ERROR is retryable provider_error unless `error_reasons` maps it to a reason (whose
// class it takes: the error table is not public).
//
// Threading: send() runs on the daemon's io_context through the shared HttpClient.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "providers/http_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_vnpt_factory();

// How a send_sms_list answer (or the lack of one) maps to a SendResult: `error_reasons` maps
// VNPT ERROR codes to tinbao reasons. Exposed for tests.
SendResult classify_vnpt_reply(
    const HttpResponse& response,
    const std::vector<std::pair<std::string, std::string>>& error_reasons = {});

}  // namespace tinbao
