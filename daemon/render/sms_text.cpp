#include "daemon/render/sms_text.hpp"
#include "daemon/render/unicode.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace tinbao::sms {
namespace {

constexpr std::size_t kGsmSingle = 160;
constexpr std::size_t kGsmPart = 153;
constexpr std::size_t kUcsSingle = 70;
constexpr std::size_t kUcsPart = 67;

// GSM 03.38 default alphabet, as code points, in table order.
constexpr std::array<char32_t, 128> kGsmBasic = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', 0x1B, U'Æ', U'æ', U'ß', U'É',
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':', U';', U'<', U'=', U'>', U'?',
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J', U'K', U'L', U'M', U'N', U'O',
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§',
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k', U'l', U'm', U'n', U'o',
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à',
};

// The extension table: each costs an escape septet plus its own.
constexpr std::array<char32_t, 10> kGsmExtension = {U'\f', U'^', U'{', U'}', U'\\',
                                                    U'[',  U'~', U']', U'|', U'€'};

// 0 = not GSM, 1 = basic table, 2 = extension table.
int gsm_septets_slow(char32_t cp) {
    if (cp == 0x1B) return 0;  // the escape code itself is not a character
    if (std::find(kGsmBasic.begin(), kGsmBasic.end(), cp) != kGsmBasic.end()) return 1;
    if (std::find(kGsmExtension.begin(), kGsmExtension.end(), cp) != kGsmExtension.end())
        return 2;
    return 0;
}

// The same answer through a table for U+0000..U+00FF, where nearly all SMS text lives.
int gsm_septets(char32_t cp) {
    static const std::array<unsigned char, 256> kLatin1 = [] {
        std::array<unsigned char, 256> t{};
        for (char32_t c = 0; c < 256; ++c) t[c] = static_cast<unsigned char>(gsm_septets_slow(c));
        return t;
    }();
    return cp < 256 ? kLatin1[cp] : gsm_septets_slow(cp);
}

// Decodes UTF-8; an invalid byte becomes U+FFFD so counting never fails.
std::vector<char32_t> decode(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    text::for_each_codepoint(s, [&](int32_t cp, std::string_view) {
        out.push_back(cp < 0 ? char32_t{0xFFFD} : static_cast<char32_t>(cp));
    });
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// Punctuation that has a GSM equivalent; nullptr when `cp` is not one of them.
const char* punctuation_replacement(char32_t cp) {
    switch (cp) {
        case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x2039:
        case 0x203A: case 0x00B4: case 0x0060:
            return "'";
        case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: case 0x00AB:
        case 0x00BB:
            return "\"";
        case 0x2026: return "...";
        case 0x00A0: case 0x2002: case 0x2003: case 0x2004: case 0x2005: case 0x2006:
        case 0x2007: case 0x2008: case 0x2009: case 0x200A: case 0x202F: case 0x205F:
        case 0x3000: case U'\t':
            return " ";
        case 0x200B: case 0x200C: case 0x200D: case 0x2060: case 0xFEFF: case 0x00AD:
            return "";
        case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2015:
        case 0x2212:
            return "-";
        case 0x2022: case 0x00B7: return "-";
        case 0x00D7: return "x";
        case 0x2116: return "No.";
        default: return nullptr;
    }
}

// Splits a sequence of unit costs (each 1 or 2) into parts of at most `part` units without
// splitting a 2-unit character.
int parts_of(const std::vector<int>& costs, std::size_t part) {
    int parts = 1;
    std::size_t used = 0;
    for (int c : costs) {
        auto cost = static_cast<std::size_t>(c);
        if (used + cost > part) {
            ++parts;
            used = 0;
        }
        used += cost;
    }
    return parts;
}

// The GSM-7 form: characters outside GSM 03.38 become '?'.
std::string to_gsm(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size());
    for (char32_t cp : decode(utf8)) {
        if (gsm_septets(cp) == 0)
            out.push_back('?');
        else
            append_utf8(out, cp);
    }
    return out;
}

}  // namespace

std::string_view to_string(Encoding e) { return e == Encoding::gsm7 ? "gsm7" : "ucs2"; }

std::string unaccent(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size());
    for (char32_t cp : decode(utf8)) {
        if (cp < 0x80 && cp != U'\t' && cp != U'`') {
            out.push_back(static_cast<char>(cp));
            continue;
        }
        // đ and Đ have no canonical decomposition; Ð (Eth) is a frequent typo for Đ.
        if (cp == 0x0111) { out.push_back('d'); continue; }
        if (cp == 0x0110 || cp == 0x00D0) { out.push_back('D'); continue; }
        if (const char* rep = punctuation_replacement(cp)) {
            out += rep;
            continue;
        }
        // Combining diacritical marks (NFD input, or what decomposition leaves).
        if (cp >= 0x0300 && cp <= 0x036F) continue;
        utf8proc_int32_t parts[8];
        int last_boundclass = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(
            static_cast<utf8proc_int32_t>(cp), parts, 8, UTF8PROC_DECOMPOSE, &last_boundclass);
        if (n <= 0 || n > 8) {
            append_utf8(out, cp);
            continue;
        }
        for (utf8proc_ssize_t i = 0; i < n; ++i) {
            auto p = static_cast<char32_t>(parts[i]);
            if (p >= 0x0300 && p <= 0x036F) continue;
            append_utf8(out, p);
        }
    }
    return out;
}

