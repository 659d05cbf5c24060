// A citizen's message in a deliver_sm (or data_sm) that is not a receipt. No I/O.
//
// The sender becomes 84... for a VN number (0... and +84... rewritten), the text is decoded
// (data_coding 8 UCS-2, 3 Latin-1, otherwise GSM 03.38; a UDH is skipped). No field of a
// deliver_sm names a citizen's message (message_id is empty in deliver_sm and its response,
// SMPP 3.4 section 4.6, and receipted_message_id makes it a receipt), so an SMSC that sends the
// same message again (its deliver_sm_resp was lost, or said ESME_RX_T_APPN) is recognised by
// `dedupe_key`: a hash of what the SMSC sends again unchanged (source and destination, esm_class,
// data_coding, the octets with their UDH, the sar_* TLVs and the SMSC's times when given), not
// of the sequence number, which changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "providers/provider.hpp"
#include "providers/smpp/pdu.hpp"

namespace tinbao::smpp {

// `received_ms`: when it came; `window`: how long an equal PDU counts as sent again (0: never,
// no dedupe_key).
InboundMessage inbound_message(const Pdu& p, std::string provider, int64_t received_ms,
                               std::chrono::milliseconds window);

}  // namespace tinbao::smpp
