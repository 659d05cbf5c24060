// Vietnamese mobile number normalisation.
#include "daemon/render/phone.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tinbao::phone {
namespace {

TEST(Phone, AcceptsCommonForms) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"0912345678", "84912345678"},
        {"0912 345 678", "84912345678"},
        {"0912.345.678", "84912345678"},
        {"0912-345-678", "84912345678"},
        {"+84 912 345 678", "84912345678"},
        {"+84912345678", "84912345678"},
        {"84912345678", "84912345678"},
        {"0084912345678", "84912345678"},
        {"(+84)912-345-678", "84912345678"},
        {"(091) 234 5678", "84912345678"},
        {"912345678", "84912345678"},
        {"+84 0912 345 678", "84912345678"},
        {"0362345678", "84362345678"},
        {"0559123456", "84559123456"},
        {"0522123456", "84522123456"},
        {"0896123456", "84896123456"},
        {"0993123456", "84993123456"},
        {"0701234567", "84701234567"},
        {"0871234567", "84871234567"},
    };
    for (const auto& [in, want] : cases) {
        auto got = normalize_mobile(in);
        ASSERT_TRUE(got.has_value()) << in;
        EXPECT_EQ(*got, want) << in;
        EXPECT_FALSE(is_landline(in)) << in;
    }
}

// As copied from a word processor or a web page: no-break and other Unicode spaces, Unicode
// dashes and the minus sign between the digit groups.
TEST(Phone, IgnoresUnicodeSpacesAndDashes) {
    for (const char* in : {
             "0912\u00a0345\u00a0678",       // NO-BREAK SPACE
             "0912\u2007345\u2007678",       // FIGURE SPACE
             "0912\u202f345\u202f678",       // NARROW NO-BREAK SPACE
             "0912\u3000345\u3000678",       // IDEOGRAPHIC SPACE
             "+84\u2009912\u2002345\u2003678",  // THIN, EN and EM SPACE
             "0912\u2010345\u2011678",       // HYPHEN, NON-BREAKING HYPHEN
             "0912\u2012345\u2013678",       // FIGURE DASH, EN DASH
             "0912\u2014345\u2015678",       // EM DASH, HORIZONTAL BAR
             "0912\u2212345\u2212678",       // MINUS SIGN
             "0912\ufe63345\uff0d678",       // SMALL and FULLWIDTH HYPHEN-MINUS
             "(+84)\u00a0912\u2013345\u00a0678",
         }) {
        auto got = normalize_mobile(in);
        ASSERT_TRUE(got.has_value()) << in;
        EXPECT_EQ(*got, "84912345678") << in;
    }
    EXPECT_TRUE(is_landline("024\u00a03825\u00a01234"));
    // Other symbols and letters still make it not a phone number.
    for (const char* in : {"0912\u00b7345\u00b7678", "0912\u2022345678", "0912\u200b345678",
                           "0912 345 678\u00e9", "0912\xa0" "345\xa0" "678"}) {
        EXPECT_FALSE(normalize_mobile(in).has_value()) << in;
    }
}

TEST(Phone, Converts2018ElevenDigitNumbersInEveryForm) {
    // The 2018 conversion: old 4-digit prefix -> new 3-digit prefix, last 7 digits kept.
    const std::vector<std::pair<std::string, std::string>> table = {
        {"0162", "032"}, {"0163", "033"}, {"0164", "034"}, {"0165", "035"}, {"0166", "036"},
        {"0167", "037"}, {"0168", "038"}, {"0169", "039"}, {"0186", "056"}, {"0188", "058"},
        {"0199", "059"}, {"0120", "070"}, {"0121", "079"}, {"0122", "077"}, {"0126", "076"},
        {"0128", "078"}, {"0123", "083"}, {"0124", "084"}, {"0125", "085"}, {"0127", "081"},
        {"0129", "082"},
    };
    for (const auto& [old_prefix, new_prefix] : table) {
        const std::string subscriber = "2345678";
        const std::string want = "84" + new_prefix.substr(1) + subscriber;
        const std::string national = old_prefix + subscriber;            // 01662345678
        const std::string intl = "84" + old_prefix.substr(1) + subscriber;  // 841662345678
        for (const std::string& in : {national, intl, "+" + intl, "00" + intl,
                                      old_prefix + " " + subscriber.substr(0, 3) + " " +
                                          subscriber.substr(3)}) {
            auto got = normalize_mobile(in);
            ASSERT_TRUE(got.has_value()) << in;
            EXPECT_EQ(*got, want) << in;
        }
    }
    EXPECT_EQ(normalize_mobile("01662345678"), "84362345678");
    EXPECT_EQ(normalize_mobile("841662345678"), "84362345678");
}

