// The fields of one log line, for the JSON log format: `{"time", "level", "msg"}` plus
// event_id, message_id, dossier, channel, provider, attempt, reason, the recipient (masked:
// never the whole number or address) and the provider's message id. The text format keeps its
// words ("event E dossier D message M (sms to 0912***678)").
//
// A caller logs with log_with(fields, level, format, args...): the fields are set for the one
// synchronous spdlog call on this thread, where the daemon's JSON sink reads them
// (current_log_fields()). Never across a co_await: nothing outlives the call.
//
// Threading: per thread.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <utility>

namespace tinbao {

struct LogFields {
    std::string event_id;
    std::string message_id;
    std::string dossier;
    std::string channel;
    std::string provider;
    int attempt = -1;  // -1: not about an attempt
    std::string reason;
    std::string provider_message_id;

    // The recipient, masked (common/redact.hpp): the only way to set `to`.
    void recipient(std::string_view address);
    const std::string& to() const { return to_; }

  private:
    std::string to_;
};

// The fields of the line being written on this thread; nullptr when it has none.
const LogFields* current_log_fields();

// Sets the fields of this thread's lines for its lifetime (nests: the previous ones come back).
class LogScope {
  public:
    explicit LogScope(const LogFields& fields);
    ~LogScope();
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

  private:
    const LogFields* previous_;
};

template <class... Args>
void log_with(const LogFields& fields, spdlog::level::level_enum level,
              spdlog::format_string_t<Args...> format, Args&&... args) {
    LogScope scope(fields);
    spdlog::log(level, format, std::forward<Args>(args)...);
}

}  // namespace tinbao
