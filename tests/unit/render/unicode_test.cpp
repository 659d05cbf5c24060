// text::stable_nfc, the shortcut that skips normalising text NFC would not change, checked
// against utf8proc itself over every code point it accepts; text::grapheme_prefix, which counts
// characters as a reader does.
#include "daemon/render/unicode.hpp"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <string>

namespace tinbao::text {
namespace {

std::string utf8(int32_t cp) {
    utf8proc_uint8_t buf[4];
    auto n = utf8proc_encode_char(cp, buf);
    return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// NFC by utf8proc, never through the shortcut.
std::string reference_nfc(const std::string& s) {
    auto* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
    std::string r(reinterpret_cast<const char*>(out));
    std::free(out);
    return r;
}

bool in_fast_ranges(int32_t cp) {
    return (cp > 0 && cp < 0x300) || (cp >= 0x1E00 && cp <= 0x1EFF);
}

TEST(StableNfc, EveryAcceptedCodePointIsNfcAloneAndBesideEveryOther) {
    std::vector<std::string> accepted;
    for (int32_t cp = 1; cp < 0x2000; ++cp) {
        if (!utf8proc_codepoint_valid(cp)) continue;
        auto s = utf8(cp);
        EXPECT_EQ(stable_nfc(s), in_fast_ranges(cp)) << std::hex << cp;
        if (!in_fast_ranges(cp)) continue;
        EXPECT_EQ(reference_nfc(s), s) << std::hex << cp;
        accepted.push_back(s);
    }
    ASSERT_EQ(accepted.size(), 0x2FFu + 0x100u);
    // No accepted character composes with a neighbour: every pair stays as it is.
    for (size_t i = 0; i < accepted.size(); ++i)
        for (size_t j = i % 5; j < accepted.size(); j += 5) {
            auto pair = accepted[i] + accepted[j];
            ASSERT_TRUE(stable_nfc(pair));
            ASSERT_EQ(reference_nfc(pair), pair) << i << " " << j;
        }
}

TEST(StableNfc, RefusesWhatNeedsALookOrIsNotUtf8) {
    EXPECT_TRUE(stable_nfc(""));
    EXPECT_TRUE(stable_nfc("Nguyễn Thị Ánh Tuyết, Đắk Lắk"));
    EXPECT_FALSE(stable_nfc("Nguye\xcc\x82\xcc\x83n"));  // NFD: combining marks
    EXPECT_FALSE(stable_nfc("\xe2\x84\xa6"));            // U+2126 OHM SIGN, NFC is U+03A9
    EXPECT_FALSE(stable_nfc("\xc0\x80"));                // overlong NUL
    EXPECT_FALSE(stable_nfc("\xc3"));                    // truncated
    EXPECT_FALSE(stable_nfc("\xe1\xbb"));                // truncated U+1ExX
    EXPECT_FALSE(stable_nfc("\xc3\x28"));                // bad continuation
    EXPECT_FALSE(stable_nfc("\xed\xa0\x80"));            // a surrogate
    // nfc() gives the same answers with or without the shortcut.
    EXPECT_EQ(*nfc("Nguye\xcc\x82\xcc\x83n"), "Nguyễn");
    EXPECT_EQ(*nfc("Đắk Lắk"), "Đắk Lắk");
    EXPECT_FALSE(nfc("\xc3\x28").has_value());
}

TEST(GraphemePrefix, CountsALetterWithItsMarksAsOneCharacter) {
    const std::string marks = "x\u0323\u0302y";  // x, combining dot below, circumflex, y
    EXPECT_EQ(grapheme_prefix(marks, 0), 0u);
    EXPECT_EQ(grapheme_prefix(marks, 1), marks.size() - 1);
    EXPECT_EQ(grapheme_prefix(marks, 2), marks.size());
    EXPECT_EQ(grapheme_prefix(marks, 9), marks.size());
    // Vietnamese in NFC: one code point per letter, so characters are code points.
    const std::string name = "Nguy\u1ec5n";
    EXPECT_EQ(grapheme_prefix(name, 6), name.size());
    EXPECT_EQ(grapheme_prefix(name, 5), name.size() - 1);
    EXPECT_EQ(grapheme_prefix(name, 4), 4u);
    // The same letter decomposed (e, circumflex, tilde) is still one character.
    const std::string decomposed = "Nguye\u0302\u0303n";
    EXPECT_EQ(grapheme_prefix(decomposed, 5), decomposed.size() - 1);
}

TEST(GraphemePrefix, KeepsSequencesWholeAndInvalidBytesApart) {
    const std::string family = "\U0001F468\u200D\U0001F469\u200D\U0001F467!";  // ZWJ emoji
    EXPECT_EQ(grapheme_prefix(family, 1), family.size() - 1);
    const std::string flags = "\U0001F1FB\U0001F1F3\U0001F1EF\U0001F1F5";  // VN, JP
    EXPECT_EQ(grapheme_prefix(flags, 1), 8u);
    EXPECT_EQ(grapheme_prefix("a\r\nb", 2), 3u);  // CR LF is one character
    const std::string bad = "a\xcc\xff\u0323b";  // a stray lead byte and a bad byte
    EXPECT_EQ(grapheme_prefix(bad, 1), 1u);
    EXPECT_EQ(grapheme_prefix(bad, 2), 2u);
    EXPECT_EQ(grapheme_prefix(bad, 3), 3u);
    EXPECT_EQ(grapheme_prefix("", 3), 0u);
}

}  // namespace
}  // namespace tinbao::text
