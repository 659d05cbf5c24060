// Tests of daemon/logging: what reaches stderr in the text and JSON formats.
#include "daemon/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <vector>

#include "common/log_fields.hpp"

#include <algorithm>
#include <string>

namespace tinbao {
namespace {

std::string logged(const std::string& format, const std::string& text) {
    setup_logging(LogSettings{"info", format});
    ::testing::internal::CaptureStderr();
    spdlog::info("event e-1 dossier {}: accepted", text);
    spdlog::default_logger()->flush();
    std::string out = ::testing::internal::GetCapturedStderr();
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

// What stderr gets from a warning and an info line with `fields`, with JOURNAL_STREAM naming
// stderr (as systemd sets it) or not set.
std::string logged_with(const std::string& format, bool journal, const LogFields* fields) {
    ::testing::internal::CaptureStderr();
    struct stat st {};
    fstat(STDERR_FILENO, &st);
    if (journal) {
        auto stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        setenv("JOURNAL_STREAM", stream.c_str(), 1);
    } else {
        unsetenv("JOURNAL_STREAM");
    }
    setup_logging(LogSettings{"info", format});
    if (fields) {
        log_with(*fields, spdlog::level::warn, "message {}: failed", fields->message_id);
        log_with(*fields, spdlog::level::info, "message {}: sent", fields->message_id);
    } else {
        spdlog::warn("a warning");
        spdlog::info("an info");
        spdlog::error("an error");
    }
    spdlog::default_logger()->flush();
    std::string out = ::testing::internal::GetCapturedStderr();
    unsetenv("JOURNAL_STREAM");
    setup_logging(LogSettings{});
    return out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < text.size()) {
        auto end = text.find('\n', at);
        out.push_back(text.substr(at, end - at));
        at = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
}

// Under systemd every line had the journal's default priority: `journalctl -p warning` showed
// nothing. Each line now starts with its sd-daemon priority, in both formats.
TEST(Logging, UnderTheJournalEachLineStartsWithItsPriority) {
    for (std::string format : {"text", "json"}) {
        auto lines = lines_of(logged_with(format, true, nullptr));
        ASSERT_EQ(lines.size(), 3u) << format;
        EXPECT_TRUE(lines[0].starts_with("<4>")) << lines[0];
        EXPECT_TRUE(lines[1].starts_with("<6>")) << lines[1];
        EXPECT_TRUE(lines[2].starts_with("<3>")) << lines[2];
        if (format == "json") {
            EXPECT_TRUE(lines[0].starts_with("<4>{\"time\":")) << lines[0];
        }
    }
    // Not the journal (JOURNAL_STREAM unset, or naming another stream): no prefix.
    for (auto& line : lines_of(logged_with("text", false, nullptr)))
        EXPECT_FALSE(line.starts_with("<")) << line;
    setenv("JOURNAL_STREAM", "1:2", 1);
    EXPECT_FALSE(stderr_is_journal());
    unsetenv("JOURNAL_STREAM");
}

// JSON lines had only time, level and msg: a message's lines could not be selected by event,
// dossier or provider. They carry the fields, and the recipient only masked.
TEST(Logging, JsonLinesCarryTheMessagesFieldsWithTheRecipientMasked) {
    LogFields f;
    f.event_id = "igate-2026-000123-result_ready";
    f.message_id = "m0123";
    f.dossier = "000.00.12.H62-261120-0007";
    f.channel = "sms";
    f.provider = "esms";
    f.attempt = 2;
    f.reason = "timeout";
    f.provider_message_id = "PID-77";
    f.recipient("84912345678");
    auto lines = lines_of(logged_with("json", false, &f));
    ASSERT_EQ(lines.size(), 2u);
    auto v = boost::json::parse(lines[0]).as_object();
    EXPECT_EQ(v.at("level"), "warning");
    EXPECT_EQ(v.at("msg"), "message m0123: failed");
    EXPECT_EQ(v.at("event_id"), "igate-2026-000123-result_ready");
    EXPECT_EQ(v.at("message_id"), "m0123");
    EXPECT_EQ(v.at("dossier"), "000.00.12.H62-261120-0007");
    EXPECT_EQ(v.at("channel"), "sms");
    EXPECT_EQ(v.at("provider"), "esms");
    EXPECT_EQ(v.at("attempt"), 2);
    EXPECT_EQ(v.at("reason"), "timeout");
    EXPECT_EQ(v.at("provider_message_id"), "PID-77");
    std::string to(v.at("to").as_string());
    EXPECT_NE(to.find("***"), std::string::npos) << to;
    EXPECT_EQ(lines[0].find("912345678"), std::string::npos) << lines[0];
    // A line logged without fields has none.
    auto plain = lines_of(logged_with("json", false, nullptr));
    ASSERT_FALSE(plain.empty());
    EXPECT_EQ(boost::json::parse(plain[0]).as_object().size(), 3u) << plain[0];
}

}  // namespace
}  // namespace tinbao
