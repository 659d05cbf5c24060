// SMPP 3.4 command_status values (section 5.1.3) and what each means for a message: retryable
// or permanent, with a reason from the shared vocabulary (providers/reasons.hpp). The same table
// is in docs/providers/smpp.md. No I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "providers/provider.hpp"

namespace tinbao::smpp {

struct StatusInfo {
    uint32_t code = 0;
    std::string_view name;  // "ESME_RTHROTTLED"
    FailureClass failure = FailureClass::retryable;
    std::string_view reason;
    std::string_view why;  // one line: why this class
};

// The entry of `code`; one for an unlisted code (retryable provider_error, name "0x...").
StatusInfo classify_status(uint32_t code);
// "ESME_RTHROTTLED (0x00000058)", or "0x00000401" for an unlisted code.
std::string describe_status(uint32_t code);
// The codes that slow a session down (ESME_RTHROTTLED, ESME_RMSGQFUL).
bool is_throttle(uint32_t code);
// A bind refused for the account (a wrong system_id, password or system_type): no quick retry.
bool is_account_problem(uint32_t code);

}  // namespace tinbao::smpp
