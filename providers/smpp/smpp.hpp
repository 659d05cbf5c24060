// The SMPP 3.4 adapter: type `smpp`, channel sms. A direct bind to an SMSC (a carrier's, or an
// aggregator's) with delivery receipts and citizens' replies on the same sessions.
//
// Sessions (client.hpp): `binds` bind_transceiver sessions to host:port (TLS with `tls: true`),
// or with `bind: pair` a bind_transmitter and a bind_receiver each,
// enquire_link every `enquire_link`, each request answered within the provider's `timeout`,
// bound again with backoff after a drop; a bind refused for the account (wrong system_id,
// password, system_type) is the provider's problem() (/readyz, tinbao_provider_problem) and is
// tried again after a minute at the soonest. Window: the provider's max_in_flight divided over
// the binds (10 per bind when unlimited); rate_per_second caps submit_sm over all binds.
//
// submit_sm (pdu.hpp, text.hpp): source_addr/source_ton/source_npi from the config (5/0, an
// alphanumeric brandname, by default), the destination 84... with TON 1 NPI 1, data_coding 0
// (GSM 03.38, one septet per octet) or 8 (UCS-2) as the pipeline's SMS policy chose,
// registered_delivery 1. A long message goes in parts with a concatenation UDH (esm_class 0x40,
// one 8-bit reference per message) or whole in the message_payload TLV (`long_messages:
// payload`). Every command_status is classified in status.cpp (docs/providers/smpp.md).
//
// Receipts (receipt.hpp): each part's message_id is kept in the state store
// (`smpp:<provider>:id:<message_id>`, 7 days), so a receipt after a restart finds its message;
// a message in parts is delivered when every part is, failed when one fails. Updates go
// through ProviderSink::delivery_updates (the call-backs' path); a deliver_sm that is not a
// receipt goes to ProviderSink::inbound. Each deliver_sm is answered once that is done
// (ESME_RX_T_APPN when it could not be: the SMSC sends it again).
//
// Threading: the daemon's io_context.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "providers/provider.hpp"
#include "providers/smpp/pdu.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_smpp_factory();

namespace smpp {

// How submit_sm are built from the config.
struct SubmitSettings {
    std::string source_addr;
    uint8_t source_ton = 5;
    uint8_t source_npi = 0;
    bool payload = false;  // long_messages: payload
};

// The submit_sm of one message, one per part, in order (no sequence numbers yet). Empty, with
// `error` set, when the message cannot be sent (more than 255 parts).
std::vector<Pdu> submits_for(const OutboundMessage& msg, const SubmitSettings& settings,
                             uint8_t reference, std::string& error);

}  // namespace smpp
}  // namespace tinbao
