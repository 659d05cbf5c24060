// Delivery receipts in deliver_sm (or data_sm). No I/O.
//
// A deliver_sm is a receipt when its esm_class says so (bits 2-5: 0001 SMSC delivery receipt,
// 1000 intermediate notification; SMPP 3.4 section 5.2.12), when it carries the
// receipted_message_id TLV (5.3.2.12), or when its text is the receipt format of SMPP 3.4
// Appendix B: "id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
// stat:DDDDDDD err:E text:...". The TLVs win over the text: receipted_message_id over `id:`,
// message_state (5.3.2.35) over `stat:`, network_error_code (5.3.2.31) over `err:`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "providers/smpp/pdu.hpp"

namespace tinbao::smpp {

enum class ReceiptOutcome { pending, delivered, failed };

struct Receipt {
    std::string id;     // the message_id of the submit_sm_resp it reports on
    std::string stat;   // DELIVRD, UNDELIV, REJECTD, EXPIRED, DELETED, ACCEPTD, ENROUTE, UNKNOWN
    std::string error;  // err: (three digits) or the network_error_code ("type/code")
    std::string done_date;
    ReceiptOutcome outcome = ReceiptOutcome::pending;
};

// Whether `pdu` (deliver_sm or data_sm) is a receipt at all, even an unreadable one.
bool is_receipt(const Pdu& pdu);

// The receipt in `pdu`; nullopt when it is not one, or names no message id.
std::optional<Receipt> parse_receipt(const Pdu& pdu);

// The fields of the text format alone (keys in any case; the order as SMSCs send it, missing
// ones empty).
Receipt parse_receipt_text(std::string_view text);

// stat: text to outcome: DELIVRD delivered; UNDELIV, REJECTD, EXPIRED, DELETED failed; the rest
// (ACCEPTD, ENROUTE, UNKNOWN) pending.
ReceiptOutcome outcome_of_stat(std::string_view stat);
// message_state (5.2.28): 2 delivered; 3 expired, 4 deleted, 5 undeliverable, 8 rejected failed;
// the rest pending. `stat` gets its text name.
ReceiptOutcome outcome_of_state(uint8_t state, std::string& stat);

}  // namespace tinbao::smpp
