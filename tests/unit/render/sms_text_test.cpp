// GSM 03.38 vs UCS-2, segment counting, diacritics removal and the sms.unicode policy.
#include "daemon/render/sms_text.hpp"
#include "daemon/render/unicode.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tinbao::sms {
namespace {

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

// Every Vietnamese vowel with each tone (none, huyền, sắc, hỏi, ngã, nặng), NFC, both cases.
struct Row {
    const char* lower[6];
    const char* upper[6];
    char base;
};
const Row kVowels[] = {
    {{"a", "à", "á", "ả", "ã", "ạ"}, {"A", "À", "Á", "Ả", "Ã", "Ạ"}, 'a'},
    {{"ă", "ằ", "ắ", "ẳ", "ẵ", "ặ"}, {"Ă", "Ằ", "Ắ", "Ẳ", "Ẵ", "Ặ"}, 'a'},
    {{"â", "ầ", "ấ", "ẩ", "ẫ", "ậ"}, {"Â", "Ầ", "Ấ", "Ẩ", "Ẫ", "Ậ"}, 'a'},
    {{"e", "è", "é", "ẻ", "ẽ", "ẹ"}, {"E", "È", "É", "Ẻ", "Ẽ", "Ẹ"}, 'e'},
    {{"ê", "ề", "ế", "ể", "ễ", "ệ"}, {"Ê", "Ề", "Ế", "Ể", "Ễ", "Ệ"}, 'e'},
    {{"i", "ì", "í", "ỉ", "ĩ", "ị"}, {"I", "Ì", "Í", "Ỉ", "Ĩ", "Ị"}, 'i'},
    {{"o", "ò", "ó", "ỏ", "õ", "ọ"}, {"O", "Ò", "Ó", "Ỏ", "Õ", "Ọ"}, 'o'},
    {{"ô", "ồ", "ố", "ổ", "ỗ", "ộ"}, {"Ô", "Ồ", "Ố", "Ổ", "Ỗ", "Ộ"}, 'o'},
    {{"ơ", "ờ", "ớ", "ở", "ỡ", "ợ"}, {"Ơ", "Ờ", "Ớ", "Ở", "Ỡ", "Ợ"}, 'o'},
    {{"u", "ù", "ú", "ủ", "ũ", "ụ"}, {"U", "Ù", "Ú", "Ủ", "Ũ", "Ụ"}, 'u'},
    {{"ư", "ừ", "ứ", "ử", "ữ", "ự"}, {"Ư", "Ừ", "Ứ", "Ử", "Ữ", "Ự"}, 'u'},
    {{"y", "ỳ", "ý", "ỷ", "ỹ", "ỵ"}, {"Y", "Ỳ", "Ý", "Ỷ", "Ỹ", "Ỵ"}, 'y'},
};

TEST(Unaccent, EveryVietnameseLetterBothCases) {
    int accented = 0;
    for (const Row& r : kVowels) {
        const std::string lo(1, r.base);
        const std::string up(1, static_cast<char>(r.base - 'a' + 'A'));
        for (int t = 0; t < 6; ++t) {
            EXPECT_EQ(unaccent(r.lower[t]), lo) << r.lower[t];
            EXPECT_EQ(unaccent(r.upper[t]), up) << r.upper[t];
            if (std::string(r.lower[t]) != lo) accented += 2;
        }
    }
    EXPECT_EQ(unaccent("đ"), "d");
    EXPECT_EQ(unaccent("Đ"), "D");
    EXPECT_EQ(unaccent("\xC3\x90"), "D");  // U+00D0, typed for Đ
    accented += 2;
    EXPECT_EQ(accented, 134);
}

TEST(Unaccent, SentencesNfcAndNfd) {
    const std::string nfc_text = "Nguyễn Thị Ánh Tuyết, Sở Tư pháp tỉnh Vĩnh Long, Đắk Lắk";
    const std::string want = "Nguyen Thi Anh Tuyet, So Tu phap tinh Vinh Long, Dak Lak";
    EXPECT_EQ(unaccent(nfc_text), want);
    // "Nguyễn" written with combining marks: e + U+0302 + U+0303.
    const std::string nfd_name = "Nguye\xCC\x82\xCC\x83n Thi\xCC\xA3";
    EXPECT_EQ(unaccent(nfd_name), "Nguyen Thi");
    auto composed = text::nfc(nfd_name);
    ASSERT_TRUE(composed);
    EXPECT_EQ(*composed, "Nguyễn Thị");
    EXPECT_EQ(unaccent(*composed), "Nguyen Thi");
    // NFD counts more characters than NFC; after text::nfc both count the same.
    EXPECT_EQ(count(nfd_name, Encoding::ucs2).characters, 13u);
    EXPECT_EQ(count(*composed, Encoding::ucs2).characters, 10u);
}

TEST(Unaccent, PunctuationBecomesGsm) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\u2018a\u2019", "'a'"},
        {"\u201Cb\u201D", "\"b\""},
        {"x\u2026", "x..."},
        {"a\u00A0b", "a b"},
        {"1\u20132", "1-2"},
        {"1\u20142", "1-2"},
        {"a\tb", "a b"},
        {"a\u200Bb", "ab"},
        {"\u00ABq\u00BB", "\"q\""},
    };
    for (const auto& [in, want] : cases) {
        EXPECT_EQ(unaccent(in), want) << in;
        EXPECT_TRUE(is_gsm7(unaccent(in))) << in;
    }
    EXPECT_EQ(unaccent("plain ASCII {text} 100%"), "plain ASCII {text} 100%");
}