bool is_gsm7(std::string_view utf8) {
    for (char32_t cp : decode(utf8))
        if (gsm_septets(cp) == 0) return false;
    return true;
}

Count count(std::string_view utf8, Encoding enc) {
    Count c;
    c.encoding = enc;
    std::vector<char32_t> cps = decode(utf8);
    std::vector<int> costs;
    costs.reserve(cps.size());
    for (std::size_t i = 0; i < cps.size(); ++i) {
        char32_t cp = cps[i];
        int septets = gsm_septets(cp);
        if (enc == Encoding::gsm7) {
            costs.push_back(septets == 0 ? 1 : septets);  // a non-GSM char is sent as '?'
        } else {
            costs.push_back(cp > 0xFFFF ? 2 : 1);
        }
        if (septets == 0 && c.first_non_gsm.empty()) {
            append_utf8(c.first_non_gsm, cp);
            c.first_non_gsm_index = i;
        }
        c.characters += static_cast<std::size_t>(costs.back());
    }
    if (enc == Encoding::gsm7) {
        c.first_non_gsm.clear();
        c.first_non_gsm_index = 0;
    }
    std::size_t single = enc == Encoding::gsm7 ? kGsmSingle : kUcsSingle;
    std::size_t part = enc == Encoding::gsm7 ? kGsmPart : kUcsPart;
    if (c.characters == 0)
        c.segments = 0;
    else if (c.characters <= single)
        c.segments = 1;
    else
        c.segments = parts_of(costs, part);
    return c;
}

Count count_auto(std::string_view utf8) {
    return count(utf8, is_gsm7(utf8) ? Encoding::gsm7 : Encoding::ucs2);
}

PlanResult plan(std::string_view utf8, UnicodePolicy policy, int max_segments) {
    PlanResult r;
    auto accept = [&](std::string text, Count c, bool unaccented) {
        if (c.segments > max_segments) {
            r.error = PlanError::too_long;
            r.attempted = std::move(c);
            return;
        }
        r.plan = Plan{std::move(text), std::move(c), unaccented};
    };
    auto unaccented_gsm = [&] {
        std::string text = to_gsm(unaccent(utf8));
        Count c = count(text, Encoding::gsm7);
        bool changed = text != utf8;
        accept(std::move(text), std::move(c), changed);
    };
    switch (policy) {
        case UnicodePolicy::always:
            accept(std::string(utf8), count(utf8, Encoding::ucs2), false);
            break;
        case UnicodePolicy::never:
            unaccented_gsm();
            break;
        case UnicodePolicy::auto_: {
            if (is_gsm7(utf8)) {
                accept(std::string(utf8), count(utf8, Encoding::gsm7), false);
                break;
            }
            Count ucs = count(utf8, Encoding::ucs2);
            if (ucs.segments <= max_segments) {
                accept(std::string(utf8), std::move(ucs), false);
                break;
            }
            unaccented_gsm();
            break;
        }
    }
    return r;
}

std::string replace_forbidden(std::string_view text, std::string_view forbidden_utf8_chars,
                              std::string_view replacement) {
    std::vector<char32_t> forbidden = decode(forbidden_utf8_chars);
    forbidden.erase(std::remove(forbidden.begin(), forbidden.end(), char32_t{0xFFFD}),
                    forbidden.end());
    if (forbidden.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size() + 8);
    // The run of spaces at the end of `out` (if any), and whether a replacement touched it.
    std::size_t run_start = std::string::npos;
    bool run_touched = false;
    bool after_replacement = false;  // the last thing appended came from a replacement
    auto put = [&](char c, bool replaced) {
        if (c == ' ') {
            if (run_start == std::string::npos) {
                run_start = out.size();
                run_touched = after_replacement || replaced;
            } else if (replaced) {
                run_touched = true;
            }
            out.push_back(c);
            return;
        }
        if (run_start != std::string::npos) {
            if (run_touched) out.resize(run_start + 1);
            run_start = std::string::npos;
        }
        after_replacement = replaced;
        out.push_back(c);
    };
    text::for_each_codepoint(text, [&](int32_t cp, std::string_view bytes) {
        bool hit = cp >= 0 && std::find(forbidden.begin(), forbidden.end(),
                                        static_cast<char32_t>(cp)) != forbidden.end();
        if (!hit) {
            for (char c : bytes) put(c, false);
            return;
        }
        if (run_start != std::string::npos) run_touched = true;
        for (char c : replacement) put(c, true);
        after_replacement = true;
    });
    if (run_start != std::string::npos && run_touched) out.resize(run_start + 1);
    return out;
}

}  // namespace tinbao::sms
