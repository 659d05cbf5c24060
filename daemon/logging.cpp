#include "daemon/logging.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "common/encoding.hpp"
#include "common/log_fields.hpp"
#include "common/time.hpp"

namespace tinbao {

namespace {

// "<N>", the sd-daemon(3) priority of a line (syslog's: 3 error ... 7 debug), which journald
// takes off and keeps as the entry's priority.
const char* journal_prefix(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return "<7>";
        case spdlog::level::info:
            return "<6>";
        case spdlog::level::warn:
            return "<4>";
        case spdlog::level::err:
            return "<3>";
        case spdlog::level::critical:
            return "<2>";
        default:
            return "<6>";
    }
}

void append_field(std::string& line, const char* key, const std::string& value) {
    if (value.empty()) return;
    line += ",\"";
    line += key;
    line += "\":\"";
    append_json_escaped(line, value);
    line += '"';
}

// One JSON object per line: {"time", "level", "msg"} and the line's fields (common/log_fields).
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit JsonSink(bool journal) : journal_(journal) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string line = journal_ ? journal_prefix(msg.level) : "";
        line += "{\"time\":\"";
        line += rfc3339_utc(msg.time);
        line += "\",\"level\":\"";
        auto lv = spdlog::level::to_string_view(msg.level);
        line.append(lv.data(), lv.size());
        line += "\",\"msg\":\"";
        append_json_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
        line += '"';
        if (const LogFields* f = current_log_fields()) {
            append_field(line, "event_id", f->event_id);
            append_field(line, "message_id", f->message_id);
            append_field(line, "dossier", f->dossier);
            append_field(line, "channel", f->channel);
            append_field(line, "provider", f->provider);
            if (f->attempt >= 0) line += ",\"attempt\":" + std::to_string(f->attempt);
            append_field(line, "reason", f->reason);
            append_field(line, "to", f->to());
            append_field(line, "provider_message_id", f->provider_message_id);
        }
        line += "}\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }

  private:
    bool journal_;
};

// The text format: spdlog's pattern around a message whose controls are escaped, so text from
// outside (a dossier code, a provider's reply) cannot start a forged line or drive a terminal.
class TextSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit TextSink(bool journal) : journal_(journal) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string escaped;
        append_log_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
        spdlog::details::log_msg copy = msg;
        copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
        spdlog::memory_buf_t formatted;
        if (journal_) {
            std::string_view prefix = journal_prefix(msg.level);
            formatted.append(prefix.data(), prefix.data() + prefix.size());
        }
        formatter_->format(copy, formatted);
        std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }

  private:
    bool journal_;
};

}  // namespace

bool stderr_is_journal() {
    // systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected; stderr may since
    // have been redirected elsewhere (systemd.exec(5)), so both must match.
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev &&
           static_cast<unsigned long long>(st.st_ino) == ino;
}

void setup_logging(const LogSettings& settings) {
    const bool journal = stderr_is_journal();
    std::shared_ptr<spdlog::logger> logger;
    if (settings.format == "json") {
        logger = std::make_shared<spdlog::logger>("tinbao", std::make_shared<JsonSink>(journal));
    } else {
        logger = std::make_shared<spdlog::logger>("tinbao", std::make_shared<TextSink>(journal));
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    }
    logger->set_level(spdlog::level::from_str(settings.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace tinbao