TEST(Gsm, AlphabetMembership) {
    EXPECT_TRUE(is_gsm7("Hello @ £$¥ èéùìòÇ ØøÅå ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ ¤ ¡ÄÖÑÜ§ ¿äöñüà\r\n"));
    EXPECT_TRUE(is_gsm7("^{}\\[~]|€"));
    EXPECT_TRUE(is_gsm7(""));
    for (const char* s : {"á", "đ", "Đ", "ư", "ơ", "`", "\t", "\u2026", "\u00A0", "😀", "ç"})
        EXPECT_FALSE(is_gsm7(s)) << s;
}

TEST(Count, EmptyIsZeroSegments) {
    EXPECT_EQ(count("", Encoding::gsm7).segments, 0);
    EXPECT_EQ(count("", Encoding::ucs2).segments, 0);
    EXPECT_EQ(count_auto("").segments, 0);
}

TEST(Count, Gsm7Boundaries) {
    struct Case {
        std::size_t n;
        int segments;
    };
    for (Case c : {Case{1, 1}, Case{160, 1}, Case{161, 2}, Case{306, 2}, Case{307, 3},
                   Case{459, 3}, Case{460, 4}}) {
        Count k = count(repeat("a", c.n), Encoding::gsm7);
        EXPECT_EQ(k.encoding, Encoding::gsm7);
        EXPECT_EQ(k.characters, c.n);
        EXPECT_EQ(k.segments, c.segments) << c.n;
    }
}

TEST(Count, ExtensionCharsCountTwoAndAreNotSplit) {
    // 80 euro signs = 160 septets: one segment; one more plain char makes two.
    EXPECT_EQ(count(repeat("€", 80), Encoding::gsm7).characters, 160u);
    EXPECT_EQ(count(repeat("€", 80), Encoding::gsm7).segments, 1);
    EXPECT_EQ(count(repeat("€", 80) + "a", Encoding::gsm7).segments, 2);
    // 152 plain + '{' + 153 plain = 307 septets. Split at 153 would cut the escape pair,
    // so '{' moves to part 2, which then holds 2 + 151, and the last 2 chars need part 3.
    std::string straddle = repeat("a", 152) + "{" + repeat("a", 153);
    Count k = count(straddle, Encoding::gsm7);
    EXPECT_EQ(k.characters, 307u);
    EXPECT_EQ(k.segments, 3);
    // Without the straddle the same septet count fits 3 parts too but 306 fits 2.
    EXPECT_EQ(count(repeat("a", 151) + "{" + repeat("a", 153), Encoding::gsm7).segments, 2);
    EXPECT_EQ(count(repeat("a", 152) + "{" + repeat("a", 152), Encoding::gsm7).segments, 3);
    EXPECT_EQ(count(repeat("a", 152) + "a{" + repeat("a", 151), Encoding::gsm7).segments, 2);
}

