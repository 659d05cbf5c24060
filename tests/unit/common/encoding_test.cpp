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

TEST(Base64, DecodesWhatItEncodesAndRefusesTheRest) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"})
        EXPECT_EQ(base64_decode(base64_encode(s)), s);
    EXPECT_FALSE(base64_decode("Zm9"));  // not a multiple of 4
    EXPECT_FALSE(base64_decode("Zm9v!A=="));
    EXPECT_FALSE(base64_decode("Z=9v"));      // padding inside
    EXPECT_FALSE(base64_decode("Zm9v-_=="));  // the URL alphabet is not standard base64
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

std::string log_escaped(std::string_view s) {
    std::string out;
    append_log_escaped(out, s);
    return out;
}

TEST(LogEscaping, ControlsCannotBreakTheLineOrDriveATerminal) {
    EXPECT_EQ(log_escaped("a\nb\rc\td"), "a\\nb\\rc\\td");
    EXPECT_EQ(log_escaped(std::string_view("\0\x1b[31m\x7f", 7)), "\\x00\\x1b[31m\\x7f");
    EXPECT_EQ(log_escaped("\xc2\x9b"
                          "2J"),
              "\\xc2\\x9b2J");                         // U+009B, the one-byte CSI
    EXPECT_EQ(log_escaped("\xc2\x85"), "\\xc2\\x85");  // U+0085, next line
}

TEST(LogEscaping, TextStaysAsItIsAndBrokenUtf8IsShownAsBytes) {
    EXPECT_EQ(log_escaped("Nguyễn Thị Ánh Tuyết \"q\" \\ ¡"), "Nguyễn Thị Ánh Tuyết \"q\" \\ ¡");
    EXPECT_EQ(log_escaped("\xff"
                          "a\xc3"),
              "\\xffa\\xc3");
    EXPECT_EQ(log_escaped("\xe0\x80\x80"), "\\xe0\\x80\\x80");  // overlong
    EXPECT_EQ(log_escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
    EXPECT_EQ(log_escaped("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace tinbao
