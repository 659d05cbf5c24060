// Tests of common/encoding: percent-encoding, base64, hex, JSON string escaping.
#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace tinbao {
namespace {

TEST(PercentEncoding, KeepsUnreservedOnly) {
    EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    EXPECT_EQ(percent_encode("a b+c", true), "a+b%2Bc");
    EXPECT_EQ(percent_encode(std::string_view("\0\xff", 2)), "%00%FF");
}

TEST(PercentEncoding, DecodeRoundTrip) {
    EXPECT_EQ(percent_decode("a%20b%2fc%2F"), "a b/c/");
    EXPECT_EQ(percent_decode("a+b"), "a+b");
    const std::string raw = "p@ss:w/rd é%";
    EXPECT_EQ(percent_decode(percent_encode(raw)), raw);
}

TEST(PercentEncoding, DecodeRejectsBrokenEscapes) {
    EXPECT_FALSE(percent_decode("%"));
    EXPECT_FALSE(percent_decode("abc%4"));
    EXPECT_FALSE(percent_decode("%zz"));
    EXPECT_EQ(percent_decode("%41"), "A");
}

TEST(Base64, Rfc4648Vectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
}

TEST(Hex, LowerCase) {
    EXPECT_EQ(hex_encode(""), "");
    EXPECT_EQ(hex_encode(std::string_view("\x00\x0f\xab\xff", 4)), "000fabff");
}

TEST(JsonEscape, Rfc8259) {
    EXPECT_EQ(json_escaped("plain Tiếng Việt"), "plain Tiếng Việt");
    EXPECT_EQ(json_escaped("q\"b\\"), "q\\\"b\\\\");
    EXPECT_EQ(json_escaped("\n\r\t\b\f"), "\\n\\r\\t\\b\\f");
    EXPECT_EQ(json_escaped(std::string_view("\x00\x1f\x7f", 3)), "\\u0000\\u001f\x7f");
    std::string out = "x";
    append_json_escaped(out, "\"");
    EXPECT_EQ(out, "x\\\"");
}

TEST(SplitNonempty, DropsEmptyPieces) {
    EXPECT_EQ(split_nonempty("a,b", ','), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(split_nonempty(",a,,b,", ','), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(split_nonempty("", ',').empty());
    EXPECT_EQ(split_nonempty("one", ','), (std::vector<std::string>{"one"}));
}

}  // namespace
}  // namespace tinbao
