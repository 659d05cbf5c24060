#include "providers/provider.hpp"

namespace tinbao {

std::string_view to_string(Channel c) {
    switch (c) {
        case Channel::sms: return "sms";
        case Channel::zalo: return "zalo";
        case Channel::email: return "email";
    }
    return "sms";
}

std::optional<Channel> channel_from_string(std::string_view s) {
    if (s == "sms") return Channel::sms;
    if (s == "zalo") return Channel::zalo;
    if (s == "email") return Channel::email;
    return std::nullopt;
}

void ProviderRegistry::add(std::unique_ptr<ProviderFactory> factory) {
    factories_.push_back(std::move(factory));
}

const ProviderFactory* ProviderRegistry::find(std::string_view type) const {
    for (auto& f : factories_)
        if (f->type() == type) return f.get();
    return nullptr;
}

std::vector<std::string_view> ProviderRegistry::types() const {
    std::vector<std::string_view> out;
    for (auto& f : factories_) out.push_back(f->type());
    return out;
}

}  // namespace tinbao
