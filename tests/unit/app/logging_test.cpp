// Tests of daemon/logging: what reaches stderr in the text and JSON formats.
#include "daemon/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

namespace tinbao {
namespace {

std::string logged(const std::string& format, const std::string& text) {
    setup_logging(LogSettings{"info", format});
    testing::internal::CaptureStderr();
    spdlog::info("event e-1 dossier {}: accepted", text);
    spdlog::default_logger()->flush();
    std::string out = testing::internal::GetCapturedStderr();
    setup_logging(LogSettings{});
    return out;
}

// A dossier code crafted to forge a second line, recolour the terminal and hide a NUL.
const std::string kHostile =
    std::string("X\n2026-12-03T10:00:00.000+0000 error forged \x1b[31mred") + std::string(1, '\0') +
    "\r";

TEST(Logging, TextLinesCannotBeForgedOrDriveATerminal) {
    std::string out = logged("text", kHostile);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_EQ(out.back(), '\n');
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\0'), std::string::npos) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
    EXPECT_NE(out.find("dossier X\\n2026-12-03T10:00:00.000+0000 error forged \\x1b[31mred"
                       "\\x00\\r: accepted"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(" info event e-1"), std::string::npos) << out;
}

TEST(Logging, JsonLinesEscapeControlsToo) {
    std::string out = logged("json", kHostile);
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_NE(out.find("\\u001b[31m"), std::string::npos) << out;
}

}  // namespace
}  // namespace tinbao
