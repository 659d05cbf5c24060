#include "daemon/pipeline/runtime.hpp"

#include "daemon/render/sms_text.hpp"
#include "providers/reasons.hpp"

namespace tinbao {

std::vector<std::shared_ptr<ProviderSlot>> Runtime::for_channel(Channel c) const {
    std::vector<std::shared_ptr<ProviderSlot>> out;
    for (auto& p : providers)
        if (p->provider->channel() == c && p->provider->settings().enabled) out.push_back(p);
    return out;
}

std::size_t Runtime::in_flight_capacity() const {
    std::size_t total = 0;
    for (auto& p : providers) {
        int n = p->provider->settings().max_in_flight;
        total += n > 0 ? static_cast<std::size_t>(n) : 1000;
    }
    return total;
}

ProviderText for_provider(const ProviderSlot& slot, const OutboundMessage& msg) {
    ProviderText out{msg, {}, {}};
    if (msg.channel != Channel::sms) return out;
    auto& s = slot.provider->settings();
    if (!s.forbidden_characters.empty()) {
        out.message.text =
            sms::replace_forbidden(msg.text, s.forbidden_characters, s.forbidden_replacement);
        if (out.message.text != msg.text)
            out.message.segments = sms::count(out.message.text, msg.unicode ? sms::Encoding::ucs2
                                                                            : sms::Encoding::gsm7)
                                       .segments;
    }
    if (!slot.registered.empty() && !slot.registered.matches(out.message.text)) {
        out.reason = reason::kTemplateNotRegistered;
        out.detail = "the text matches none of the " + std::to_string(slot.registered.size()) +
                     " registered_templates of provider " + s.name;
    }
    return out;
}

}  // namespace tinbao
