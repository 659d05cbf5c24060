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

ProviderText for_provider(const ProviderSlot& slot, const OutboundMessage& msg,
                          const ProviderParamsMap& params) {
    ProviderText out{msg, {}, {}};
    auto& s = slot.provider->settings();
    if (slot.template_based) {
        auto it = params.find(s.name);
        if (it == params.end()) {
            out.reason = reason::kTemplateNotRegistered;
            out.detail = "no template of provider " + s.name + " was planned for this message";
            return out;
        }
        if (!it->second.reason.empty()) {
            out.reason = it->second.reason;
            out.detail = it->second.detail;
            return out;
        }
        auto& form = out.message.provider_params = it->second;
        if (msg.channel == Channel::sms) {
            if (!s.forbidden_characters.empty())
                for (auto& v : form.values)
                    v = sms::replace_forbidden(v, s.forbidden_characters, s.forbidden_replacement);
            if (!form.text.empty()) {
                // What the recipient gets is the registered wording with these values.
                out.message.text = form.text;
                out.message.unicode = form.unicode;
                out.message.segments =
                    sms::count(form.text, form.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7)
                        .segments;
            }
        }
    }
    if (msg.channel != Channel::sms) return out;
    // The adapter's own rewriting, then the provider's forbidden characters.
    const std::string before = out.message.text;
    out.message.text = slot.provider->sms_text(before);
    if (!s.forbidden_characters.empty())
        out.message.text = sms::replace_forbidden(out.message.text, s.forbidden_characters,
                                                  s.forbidden_replacement);
    if (out.message.text != before) {
        // A replacement outside GSM-7 turns a GSM-7 message into UCS-2.
        if (!out.message.unicode && !sms::is_gsm7(out.message.text)) out.message.unicode = true;
        out.message.segments =
            sms::count(out.message.text,
                       out.message.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7)
                .segments;
    }
    if (!slot.registered.empty() && !slot.registered.matches(out.message.text)) {
        out.reason = reason::kTemplateNotRegistered;
        out.detail = "the text matches none of the " + std::to_string(slot.registered.size()) +
                     " registered_templates of provider " + s.name;
    }
    return out;
}

const tpl::StatusTemplates* Runtime::template_for(std::string_view agency,
                                                  std::string_view status) const {
    if (auto it = agency_templates.find(agency); it != agency_templates.end() && it->second)
        if (const auto* own = it->second->find(status)) return own;
    return templates ? templates->find(status) : nullptr;
}

}  // namespace tinbao
