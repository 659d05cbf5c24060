#include "providers/smpp/status.hpp"

#include <cstdio>

#include "providers/reasons.hpp"

namespace tinbao::smpp {

namespace {

constexpr auto R = FailureClass::retryable;
constexpr auto P = FailureClass::permanent;

// SMPP 3.4 section 5.1.3, every code it defines. Permanent: the same submit_sm will be refused
// again (a configuration the SMSC does not accept, a bad number, refused content). Retryable:
// the SMSC's state, not the message.
constexpr StatusInfo kTable[] = {
    {0x00, "ESME_ROK", R, "", "no error"},
    {0x01, "ESME_RINVMSGLEN", P, reason::kTooLong, "message length is invalid"},
    {0x02, "ESME_RINVCMDLEN", R, reason::kProviderError, "the SMSC could not frame the PDU"},
    {0x03, "ESME_RINVCMDID", R, reason::kProviderError, "the SMSC does not know the command"},
    {0x04, "ESME_RINVBNDSTS", R, reason::kProviderUnavailable,
     "the session is not bound for this command: bound again"},
    {0x05, "ESME_RALYBND", R, reason::kProviderError, "already bound"},
    {0x06, "ESME_RINVPRTFLG", P, reason::kConfigError, "priority_flag refused"},
    {0x07, "ESME_RINVREGDLVFLG", P, reason::kConfigError, "registered_delivery refused"},
    {0x08, "ESME_RSYSERR", R, reason::kProviderUnavailable, "the SMSC's system error"},
    {0x0A, "ESME_RINVSRCADR", P, reason::kConfigError,
     "source_addr refused (a brandname not registered for this account)"},
    {0x0B, "ESME_RINVDSTADR", P, reason::kInvalidPhone, "destination address refused"},
    {0x0C, "ESME_RINVMSGID", R, reason::kProviderError, "message id invalid"},
    {0x0D, "ESME_RBINDFAIL", R, reason::kProviderUnavailable, "bind failed"},
    {0x0E, "ESME_RINVPASWD", P, reason::kAuthFailed, "password refused"},
    {0x0F, "ESME_RINVSYSID", P, reason::kAuthFailed, "system_id refused"},
    {0x11, "ESME_RCANCELFAIL", R, reason::kProviderError, "cancel_sm failed"},
    {0x13, "ESME_RREPLACEFAIL", R, reason::kProviderError, "replace_sm failed"},
    {0x14, "ESME_RMSGQFUL", R, reason::kThrottled, "the SMSC's queue is full: slowed down"},
    {0x15, "ESME_RINVSERTYP", P, reason::kConfigError, "service_type refused"},
    {0x33, "ESME_RINVNUMDESTS", P, reason::kConfigError, "number of destinations invalid"},
    {0x34, "ESME_RINVDLNAME", P, reason::kConfigError, "distribution list name invalid"},
    {0x40, "ESME_RINVDESTFLAG", P, reason::kConfigError, "destination flag invalid"},
    {0x42, "ESME_RINVSUBREP", P, reason::kConfigError, "submit with replace refused"},
    {0x43, "ESME_RINVESMCLASS", P, reason::kConfigError,
     "esm_class refused (a UDH the SMSC does not take: long_messages: payload)"},
    {0x44, "ESME_RCNTSUBDL", P, reason::kConfigError, "cannot submit to a distribution list"},
    {0x45, "ESME_RSUBMITFAIL", R, reason::kProviderError, "submit failed"},
    {0x48, "ESME_RINVSRCTON", P, reason::kConfigError, "source_ton refused"},
    {0x49, "ESME_RINVSRCNPI", P, reason::kConfigError, "source_npi refused"},
    {0x50, "ESME_RINVDSTTON", P, reason::kConfigError, "destination TON refused"},
    {0x51, "ESME_RINVDSTNPI", P, reason::kConfigError, "destination NPI refused"},
    {0x53, "ESME_RINVSYSTYP", P, reason::kAuthFailed, "system_type refused"},
    {0x54, "ESME_RINVREPFLAG", P, reason::kConfigError, "replace_if_present_flag refused"},
    {0x55, "ESME_RINVNUMMSGS", P, reason::kConfigError, "number of messages invalid"},
    {0x58, "ESME_RTHROTTLED", R, reason::kThrottled, "over the SMSC's rate: slowed down"},
    {0x61, "ESME_RINVSCHED", P, reason::kConfigError, "schedule_delivery_time refused"},
    {0x62, "ESME_RINVEXPIRY", P, reason::kConfigError, "validity_period refused"},
    {0x63, "ESME_RINVDFTMSGID", P, reason::kConfigError, "sm_default_msg_id refused"},
    {0x64, "ESME_RX_T_APPN", R, reason::kProviderError, "temporary application error"},
    {0x65, "ESME_RX_P_APPN", P, reason::kRejectedContent, "permanent application error"},
    {0x66, "ESME_RX_R_APPN", P, reason::kRejectedContent, "message rejected"},
    {0x67, "ESME_RQUERYFAIL", R, reason::kProviderError, "query_sm failed"},
    {0xC0, "ESME_RINVOPTPARSTREAM", P, reason::kConfigError, "TLVs refused"},
    {0xC1, "ESME_ROPTPARNOTALLWD", P, reason::kConfigError,
     "a TLV not allowed (message_payload: long_messages: udh)"},
    {0xC2, "ESME_RINVPARLEN", P, reason::kConfigError, "a TLV's length refused"},
    {0xC3, "ESME_RMISSINGOPTPARAM", P, reason::kConfigError, "a TLV the SMSC requires"},
    {0xC4, "ESME_RINVOPTPARAMVAL", P, reason::kConfigError, "a TLV's value refused"},
    {0xFE, "ESME_RDELIVERYFAILURE", R, reason::kProviderError, "delivery failure"},
    {0xFF, "ESME_RUNKNOWNERR", R, reason::kProviderError, "unknown error"},
    // The SMSC vendor's own (0x400-0x4FF) and every other code: classify_status()'s default.
};

}  // namespace

StatusInfo classify_status(uint32_t code) {
    for (auto& s : kTable)
        if (s.code == code) return s;
    StatusInfo unknown;
    unknown.code = code;
    unknown.failure = R;
    unknown.reason = reason::kProviderError;
    unknown.why = "not in SMPP 3.4 (an SMSC's own code): retryable";
    return unknown;
}

std::string describe_status(uint32_t code) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", code);
    auto s = classify_status(code);
    if (s.name.empty()) return hex;
    return std::string(s.name) + " (" + hex + ")";
}

bool is_throttle(uint32_t code) { return code == 0x58 || code == 0x14; }

bool is_account_problem(uint32_t code) {
    // ESME_RBINDFAIL too: several SMSCs answer it for wrong credentials.
    return code == 0x0D || code == 0x0E || code == 0x0F || code == 0x53;
}

}  // namespace tinbao::smpp
