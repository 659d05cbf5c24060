// Vietnamese mobile numbers: normalisation to "84" + 9-digit NSN, including the
// 2018 conversion of 11-digit numbers (01662345678 -> 84362345678). Landlines, toll-free and
// premium numbers, and garbage are not mobiles. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tinbao::phone {

// "0912 345 678", "+84 912 345 678", "84912345678", "(+84)912-345-678", "912345678",
// "01662345678" -> "84912345678" style. Between the digits, dots, parentheses, slashes and any
// Unicode space or dash (a no-break space pasted from a web page) are ignored. nullopt when not
// a Vietnamese mobile number.
std::optional<std::string> normalize_mobile(std::string_view input);

// True for a Vietnamese landline (02x... area codes), in any of the forms above.
bool is_landline(std::string_view input);

}  // namespace tinbao::phone
