#include "daemon/logging.hpp"

#include "common/encoding.hpp"
#include "common/time.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
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

}  // namespace

void setup_logging(const LogSettings& settings) {
    std::shared_ptr<spdlog::logger> logger;
    if (settings.format == "json") {
        logger = std::make_shared<spdlog::logger>("tinbao", std::make_shared<JsonSink>());
    } else {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        logger = std::make_shared<spdlog::logger>("tinbao", sink);
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    }
    logger->set_level(spdlog::level::from_str(settings.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace tinbao
