#include "common/log_fields.hpp"

#include "common/redact.hpp"

namespace tinbao {

namespace {
thread_local const LogFields* t_fields = nullptr;
}  // namespace

void LogFields::recipient(std::string_view address) { to_ = mask_address(address); }

const LogFields* current_log_fields() { return t_fields; }

LogScope::LogScope(const LogFields& fields) : previous_(t_fields) { t_fields = &fields; }

LogScope::~LogScope() { t_fields = previous_; }

}  // namespace tinbao