TEST(Count, Ucs2Boundaries) {
    struct Case {
        std::size_t n;
        int segments;
    };
    for (Case c : {Case{70, 1}, Case{71, 2}, Case{134, 2}, Case{135, 3}, Case{201, 3},
                   Case{202, 4}}) {
        Count k = count(repeat("ệ", c.n), Encoding::ucs2);
        EXPECT_EQ(k.encoding, Encoding::ucs2);
        EXPECT_EQ(k.characters, c.n);
        EXPECT_EQ(k.segments, c.segments) << c.n;
    }
}

TEST(Count, NonBmpCountsTwoUnitsAndIsNotSplit) {
    EXPECT_EQ(count("😀", Encoding::ucs2).characters, 2u);
    EXPECT_EQ(count(repeat("😀", 35), Encoding::ucs2).segments, 1);
    EXPECT_EQ(count(repeat("😀", 35) + "a", Encoding::ucs2).segments, 2);
    // 66 units + emoji (2) would straddle the 67-unit boundary: it moves to part 2.
    std::string s = repeat("a", 66) + "😀" + repeat("a", 66);
    EXPECT_EQ(count(s, Encoding::ucs2).characters, 134u);
    EXPECT_EQ(count(s, Encoding::ucs2).segments, 3);
    EXPECT_EQ(count(repeat("a", 65) + "😀" + repeat("a", 67), Encoding::ucs2).segments, 2);
}

TEST(Count, FirstNonGsmCharacterAndIndex) {
    Count k = count_auto("Ho so cua Ông A");
    EXPECT_EQ(k.encoding, Encoding::ucs2);
    EXPECT_EQ(k.first_non_gsm, "Ô");
    EXPECT_EQ(k.first_non_gsm_index, 10u);
    Count g = count_auto("Ho so cua Ong A");
    EXPECT_EQ(g.encoding, Encoding::gsm7);
    EXPECT_EQ(g.first_non_gsm, "");
    EXPECT_EQ(to_string(Encoding::gsm7), "gsm7");
    EXPECT_EQ(to_string(Encoding::ucs2), "ucs2");
}

TEST(Plan, AlwaysSendsUcs2) {
    auto r = plan("Ho so da co ket qua", UnicodePolicy::always, 1);
    ASSERT_TRUE(r.plan);
    EXPECT_EQ(r.plan->count.encoding, Encoding::ucs2);
    EXPECT_EQ(r.plan->text, "Ho so da co ket qua");
    EXPECT_FALSE(r.plan->unaccented);
    auto long_one = plan(repeat("a", 71), UnicodePolicy::always, 1);
    EXPECT_FALSE(long_one.plan);
    ASSERT_TRUE(long_one.error);
    EXPECT_EQ(*long_one.error, PlanError::too_long);
    EXPECT_EQ(long_one.attempted.segments, 2);
}

TEST(Plan, NeverUnaccentsAndReplacesTheRest) {
    auto r = plan("Hồ sơ đã có kết quả 😀 “ok”", UnicodePolicy::never, 3);
    ASSERT_TRUE(r.plan);
    EXPECT_EQ(r.plan->text, "Ho so da co ket qua ? \"ok\"");
    EXPECT_EQ(r.plan->count.encoding, Encoding::gsm7);
    EXPECT_TRUE(r.plan->unaccented);
    EXPECT_EQ(r.plan->count.segments, 1);
    auto ascii = plan("Ho so", UnicodePolicy::never, 1);
    ASSERT_TRUE(ascii.plan);
    EXPECT_FALSE(ascii.plan->unaccented);
    auto too_long = plan(repeat("ư", 161), UnicodePolicy::never, 1);
    ASSERT_TRUE(too_long.error);
    EXPECT_EQ(too_long.attempted.encoding, Encoding::gsm7);
    EXPECT_EQ(too_long.attempted.segments, 2);
}

