#include "daemon/logging.hpp"

#include "common/encoding.hpp"
#include "common/time.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>

namespace tinbao {

namespace {

// One JSON object per line: {"time": ..., "level": ..., "msg": ...}.
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string line = "{\"time\":\"";
        line += rfc3339_utc(msg.time);
        line += "\",\"level\":\"";
        auto lv = spdlog::level::to_string_view(msg.level);
        line.append(lv.data(), lv.size());
        line += "\",\"msg\":\"";
        append_json_escaped(line, std::string_view(msg.payload.data(), msg.payload.size()));
        line += "\"}\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }
};

// The text format: spdlog's pattern around a message whose controls are escaped, so text from
// outside (a dossier code, a provider's reply) cannot start a forged line or drive a terminal.
class TextSink final : public spdlog::sinks::base_sink<std::mutex> {
  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string escaped;
        append_log_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
        spdlog::details::log_msg copy = msg;
        copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
        spdlog::memory_buf_t formatted;
        formatter_->format(copy, formatted);
        std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }
};

}  // namespace

void setup_logging(const LogSettings& settings) {
    std::shared_ptr<spdlog::logger> logger;
    if (settings.format == "json") {
        logger = std::make_shared<spdlog::logger>("tinbao", std::make_shared<JsonSink>());
    } else {
        logger = std::make_shared<spdlog::logger>("tinbao", std::make_shared<TextSink>());
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    }
    logger->set_level(spdlog::level::from_str(settings.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace tinbao
