// The config's agencies and price table (docs/usage.md): who a message is sent for, what it
// costs, and how much an agency may spend in a month.
#include <algorithm>
#include <set>

#include "daemon/config/config_parts.hpp"
#include "daemon/render/phone.hpp"

namespace tinbao {

const Agency* Config::agency(std::string_view code) const {
    for (const auto& a : agencies)
        if (a.code == code) return &a;
    return nullptr;
}

std::string Config::agency_label(std::string_view code) const {
    return agency(code) ? std::string(code) : std::string(kOtherAgency);
}

const Price* Config::price_of(std::string_view provider, Channel channel) const {
    const Price* by_channel = nullptr;
    for (const auto& p : prices) {
        if (!p.provider.empty() && p.provider == provider) return &p;
        if (p.provider.empty() && p.channel == channel && !by_channel) by_channel = &p;
    }
    return by_channel;
}

int64_t Config::cost_of(std::string_view provider, Channel channel, std::string_view telco,
                        int segments) const {
    const Price* p = price_of(provider, channel);
    if (!p) return 0;
    int64_t unit = p->dong;
    if (auto it = p->telcos.find(telco); it != p->telcos.end()) unit = it->second;
    if (p->per == Price::Per::segment) return unit * std::max(segments, 1);
    return unit;
}

namespace config_parts {
namespace {

// An agency code as the one-stop software sends it: printable ASCII without spaces, 1 to 64
// characters (a metric label value and a file-name-safe report key).
bool valid_code(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return c > ' ' && c < 127 && c != '"' && c != '\\' && c != ',';
    });
}

const ProviderConfig* find_provider(const Config& c, std::string_view name) {
    for (const auto& p : c.providers)
        if (p.settings.name == name) return &p;
    return nullptr;
}

constexpr int64_t kMaxDong = 1'000'000'000'000;  // a trillion đồng: a typo, not a budget

void load_agency(ConfigView& av, Config& c, const std::filesystem::path& dir,
                 std::set<std::string>& seen) {
    Agency a;
    a.line = av.line();
    if (auto code = av.string("code", true)) {
        if (!valid_code(*code)) {
            av.error("code",
                     "must be 1 to 64 printable characters without spaces, quotes or commas");
        } else if (*code == kOtherAgency) {
            av.error("code", "'other' is where unlisted agencies are counted; choose another code");
        } else if (!seen.insert(*code).second) {
            av.error("code", "agency '" + *code + "' is listed twice");
        } else {
            a.code = *code;
        }
    }
    if (auto name = av.string("name", true)) a.name = *name;
    if (auto senders = av.string_map("sms_sender")) {
        for (auto& [provider, sender] : *senders) {
            const ProviderConfig* p = find_provider(c, provider);
            if (!p) {
                av.error("sms_sender", "no provider named '" + provider + "'");
            } else if (p->settings.channel != Channel::sms) {
                av.error("sms_sender", "provider '" + provider + "' does not send SMS");
            } else if (sender.empty()) {
                av.error("sms_sender", "the sender for provider '" + provider + "' is empty");
            } else {
                a.sms_sender.emplace(provider, sender);
            }
        }
    }
    if (auto t = av.string("templates")) {
        std::filesystem::path p(*t);
        if (t->empty())
            av.error("templates", "must not be empty");
        else
            a.templates_dir = p.is_absolute() ? p : (dir / p).lexically_normal();
    }
    ConfigView budget = av.child("monthly_budget");
    if (budget.node().IsMap()) {
        if (auto d = budget.integer("dong", 1, kMaxDong)) a.budget_dong = *d;
        if (auto s = budget.integer("segments", 1, kMaxDong)) a.budget_segments = *s;
        if (!budget.has("dong") && !budget.has("segments"))
            av.error("monthly_budget", "needs dong, segments or both");
    }
    budget.finish();
    av.finish();
    if (!a.code.empty()) c.agencies.push_back(std::move(a));
}

void load_price(ConfigView& pv, Config& c) {
    Price p;
    p.line = pv.line();
    const bool by_provider = pv.has("provider"), by_channel = pv.has("channel");
    if (by_provider == by_channel) {
        pv.error(by_provider ? "channel" : "provider",
                 "a price is for one provider or for one channel: give exactly one of them");
    }
    std::optional<Channel> channel;
    if (auto name = pv.string("provider")) {
        if (const ProviderConfig* prov = find_provider(c, *name)) {
            p.provider = *name;
            channel = prov->settings.channel;
        } else {
            pv.error("provider", "no provider named '" + *name + "'");
        }
    }
    if (auto ch = one_of(pv, "channel", {"sms", "zalo", "email"})) {
        p.channel = channel_from_string(*ch);
        channel = p.channel;
    }
    if (auto per = one_of(pv, "per", {"message", "segment"}))
        p.per = *per == "segment" ? Price::Per::segment : Price::Per::message;
    if (p.per == Price::Per::segment && channel && *channel != Channel::sms)
        pv.error("per", "only SMS have segments; a " + std::string(to_string(*channel)) +
                            " message is priced per message");
    if (auto d = pv.integer("dong", 0, kMaxDong, true)) p.dong = *d;
    if (auto telcos = pv.string_map("telcos")) {
        if (channel && *channel != Channel::sms)
            pv.error("telcos", "prices per carrier are for SMS only");
        const auto& known = phone::telcos();
        for (auto& [telco, value] : *telcos) {
            if (std::find(known.begin(), known.end(), telco) == known.end()) {
                std::string list;
                for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
                pv.error("telcos", "unknown carrier '" + telco + "' (" + list + ")");
                continue;
            }
            int64_t n = 0;
            bool ok = !value.empty() && value.size() <= 13 &&
                      std::all_of(value.begin(), value.end(),
                                  [](char ch) { return ch >= '0' && ch <= '9'; });
            if (ok) n = std::stoll(value);
            if (!ok || n > kMaxDong) {
                pv.error("telcos", "the price for " + telco + " must be a whole number of đồng");
                continue;
            }
            p.telcos.emplace(telco, n);
        }
    }
    pv.finish();
    for (const auto& q : c.prices) {
        if ((!p.provider.empty() && q.provider == p.provider) ||
            (p.provider.empty() && p.channel && q.provider.empty() && q.channel == p.channel)) {
            pv.error(p.provider.empty() ? "channel" : "provider",
                     "priced twice (also at line " + std::to_string(q.line) + ")");
            return;
        }
    }
    if (!p.provider.empty() || p.channel) c.prices.push_back(std::move(p));
}

}  // namespace

void load_usage(ConfigView& root, Config& c, const std::filesystem::path& dir) {
    std::set<std::string> seen;
    for (auto& av : root.children("agencies")) load_agency(av, c, dir, seen);
    for (auto& pv : root.children("prices")) load_price(pv, c);
}

}  // namespace config_parts
}  // namespace tinbao
