// Tests of common/redact: what logs may show of a phone number or an address.
#include "common/redact.hpp"

#include <gtest/gtest.h>

namespace tinbao {
namespace {

TEST(Redact, Phone) {
    EXPECT_EQ(mask_phone("0912345678"), "0912***678");
    EXPECT_EQ(mask_phone("84912345678"), "0912***678");
    EXPECT_EQ(mask_phone("+84 912 345 678"), "0912***678");
    EXPECT_EQ(mask_phone("12345"), "***");
}

TEST(Redact, Email) {
    EXPECT_EQ(mask_email("tuyet.nguyen@example.vn"), "t***@example.vn");
    EXPECT_EQ(mask_email("@example.vn"), "***");
    EXPECT_EQ(mask_email("nobody"), "***");
}

TEST(Redact, MaskingKeepsWholeCharacters) {
    // A non-ASCII first letter is kept whole: the log line stays valid UTF-8.
    EXPECT_EQ(mask_email("ánh@example.vn"), "á***@example.vn");
    EXPECT_EQ(mask_email("\xe1\xbb\x85n@example.vn"), "\xe1\xbb\x85***@example.vn");
    EXPECT_EQ(mask_address("Ánh Tuyết"), "Án***");
    EXPECT_EQ(mask_address("ễ"), "ễ***");
}

TEST(Redact, AddressByShape) {
    EXPECT_EQ(mask_address("tuyet@example.vn"), "t***@example.vn");
    EXPECT_EQ(mask_address("0912 345 678"), "0912***678");
    EXPECT_EQ(mask_address("zalo-user-4567"), "za***");
    EXPECT_EQ(mask_address(""), "***");
}

}  // namespace
}  // namespace tinbao
