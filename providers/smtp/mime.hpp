// Building the RFC 5322 / MIME message the `smtp` adapter sends: mailbox parsing, RFC 2047
// encoded-words for UTF-8 header text, quoted-printable bodies, the RFC 5322 date, and the
// whole message (multipart/alternative when there is HTML). Pure functions, no I/O.
//
// Threading: none; every function is safe to call from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.hpp"

namespace tinbao::mime {

struct Mailbox {
    std::string display_name;  // UTF-8, may be empty
    std::string address;       // local@domain, printable ASCII
};

// True for a plain address local@domain: printable ASCII, no spaces, quotes, brackets or
// separators, one '@', a domain with at least one character.
bool valid_address(std::string_view address);

// "Sở Tư pháp <noreply@example.vn>", "\"Name\" <a@b>" or "a@b". nullopt when malformed.
std::optional<Mailbox> parse_mailbox(std::string_view text);

// A header's value for a line that already holds `prefix_len` characters ("Subject: " is 9):
// raw when it is short printable ASCII, else RFC 2047 B encoded-words in UTF-8 (each at most 75
// characters, never splitting a character), folded with CRLF SP so no line exceeds 76.
// Control characters (CR, LF, ...) become spaces: a value can never start a new header.
std::string encode_header_text(std::string_view value, std::size_t prefix_len);

// A mailbox for From/Reply-To: `address` alone, or the display name (quoted or encoded) and
// `<address>`.
std::string format_mailbox(const Mailbox& mailbox, std::size_t prefix_len);

// Quoted-printable (RFC 2045) of UTF-8 text: lines end in CRLF, encoded lines are at most 76
// characters, trailing white space and a leading '.' are encoded.
std::string quoted_printable(std::string_view text);

// "Fri, 27 Nov 2026 11:05:38 +0700" for the given UTC offset in minutes.
std::string rfc5322_date(std::chrono::system_clock::time_point when, int offset_minutes);

struct Message {
    Mailbox from;
    std::string to;  // bare address
    std::optional<Mailbox> reply_to;
    std::string subject;
    std::string text;
    std::string html;        // empty: text/plain only
    std::string message_id;  // without angle brackets: "msg-1@example.vn"
    std::chrono::system_clock::time_point date;
    int utc_offset_minutes = kLocalUtcOffsetMinutes;
};

// "<id>@<domain>" with the id reduced to characters a Message-ID may hold.
std::string make_message_id(std::string_view id, std::string_view from_address);

// The whole message, CRLF line endings, every line at most 998 characters.
std::string build_message(const Message& message);

}  // namespace tinbao::mime
