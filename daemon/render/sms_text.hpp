// SMS text: GSM 03.38 (basic + extension tables) vs UCS-2, segment counting, diacritics removal,
// and the `sms.unicode` policy (docs/templates.md, "SMS text policy"). Pure functions;
// thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tinbao::sms {

enum class Encoding { gsm7, ucs2 };
enum class UnicodePolicy { auto_, never, always };

std::string_view to_string(Encoding e);  // "gsm7" | "ucs2"

// Vietnamese without diacritics: all 134 accented letters, đ->d, Đ->D, Ð->D; input NFC.
// Also replaces common non-GSM punctuation (curly quotes, …, non-breaking space, dashes) with
// GSM equivalents.
std::string unaccent(std::string_view utf8);

struct Count {
    Encoding encoding = Encoding::gsm7;
    std::size_t characters = 0;   // GSM-7: septets (extension chars count 2); UCS-2: code units
    int segments = 0;             // 0 for empty text
    // When UCS-2: the first character that is not in GSM 03.38, and its 0-based character index.
    std::string first_non_gsm;
    std::size_t first_non_gsm_index = 0;
};

// True when every character of `utf8` is in GSM 03.38 (basic or extension table).
bool is_gsm7(std::string_view utf8);

// Counts `utf8` as it would be sent in `enc` (gsm7 requires is_gsm7()).
Count count(std::string_view utf8, Encoding enc);
// Counts in GSM-7 when possible, else UCS-2 (what `auto` would need before the fallback).
Count count_auto(std::string_view utf8);

struct Plan {
    std::string text;       // what will be sent
    Count count;
    bool unaccented = false;  // diacritics were removed by the policy
};

enum class PlanError { too_long };

// Applies the policy: always -> UCS-2; never -> unaccent, GSM-7 (characters still outside GSM are
// replaced by '?'); auto -> GSM-7 when possible, else UCS-2, else (UCS-2 over max_segments) the
// unaccented GSM-7 form. Text still over max_segments -> too_long.
struct PlanResult {
    std::optional<Plan> plan;
    std::optional<PlanError> error;
    Count attempted;  // the count that was over the limit, for the error message
};
PlanResult plan(std::string_view utf8, UnicodePolicy policy, int max_segments);

// Per-provider forbidden characters (several brandname gateways reject '&' and '#'): every code
// point of `text` found in `forbidden_utf8_chars` becomes `replacement`. Then every run of spaces
// that a replacement created or touched ("A & B" -> "A   B") collapses to one space; runs the
// text had by itself elsewhere are kept. An invalid byte in `text` is kept as it is.
std::string replace_forbidden(std::string_view text, std::string_view forbidden_utf8_chars,
                              std::string_view replacement);

}  // namespace tinbao::sms
