#include "providers/smpp/text.hpp"

#include <algorithm>
#include <array>

namespace tinbao::smpp {

namespace {

// 3GPP TS 23.038 section 6.2.1, the default alphabet in code order (0x1B: the escape).
constexpr std::array<char32_t, 128> kBasic = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç',  U'\n', U'Ø', U'ø',   U'\r', U'Å',
    U'å', U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ',  U'Θ',  U'Ξ', 0xFFFF, U'Æ',  U'æ',
    U'ß', U'É', U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(',  U')', U'*',   U'+',  U',',
    U'-', U'.', U'/', U'0', U'1', U'2', U'3', U'4', U'5', U'6',  U'7',  U'8', U'9',   U':',  U';',
    U'<', U'=', U'>', U'?', U'¡', U'A', U'B', U'C', U'D', U'E',  U'F',  U'G', U'H',   U'I',  U'J',
    U'K', U'L', U'M', U'N', U'O', U'P', U'Q', U'R', U'S', U'T',  U'U',  U'V', U'W',   U'X',  U'Y',
    U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§', U'¿', U'a', U'b', U'c',  U'd',  U'e', U'f',   U'g',  U'h',
    U'i', U'j', U'k', U'l', U'm', U'n', U'o', U'p', U'q', U'r',  U's',  U't', U'u',   U'v',  U'w',
    U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à',
};

// The extension table: (code after the escape, character).
struct Ext {
    uint8_t code;
    char32_t cp;
};
constexpr std::array<Ext, 10> kExtension = {{{0x0A, U'\f'},
                                             {0x14, U'^'},
                                             {0x28, U'{'},
                                             {0x29, U'}'},
                                             {0x2F, U'\\'},
                                             {0x3C, U'['},
                                             {0x3D, U'~'},
                                             {0x3E, U']'},
                                             {0x40, U'|'},
                                             {0x65, U'€'}}};

constexpr char32_t kReplacement = 0xFFFD;

// Decodes UTF-8 one code point at a time; an invalid sequence is U+FFFD for one octet.
std::vector<char32_t> utf8_decode(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80           ? 1
                  : (b >> 5) == 0x6  ? 2
                  : (b >> 4) == 0xE  ? 3
                  : (b >> 3) == 0x1E ? 4
                                     : 0;
        if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) {
            out.push_back(kReplacement);
            ++i;
            continue;
        }
        char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
        bool ok = true;
        for (int k = 1; k < len; ++k) {
            auto c = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
            if ((c & 0xC0) != 0x80) ok = false;
            cp = cp << 6 | (c & 0x3F);
        }
        static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (!ok || cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            out.push_back(kReplacement);
            ++i;
            continue;
        }
        out.push_back(cp);
        i += static_cast<std::size_t>(len);
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | cp >> 6));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | cp >> 12));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | cp >> 18));
        out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

constexpr std::size_t kGsmSingle = 160, kGsmPart = 153;
constexpr std::size_t kUcsSingle = 140, kUcsPart = 134;  // octets

}  // namespace

std::string to_gsm(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size());
    for (char32_t cp : utf8_decode(utf8)) {
        bool done = false;
        for (std::size_t i = 0; i < kBasic.size() && !done; ++i)
            if (kBasic[i] == cp) {
                out.push_back(static_cast<char>(i));
                done = true;
            }
        for (auto& e : kExtension)
            if (!done && e.cp == cp) {
                out.push_back(0x1B);
                out.push_back(static_cast<char>(e.code));
                done = true;
            }
        if (!done) out.push_back('?');
    }
    return out;
}

std::string to_ucs2(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size() * 2);
    auto unit = [&](uint32_t u) {
        out.push_back(static_cast<char>(u >> 8));
        out.push_back(static_cast<char>(u & 0xFF));
    };
    for (char32_t cp : utf8_decode(utf8)) {
        if (cp > 0xFFFF) {
            uint32_t v = cp - 0x10000;
            unit(0xD800 | v >> 10);
            unit(0xDC00 | (v & 0x3FF));
        } else {
            unit(cp);
        }
    }
    return out;
}

std::string from_gsm(std::string_view septets) {
    std::string out;
    for (std::size_t i = 0; i < septets.size(); ++i) {
        auto c = static_cast<uint8_t>(septets[i]);
        if (c >= 0x80) {
            utf8_append(out, kReplacement);
            continue;
        }
        if (c == 0x1B) {
            if (i + 1 >= septets.size()) break;
            auto n = static_cast<uint8_t>(septets[++i]);
            char32_t cp = U' ';  // an unknown extension: a space (23.038's fallback)
            for (auto& e : kExtension)
                if (e.code == n) cp = e.cp;
            utf8_append(out, cp);
            continue;
        }
        utf8_append(out, kBasic[c]);
    }
    return out;
}

std::string from_ucs2(std::string_view ucs2) {
    std::string out;
    for (std::size_t i = 0; i + 1 < ucs2.size(); i += 2) {
        char32_t u = static_cast<uint8_t>(ucs2[i]) << 8 | static_cast<uint8_t>(ucs2[i + 1]);
        if (u >= 0xD800 && u <= 0xDBFF && i + 3 < ucs2.size()) {
            char32_t lo =
                static_cast<uint8_t>(ucs2[i + 2]) << 8 | static_cast<uint8_t>(ucs2[i + 3]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                utf8_append(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                i += 2;
                continue;
            }
        }
        utf8_append(out, u >= 0xD800 && u <= 0xDFFF ? kReplacement : u);
    }
    if (ucs2.size() % 2 != 0) utf8_append(out, kReplacement);
    return out;
}

std::string from_latin1(std::string_view octets) {
    std::string out;
    for (char c : octets) utf8_append(out, static_cast<uint8_t>(c));
    return out;
}

std::string decode_text(uint8_t data_coding, std::string_view octets) {
    if (data_coding == kCodingUcs2) return from_ucs2(octets);
    if (data_coding == kCodingLatin1) return from_latin1(octets);
    return from_gsm(octets);
}

std::vector<std::string> split_parts(std::string_view encoded, bool ucs2) {
    const std::size_t single = ucs2 ? kUcsSingle : kGsmSingle;
    const std::size_t part = ucs2 ? kUcsPart : kGsmPart;
    if (encoded.size() <= single) return {std::string(encoded)};
    std::vector<std::string> parts;
    std::size_t at = 0;
    while (at < encoded.size()) {
        std::size_t n = std::min(part, encoded.size() - at);
        if (at + n < encoded.size()) {
            if (ucs2) {
                // Not between the two halves of a surrogate pair.
                auto hi = static_cast<uint8_t>(encoded[at + n - 2]);
                if (hi >= 0xD8 && hi <= 0xDB) n -= 2;
            } else {
                // Not between an escape and its character: count escapes from the part's start.
                bool escaped = false;
                for (std::size_t k = 0; k < n; ++k) escaped = !escaped && encoded[at + k] == 0x1B;
                if (escaped) n -= 1;
            }
        }
        parts.emplace_back(encoded.substr(at, n));
        at += n;
    }
    return parts;
}

std::string concat_udh(uint8_t reference, uint8_t total, uint8_t number) {
    return std::string{0x05,
                       0x00,
                       0x03,
                       static_cast<char>(reference),
                       static_cast<char>(total),
                       static_cast<char>(number)};
}

}  // namespace tinbao::smpp
