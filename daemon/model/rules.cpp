#include "daemon/model/rules.hpp"

#include <algorithm>

#include "providers/provider.hpp"

namespace tinbao {

std::string_view event_state(const std::vector<std::string_view>& message_states) {
    bool success = false, failure = false;
    for (auto s : message_states) {
        if (s == state::kQueued || s == state::kSending) return state::kAccepted;
        if (is_success(s))
            success = true;
        else if (s != state::kSuperseded)
            failure = true;
    }
    if (success) return state::kDone;
    return failure ? state::kFailed : state::kSkipped;
}

bool apply_delivery_report(MessageRecord& record, const DeliveryUpdate& update, int64_t now_ms) {
    if (record.state != state::kSent) return false;
    if (update.state != state::kDelivered && update.state != state::kFailed) return false;
    record.state = update.state;
    record.updated_at_ms = now_ms;
    if (!update.provider_message_id.empty())
        record.provider_message_id = update.provider_message_id;
    if (update.state == state::kDelivered) record.delivered_at_ms = now_ms;
    if (update.state == state::kFailed) {
        record.last_error_reason = update.reason;
        record.last_error_detail = update.detail;
    }
    return true;
}

int64_t dossier_blocked_until(const std::vector<WaitingNotice>& waiting,
                              std::optional<int64_t> created_before, std::string_view except) {
    int64_t blocked = 0;
    for (auto& w : waiting) {
        // A reminder is due at a set time, days ahead: it holds nothing back.
        if (w.message_id == except || is_reminder_id(w.message_id)) continue;
        if (created_before && w.created_ms >= *created_before) continue;
        blocked = std::max(blocked, w.next_attempt_ms);
    }
    return blocked;
}

}  // namespace tinbao
