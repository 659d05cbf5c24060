// SMPP 3.4 PDUs: the ones tinbao sends or reads, encoded and decoded from bytes. No I/O.
//
// Source: Short Message Peer to Peer Protocol Specification v3.4, Issue 1.2 (SMPP Developers
// Forum, 1999), https://smpp.org/SMPP_v3_4_Issue1_2.pdf: section 3.2 (PDU format: a 16-octet
// header of command_length, command_id, command_status, sequence_number, all big-endian),
// section 4 (each PDU's mandatory fields), 5.1 (command ids, command_status values), 5.3 (TLVs:
// tag, length, value).
//
// Strings are C-Octet Strings (NUL-terminated; each field's maximum includes the NUL); the
// short_message is an Octet String led by sm_length. A response whose command_status is not 0
// may come without a body (section 4: "the body ... is not returned"): decoded as empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao::smpp {

// Section 5.1.2.1.
namespace cmd {
inline constexpr uint32_t kGenericNack = 0x80000000;
inline constexpr uint32_t kBindReceiver = 0x00000001;
inline constexpr uint32_t kBindTransmitter = 0x00000002;
inline constexpr uint32_t kSubmitSm = 0x00000004;
inline constexpr uint32_t kDeliverSm = 0x00000005;
inline constexpr uint32_t kUnbind = 0x00000006;
inline constexpr uint32_t kBindTransceiver = 0x00000009;
inline constexpr uint32_t kOutbind = 0x0000000B;
inline constexpr uint32_t kEnquireLink = 0x00000015;
inline constexpr uint32_t kAlertNotification = 0x00000102;
inline constexpr uint32_t kDataSm = 0x00000103;
inline constexpr uint32_t kResponse = 0x80000000;  // a response's bit
}  // namespace cmd

// The command_status values tinbao names (all are in status.hpp's table).
namespace status {
inline constexpr uint32_t kOk = 0x00000000;
inline constexpr uint32_t kInvalidCommandLength = 0x00000002;
inline constexpr uint32_t kInvalidCommandId = 0x00000003;
inline constexpr uint32_t kMessageQueueFull = 0x00000014;
inline constexpr uint32_t kThrottled = 0x00000058;
inline constexpr uint32_t kTemporaryAppError = 0x00000064;  // ESME_RX_T_APPN
inline constexpr uint32_t kUnknownError = 0x000000FF;
}  // namespace status

// Section 5.3.2.
namespace tag {
inline constexpr uint16_t kReceiptedMessageId = 0x001E;
inline constexpr uint16_t kSarMsgRefNum = 0x020C;
inline constexpr uint16_t kSarTotalSegments = 0x020E;
inline constexpr uint16_t kSarSegmentSeqnum = 0x020F;
inline constexpr uint16_t kScInterfaceVersion = 0x0210;
inline constexpr uint16_t kNetworkErrorCode = 0x0423;
inline constexpr uint16_t kMessagePayload = 0x0424;
inline constexpr uint16_t kMessageState = 0x0427;
}  // namespace tag

inline constexpr std::size_t kHeaderLength = 16;
// The largest PDU accepted: a message_payload TLV carries up to 64 KiB (section 5.3.2.32), plus
// the mandatory fields. Anything longer is refused before it is read.
inline constexpr std::size_t kMaxPduLength = 70000;

// Field limits, NUL included (section 4).
namespace limit {
inline constexpr std::size_t kSystemId = 16;
inline constexpr std::size_t kPassword = 9;
inline constexpr std::size_t kSystemType = 13;
inline constexpr std::size_t kServiceType = 6;
inline constexpr std::size_t kAddress = 21;      // submit_sm, deliver_sm: source, destination
inline constexpr std::size_t kLongAddress = 65;  // data_sm, alert_notification
inline constexpr std::size_t kAddressRange = 41;
inline constexpr std::size_t kTime = 17;  // schedule_delivery_time, validity_period
inline constexpr std::size_t kMessageId = 65;
inline constexpr std::size_t kShortMessage = 254;
}  // namespace limit

struct Address {
    uint8_t ton = 0;
    uint8_t npi = 0;
    std::string value;
};

struct Tlv {
    uint16_t tag = 0;
    std::string value;
};

// Every PDU as one flat record: the fields a command does not have stay empty. Which fields a
// command carries is decided by command_id alone, when encoding and decoding.
struct Pdu {
    uint32_t command_id = 0;
    uint32_t command_status = 0;
    uint32_t sequence = 0;

    // bind_transmitter, bind_receiver, bind_transceiver (section 4.1); system_id also in
    // their responses.
    std::string system_id;
    std::string password;
    std::string system_type;
    uint8_t interface_version = 0x34;
    Address address_range;

    // submit_sm, deliver_sm (sections 4.4, 4.6); data_sm (4.7) has the marked ones only.
    std::string service_type;  // data_sm too
    Address source;            // data_sm too
    Address destination;       // data_sm too
    uint8_t esm_class = 0;     // data_sm too
    uint8_t protocol_id = 0;
    uint8_t priority_flag = 0;
    std::string schedule_delivery_time;
    std::string validity_period;
    uint8_t registered_delivery = 0;  // data_sm too
    uint8_t replace_if_present = 0;
    uint8_t data_coding = 0;  // data_sm too
    uint8_t sm_default_msg_id = 0;
    std::string short_message;  // up to 254 octets

    // submit_sm_resp, deliver_sm_resp, data_sm_resp.
    std::string message_id;

    // Optional parameters, in order (bind_*_resp, submit_sm, deliver_sm, data_sm, data_sm_resp).
    std::vector<Tlv> tlvs;

    bool is_response() const { return (command_id & cmd::kResponse) != 0; }
    const Tlv* find(uint16_t tag) const;
    void add(uint16_t tag, std::string value) { tlvs.push_back({tag, std::move(value)}); }
};

// The command's name ("submit_sm_resp"), or "command 0x...": for logs and send-test.
std::string command_name(uint32_t command_id);

// The PDU's bytes, header included; nullopt when a field is over its limit (the caller checks
// configuration and text before).
std::optional<std::string> encode(const Pdu& pdu);

enum class DecodeError {
    none,
    short_header,  // fewer than 16 octets: not a PDU (framing: read more)
    bad_length,    // command_length under 16 or over kMaxPduLength: the stream is lost
    truncated,     // command_length says more than the bytes given
    malformed,     // a field runs past the end, a string has no NUL within its limit, a TLV's
                   // length runs past the end, or octets are left after the body
};
std::string_view to_string(DecodeError e);

struct Decoded {
    DecodeError error = DecodeError::none;
    Pdu pdu;  // header fields are set whenever the header could be read
    // Octets the PDU used (command_length) when error is none or malformed.
    std::size_t length = 0;
};

// The command_length at the front of `bytes` (at least 4 octets), 0 when fewer.
uint32_t peek_length(std::string_view bytes);

// Decodes the PDU at the front of `bytes`. A command_id tinbao does not know decodes its header
// only (the caller answers generic_nack ESME_RINVCMDID).
Decoded decode(std::string_view bytes);

// Whether tinbao knows the command's body (decode() reads it).
bool known_command(uint32_t command_id);

}  // namespace tinbao::smpp
