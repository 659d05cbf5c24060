// The config's routes and providers: what is delivered by which channel, and the keys every
// provider shares (the adapters read their own later, see runtime_builder). The checks that
// tie them together (each routed channel served by an enabled provider) are here too.
#include <algorithm>
#include <map>
#include <set>

#include "daemon/config/config_parts.hpp"
#include "daemon/render/registered.hpp"
#include "daemon/render/unicode.hpp"

namespace tinbao::config_parts {

std::optional<std::string> one_of(ConfigView& v, std::string_view key,
                                  std::initializer_list<std::string_view> allowed) {
    auto s = v.string(key);
    if (!s) return std::nullopt;
    for (auto a : allowed)
        if (*s == a) return s;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    v.error(key, "must be one of: " + list + " (got '" + *s + "')");
    return std::nullopt;
}

std::vector<Channel> read_channels(ConfigView& v, std::string_view key, bool required) {
    std::vector<Channel> out;
    auto list = v.string_list(key, required);
    if (!list) return out;
    if (list->empty()) v.error(key, "at least one channel is required");
    for (const auto& name : *list) {
        auto c = channel_from_string(name);
        if (!c) {
            v.error(key, "unknown channel '" + name + "' (sms, zalo or email)");
            continue;
        }
        if (std::find(out.begin(), out.end(), *c) != out.end()) {
            v.error(key, "channel '" + name + "' is listed twice");
            continue;
        }
        out.push_back(*c);
    }
    return out;
}

namespace {

bool valid_provider_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

// The SMS-only common keys: registered brandname templates and forbidden characters.
void load_sms_text_keys(ConfigView& pv, ProviderSettings& s) {
    static constexpr std::string_view kKeys[] = {"registered_templates", "forbidden_characters",
                                                 "forbidden_replacement"};
    if (s.channel != Channel::sms) {
        for (std::string_view key : kKeys) {
            pv.accept(key);
            if (pv.has(key))
                pv.error(key, "only for sms providers (this one's channel is '" +
                                  std::string(to_string(s.channel)) + "')");
        }
        return;
    }
    if (auto list = pv.string_list("registered_templates")) {
        YAML::Node seq = pv.node()["registered_templates"];
        bool ok = true;
        for (std::size_t i = 0; i < list->size(); ++i) {
            std::string problem = sms::RegisteredTemplates::check((*list)[i]);
            if (problem.empty()) continue;
            ok = false;
            // The entry's own line (a single string stands for a list of one).
            YAML::Node at = seq.IsSequence() ? seq[i] : seq;
            int line = at.Mark().is_null() ? pv.line() : at.Mark().line + 1;
            std::string path = (pv.path().empty() ? "" : pv.path() + ".") +
                               "registered_templates[" + std::to_string(i) + "]";
            pv.diagnostics().add(pv.file(), line, std::move(path), problem);
        }
        if (ok) s.registered_templates = std::move(*list);
    }
    auto utf8 = [&](std::string_view key,
                    std::optional<std::string> v) -> std::optional<std::string> {
        if (v && !text::valid_utf8(*v)) {
            pv.error(key, "not valid UTF-8");
            return std::nullopt;
        }
        return v;
    };
    auto forbidden = utf8("forbidden_characters", pv.string("forbidden_characters"));
    auto replacement = utf8("forbidden_replacement", pv.string("forbidden_replacement"));
    if (forbidden) s.forbidden_characters = *forbidden;
    if (replacement) s.forbidden_replacement = *replacement;
    bool clash = false;
    text::for_each_codepoint(s.forbidden_replacement, [&](int32_t cp, std::string_view bytes) {
        if (cp >= 0 && s.forbidden_characters.find(bytes) != std::string::npos) clash = true;
    });
    if (clash)
        pv.error("forbidden_replacement", "must not contain a character of forbidden_characters");
}

}  // namespace

void load_routes(ConfigView& root, Config& c) {
    std::map<std::string, std::string> routed;  // status -> path of the route that has it
    for (auto& rv : root.children("routes")) {
        Route route;
        route.line = rv.line();
        if (auto list = rv.string_list("status", true)) {
            if (list->empty()) rv.error("status", "at least one status is required");
            for (const auto& s : *list) {
                auto canonical = c.canonical_status(s);
                if (!canonical) {
                    rv.error("status", "unknown status '" + s +
                                           "' (neither canonical nor in statuses.aliases)");
                    continue;
                }
                auto [it, fresh] = routed.emplace(*canonical, rv.path());
                if (!fresh) {
                    rv.error("status",
                             "status '" + *canonical + "' is already routed by " + it->second);
                    continue;
                }
                route.statuses.push_back(*canonical);
            }
        }
        route.channels = read_channels(rv, "channels", true);
        if (auto mode = one_of(rv, "mode", {"fallback", "all"}))
            route.mode = *mode == "all" ? Route::Mode::all : Route::Mode::fallback;
        rv.finish();
        c.routes.push_back(std::move(route));
    }
}

void load_providers(ConfigView& root, Config& c) {
    std::set<std::string> names;
    for (auto& pv : root.children("providers")) {
        ProviderSettings s;
        if (auto name = pv.string("name", true)) {
            if (!valid_provider_name(*name))
                pv.error("name", "a provider name uses only a-z, 0-9, '_' and '-'");
            else if (!names.insert(*name).second)
                pv.error("name", "provider name '" + *name + "' is used twice");
            s.name = *name;
        }
        if (auto ch = pv.string("channel", true)) {
            if (auto parsed = channel_from_string(*ch))
                s.channel = *parsed;
            else
                pv.error("channel", "unknown channel '" + *ch + "' (sms, zalo or email)");
        }
        if (auto type = pv.string("type", true)) {
            if (type->empty()) pv.error("type", "must not be empty");
            s.type = *type;
        }
        set_if(pv.number("rate_per_second", 0, 1e6), s.rate_per_second);
        set_if(pv.integer("max_in_flight", 0, 1000000), s.max_in_flight);
        if (auto d = pv.duration("timeout")) {
            if (d->count() <= 0)
                pv.error("timeout", "must be greater than zero");
            else
                s.timeout = *d;
        }
        set_if(pv.boolean("enabled"), s.enabled);
        load_sms_text_keys(pv, s);
        ProviderConfig pc;
        pc.settings = std::move(s);
        pc.view = std::make_shared<ConfigView>(std::move(pv));
        c.providers.push_back(std::move(pc));
    }
}

void check_routes_served(ConfigView& root, const Config& c, Diagnostics& diags) {
    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        for (Channel ch : c.routes[i].channels) {
            bool served = std::any_of(c.providers.begin(), c.providers.end(), [&](auto& p) {
                return p.settings.enabled && p.settings.channel == ch;
            });
            if (!served)
                diags.add(
                    root.file(), c.routes[i].line, "routes[" + std::to_string(i) + "].channels",
                    "no enabled provider serves channel '" + std::string(to_string(ch)) + "'");
        }
    }
}

}  // namespace tinbao::config_parts