TEST(Phone, RejectsWhatIsNotAVietnameseMobile) {
    for (const char* in : {
             "",                  // nothing
             "abc",               // garbage
             "0912345678x",       // a letter inside
             "091234567",         // too short
             "09123456789",       // too long
             "0212345678",        // 02x is a landline area, not mobile
             "02438251234",       // Hanoi landline
             "02838221234",       // HCMC landline
             "+842438251234",     // Hanoi landline, international form
             "18001234",          // toll free
             "1800123456",
             "19001234",          // premium
             "1900123456",
             "0112345678",        // 01x is not a mobile prefix
             "01302345678",       // 11 digits, not an old mobile prefix
             "01112345678",
             "0802345678",        // 080 is not allocated to mobiles
             "0502345678",
             "0572345678",
             "0742345678",
             "0952345678" "0",    // too long
             "0992345678",        // 099 needs 990/991/993-999
             "0895123456",        // 089 needs 896-899
             "0551234567",        // 055 only 0559
             "0521234567",        // 052 only 0522/0523/0528
             "+1 650 253 0000",   // not Vietnam
             "++84912345678",
             "84+912345678",
             "0000912345678",
         }) {
        EXPECT_FALSE(normalize_mobile(in).has_value()) << in;
    }
}

TEST(Phone, DetectsLandlines) {
    for (const char* in : {"02438251234", "024 3825 1234", "+84 24 3825 1234", "842838221234",
                           "0084 28 3822 1234", "02703822123", "0270 382 2123", "2438251234"}) {
        EXPECT_TRUE(is_landline(in)) << in;
        EXPECT_FALSE(normalize_mobile(in).has_value()) << in;
    }
    for (const char* in : {"0912345678", "1900123456", "0212345678", "garbage", "",
                           "02172345678"}) {
        EXPECT_FALSE(is_landline(in)) << in;
    }
}

TEST(Phone, TelcoByPrefix) {
    // One number of each carrier's prefixes, including an 11-digit number converted in 2018.
    EXPECT_EQ(telco_of(*normalize_mobile("0362345678")), "viettel");
    EXPECT_EQ(telco_of(*normalize_mobile("01662345678")), "viettel");  // 0166 -> 036
    EXPECT_EQ(telco_of(*normalize_mobile("0862345678")), "viettel");
    EXPECT_EQ(telco_of(*normalize_mobile("0912345678")), "vinaphone");
    EXPECT_EQ(telco_of(*normalize_mobile("0812345678")), "vinaphone");
    EXPECT_EQ(telco_of(*normalize_mobile("0902345678")), "mobifone");
    EXPECT_EQ(telco_of(*normalize_mobile("0702345678")), "mobifone");
    EXPECT_EQ(telco_of(*normalize_mobile("0922345678")), "vietnamobile");
    EXPECT_EQ(telco_of("84992345678"), "gmobile");
    EXPECT_EQ(telco_of("84872345678"), "itelecom");
    // Not a normalised mobile number, or a prefix no carrier was allotted.
    EXPECT_EQ(telco_of("0912345678"), "other");
    EXPECT_EQ(telco_of("84212345678"), "other");
    EXPECT_EQ(telco_of(""), "other");
    EXPECT_EQ(telcos().back(), "other");
}

}  // namespace
}  // namespace tinbao::phone
