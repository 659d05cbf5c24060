#include "daemon/render/phone.hpp"

#include "daemon/render/unicode.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdint>
#include <utility>

namespace tinbao::phone {
namespace {

// The 2018 conversion of 11-digit mobile numbers: the old NSN prefix "1xx" becomes a 2-digit
// prefix and the last 7 digits stay.
constexpr std::array<std::pair<std::string_view, std::string_view>, 21> kOld11To10 = {{
    {"162", "32"}, {"163", "33"}, {"164", "34"}, {"165", "35"}, {"166", "36"},
    {"167", "37"}, {"168", "38"}, {"169", "39"}, {"186", "56"}, {"188", "58"},
    {"199", "59"}, {"120", "70"}, {"121", "79"}, {"122", "77"}, {"126", "76"},
    {"128", "78"}, {"123", "83"}, {"124", "84"}, {"125", "85"}, {"127", "81"},
    {"129", "82"},
}};

bool in(char c, std::string_view set) { return set.find(c) != std::string_view::npos; }

// A separator people put between digit groups: ASCII space, tab, dot, hyphen, parentheses,
// slash, and every Unicode space separator (Zs: the no-break space U+00A0 of word processors and
// web pages, U+2007, U+202F, U+3000, ...) and dash (Pd: U+2010..U+2015, ...), and the minus sign.
bool is_separator(int32_t cp) {
    if (cp < 0) return false;
    if (cp < 0x80) return in(static_cast<char>(cp), " \t.-()/");
    if (cp == 0x2212) return true;  // MINUS SIGN is a math symbol (Sm), typed as a dash
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_PD;
}

// Digits of `input` once separators and a leading '+' are removed; nullopt on anything else.
std::optional<std::string> digits_of(std::string_view input) {
    std::string d;
    bool plus_seen = false;
    bool bad = false;
    text::for_each_codepoint(input, [&](int32_t cp, std::string_view) {
        if (cp >= '0' && cp <= '9') {
            d.push_back(static_cast<char>(cp));
        } else if (cp == '+' && d.empty() && !plus_seen) {
            plus_seen = true;
        } else if (!is_separator(cp)) {
            bad = true;
        }
    });
    if (bad || d.empty()) return std::nullopt;
    return d;
}

// The national significant number (no trunk '0', no country code): 9 digits for a mobile,
// 10 for a landline or a pre-2018 mobile.
std::optional<std::string> nsn_of(std::string_view input) {
    auto d = digits_of(input);
    if (!d) return std::nullopt;
    std::string s = std::move(*d);
    if (s.size() > 4 && s.compare(0, 4, "0084") == 0) s.erase(0, 2);
    std::string nsn;
    if (s.size() >= 11 && s.size() <= 13 && s.compare(0, 2, "84") == 0) {
        nsn = s.substr(2);
        // "+84 0912 345 678": a trunk zero kept after the country code.
        if (nsn.front() == '0') nsn.erase(0, 1);
    } else if (s.front() == '0' && (s.size() == 10 || s.size() == 11)) {
        nsn = s.substr(1);
    } else if (s.front() != '0' && (s.size() == 9 || s.size() == 10)) {
        nsn = s;  // the leading zero was lost (spreadsheets)
    } else {
        return std::nullopt;
    }
    if (nsn.size() != 9 && nsn.size() != 10) return std::nullopt;
    if (nsn.front() == '0') return std::nullopt;
    return nsn;
}

// libphonenumber's VN mobile pattern, 9 digits:
// (?:5(?:2[238]|59)|89[6-9]|99[013-9])\d{6}|(?:3\d|5[1689]|7[06-9]|8[1-8]|9[0-8])\d{7}
bool is_mobile_nsn(std::string_view n) {
    if (n.size() != 9) return false;
    char a = n[0], b = n[1], c = n[2];
    switch (a) {
        case '3': return true;
        case '5': return in(b, "1689") || (b == '2' && in(c, "238")) || (b == '5' && c == '9');
        case '7': return in(b, "06789");
        case '8': return (b >= '1' && b <= '8') || (b == '9' && c >= '6' && c <= '9');
        case '9': return (b >= '0' && b <= '8') || (b == '9' && in(c, "013456789"));
        default: return false;
    }
}

// libphonenumber's VN fixed-line pattern, 10 digits:
// 2(?:0[3-9]|1[0-689]|2[0-25-9]|[38][2-9]|4[2-8]|5[124-9]|6[0-39]|7[0-7]|9[0-4679])\d{7}
bool is_landline_nsn(std::string_view n) {
    if (n.size() != 10 || n[0] != '2') return false;
    char b = n[1], c = n[2];
    switch (b) {
        case '0': return c >= '3';
        case '1': return in(c, "012345689");
        case '2': return in(c, "01256789");
        case '3':
        case '8': return c >= '2';
        case '4': return c >= '2' && c <= '8';
        case '5': return in(c, "12456789");
        case '6': return in(c, "01239");
        case '7': return c <= '7';
        case '9': return in(c, "01234679");
        default: return false;
    }
}

}  // namespace

std::optional<std::string> normalize_mobile(std::string_view input) {
    auto nsn = nsn_of(input);
    if (!nsn) return std::nullopt;
    std::string n = std::move(*nsn);
    if (n.size() == 10) {
        if (n.front() != '1') return std::nullopt;
        std::string_view old = std::string_view(n).substr(0, 3);
        std::string converted;
        for (const auto& [from, to] : kOld11To10)
            if (from == old) converted = std::string(to) + n.substr(3);
        if (converted.empty()) return std::nullopt;
        n = std::move(converted);
    }
    if (!is_mobile_nsn(n)) return std::nullopt;
    return "84" + n;
}

bool is_landline(std::string_view input) {
    auto nsn = nsn_of(input);
    return nsn && is_landline_nsn(*nsn);
}

namespace {

// Mobile prefixes (the two digits after "84") by the carrier they were allotted to, after the
// 2018 conversion to 10-digit numbers: the carrier data of libphonenumber
// (resources/carrier/en/84.txt) and the carriers' own announcements.
struct TelcoPrefix {
    std::string_view prefix;
    std::string_view telco;
};
constexpr std::array<TelcoPrefix, 34> kTelcoPrefixes = {{
    {"86", "viettel"},      {"96", "viettel"},      {"97", "viettel"},      {"98", "viettel"},
    {"32", "viettel"},      {"33", "viettel"},      {"34", "viettel"},      {"35", "viettel"},
    {"36", "viettel"},      {"37", "viettel"},      {"38", "viettel"},      {"39", "viettel"},
    {"88", "vinaphone"},    {"91", "vinaphone"},    {"94", "vinaphone"},    {"81", "vinaphone"},
    {"82", "vinaphone"},    {"83", "vinaphone"},    {"84", "vinaphone"},    {"85", "vinaphone"},
    {"89", "mobifone"},     {"90", "mobifone"},     {"93", "mobifone"},     {"70", "mobifone"},
    {"76", "mobifone"},     {"77", "mobifone"},     {"78", "mobifone"},     {"79", "mobifone"},
    {"92", "vietnamobile"}, {"52", "vietnamobile"}, {"56", "vietnamobile"}, {"58", "vietnamobile"},
    {"99", "gmobile"},      {"59", "gmobile"},
}};

}  // namespace

std::string_view telco_of(std::string_view n) {
    if (n.size() != 11 || n.substr(0, 2) != "84") return "other";
    const std::string_view prefix = n.substr(2, 2);
    if (prefix == "87") return "itelecom";
    for (const auto& p : kTelcoPrefixes)
        if (p.prefix == prefix) return p.telco;
    return "other";
}

const std::vector<std::string_view>& telcos() {
    static const std::vector<std::string_view> all = {
        "viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "itelecom", "other"};
    return all;
}

}  // namespace tinbao::phone
