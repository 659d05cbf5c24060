// SMS text as SMPP carries it: GSM 03.38 (data_coding 0, one septet per octet, unpacked) or
// UCS-2 big-endian (data_coding 8), and long messages split into parts for a concatenation UDH.
// No I/O.
//
// Sources: 3GPP TS 23.038 (GSM 03.38) section 6.2.1 (the default alphabet and its extension
// table, reached by the escape 0x1B); 3GPP TS 23.040 section 9.2.3.24.1 (the concatenation
// information element: IEI 0x00, length 3, an 8-bit reference, the number of parts, this part's
// number from 1); SMPP 3.4 section 5.2.19 (data_coding) and 5.2.12 (esm_class 0x40: the
// short_message starts with a UDH).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao::smpp {

// data_coding (SMPP 3.4 section 5.2.19).
inline constexpr uint8_t kCodingDefault = 0;  // SMSC default alphabet: GSM 03.38 here
inline constexpr uint8_t kCodingLatin1 = 3;
inline constexpr uint8_t kCodingUcs2 = 8;

// UTF-8 to GSM 03.38 septets, one per octet: an extension character is 0x1B and its code; a
// character outside the alphabet becomes '?' (the pipeline only sends GSM-7 text that fits).
std::string to_gsm(std::string_view utf8);
// UTF-8 to UCS-2 big-endian (a character beyond U+FFFF as its UTF-16 surrogate pair).
std::string to_ucs2(std::string_view utf8);

// The other way, for what citizens send: invalid input becomes U+FFFD, never an error.
std::string from_gsm(std::string_view septets);
std::string from_ucs2(std::string_view ucs2);
std::string from_latin1(std::string_view octets);
// By data_coding: 8 UCS-2, 3 Latin-1, anything else GSM 03.38 (a reply's alphabet is the
// SMSC's default one).
std::string decode_text(uint8_t data_coding, std::string_view octets);

// An encoded message cut into parts: one part when it fits a single SMS (160 septets, 140
// octets of UCS-2), else parts of 153 septets or 67 UCS-2 characters (room for the 6-octet
// UDH) that never split an escape pair or a surrogate pair. The counts are 3GPP TS 23.040's
// and the SMS text module's, so the number of parts is the segments the pipeline counted.
std::vector<std::string> split_parts(std::string_view encoded, bool ucs2);

// The concatenation UDH (6 octets, UDHL 5) for part `number` (from 1) of `total`.
std::string concat_udh(uint8_t reference, uint8_t total, uint8_t number);

}  // namespace tinbao::smpp
