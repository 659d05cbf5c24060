// Vietnamese mobile numbers: normalisation to "84" + 9-digit NSN, including the
// 2018 conversion of 11-digit numbers (01662345678 -> 84362345678). Landlines, toll-free and
// premium numbers, and garbage are not mobiles. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tinbao::phone {

// "0912 345 678", "+84 912 345 678", "84912345678", "(+84)912-345-678", "912345678",
// "01662345678" -> "84912345678" style. Between the digits, dots, parentheses, slashes and any
// Unicode space or dash (a no-break space pasted from a web page) are ignored. nullopt when not
// a Vietnamese mobile number.
std::optional<std::string> normalize_mobile(std::string_view input);

// True for a Vietnamese landline (02x... area codes), in any of the forms above.
bool is_landline(std::string_view input);

// The carrier a normalised mobile number ("84" + 9 digits) was allotted to by its prefix:
// "viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "itelecom", or "other" (an
// unknown prefix, or not a normalised number). A hint, not the truth: numbers can be ported to
// another carrier since 2018. Used to price SMS per carrier and to group reports.
std::string_view telco_of(std::string_view normalized);

// The names telco_of() answers, "other" last.
const std::vector<std::string_view>& telcos();

}  // namespace tinbao::phone