TEST(Plan, AutoPrefersGsmThenUcs2ThenUnaccented) {
    auto gsm = plan(repeat("a", 300), UnicodePolicy::auto_, 2);
    ASSERT_TRUE(gsm.plan);
    EXPECT_EQ(gsm.plan->count.encoding, Encoding::gsm7);
    EXPECT_EQ(gsm.plan->count.segments, 2);

    const std::string vn = "Hồ sơ của Ông/Bà đã có kết quả";  // 30 chars, UCS-2
    auto ucs = plan(vn, UnicodePolicy::auto_, 1);
    ASSERT_TRUE(ucs.plan);
    EXPECT_EQ(ucs.plan->count.encoding, Encoding::ucs2);
    EXPECT_EQ(ucs.plan->text, vn);
    EXPECT_FALSE(ucs.plan->unaccented);

    // 150 accented chars: 3 UCS-2 segments > 2, but 1 GSM-7 segment once unaccented.
    auto fallback = plan(repeat("ệ", 150), UnicodePolicy::auto_, 2);
    ASSERT_TRUE(fallback.plan);
    EXPECT_EQ(fallback.plan->count.encoding, Encoding::gsm7);
    EXPECT_EQ(fallback.plan->text, repeat("e", 150));
    EXPECT_TRUE(fallback.plan->unaccented);
    EXPECT_EQ(fallback.plan->count.segments, 1);

    auto too_long = plan(repeat("ệ", 400), UnicodePolicy::auto_, 2);
    EXPECT_FALSE(too_long.plan);
    ASSERT_TRUE(too_long.error);
    EXPECT_EQ(too_long.attempted.encoding, Encoding::gsm7);
    EXPECT_EQ(too_long.attempted.characters, 400u);
    EXPECT_EQ(too_long.attempted.segments, 3);

    auto gsm_too_long = plan(repeat("a", 307), UnicodePolicy::auto_, 2);
    ASSERT_TRUE(gsm_too_long.error);
    EXPECT_EQ(gsm_too_long.attempted.segments, 3);

    auto empty = plan("", UnicodePolicy::auto_, 1);
    ASSERT_TRUE(empty.plan);
    EXPECT_EQ(empty.plan->count.segments, 0);
}

}  // namespace
}  // namespace tinbao::sms

namespace tinbao::sms {
namespace {

TEST(ReplaceForbidden, Table) {
    struct Case {
        const char* text;
        const char* forbidden;
        const char* replacement;
        const char* want;
    };
    const Case cases[] = {
        {"Phi & le phi", "&#", " ", "Phi le phi"},
        {"Phi&le phi", "&#", " ", "Phi le phi"},
        {"Ho so #12 & #13", "&#", " ", "Ho so 12 13"},
        {"Phi & le phi", "&#", "", "Phi le phi"},
        {"Phi&le", "&#", "", "Phile"},
        {"Phi & le", "&", "va", "Phi va le"},
        {"Phi&le", "&", " va ", "Phi va le"},
        {"Ma  so & ten", "&", " ", "Ma  so ten"},  // a run the text had by itself stays
        {"A  &  B", "&", " ", "A B"},
        {"Tien: 100.000d & phi", "&", "+", "Tien: 100.000d + phi"},
        {"&&&", "&", "", ""},
        {"& dau", "&", " ", " dau"},
        {"cuoi &", "&", " ", "cuoi "},
        {"khong co gi", "&#", " ", "khong co gi"},
        {"co & nhung danh sach rong", "", " ", "co & nhung danh sach rong"},
        {"Đơn €5 & Đ", "€Đ", "E", "Eơn E5 & E"},  // multi-byte code points both ways
        {"a\xC3 & b", "&", " ", "a\xC3 b"},          // an invalid byte is kept
    };
    for (const Case& c : cases)
        EXPECT_EQ(replace_forbidden(c.text, c.forbidden, c.replacement), c.want)
            << '"' << c.text << "\" forbidden \"" << c.forbidden << "\" by \"" << c.replacement
            << '"';
}

}  // namespace
}  // namespace tinbao::sms
