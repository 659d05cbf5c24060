#include "daemon/runtime_builder.hpp"

#include <algorithm>

#include "daemon/render/registered.hpp"

namespace tinbao {

namespace {

// A template-based provider's templates, compiled where the config gives them: an error reads
// "tinbao.yaml:41:17: no value ..." like a template file's. Statuses must be canonical (or an
// alias of one, from `status_aliases`).
void compile_param_templates(const Config& cfg, const Provider& provider, ProviderSlot& slot,
                             std::vector<std::string>& problems) {
    auto templates = provider.param_templates();
    if (templates.empty()) return;
    slot.template_based = true;
    for (auto& t : templates) {
        auto status = cfg.canonical_status(t.status);
        if (!status) {
            problems.push_back(t.file + ":" + std::to_string(t.line) +
                               ": providers: " + provider.name() + ": '" + t.status +
                               "' is not a status (a canonical status or an alias)");
            continue;
        }
        CompiledParamTemplate c;
        c.template_id = t.template_id;
        c.wording = t.wording;
        bool ok = true;
        for (auto& p : t.params) {
            auto compiled = tpl::Template::compile(p.text, t.file, p.line, p.column);
            if (auto* err = std::get_if<tpl::Error>(&compiled)) {
                problems.push_back(err->str());
                ok = false;
                continue;
            }
            c.params.push_back(std::get<tpl::Template>(std::move(compiled)));
        }
        if (!ok) continue;
        if (!slot.param_templates.emplace(*status, std::move(c)).second)
            problems.push_back(t.file + ":" + std::to_string(t.line) + ": providers: " +
                               provider.name() + ": a second template for status " + *status);
    }
}

}  // namespace

std::shared_ptr<Runtime> build_runtime(ConfigLoad loaded, const ProviderContext& ctx,
                                       std::vector<std::string>& problems) {
    if (!loaded.config) {
        for (auto& d : loaded.diagnostics->items) problems.push_back(d.str());
        return nullptr;
    }
    std::shared_ptr<const Config> cfg(std::move(loaded.config));
    auto rt = std::make_shared<Runtime>();
    rt->config = cfg;

    ProviderRegistry registry;
    register_builtin_providers(registry);
    for (auto& pc : cfg->providers) {
        auto* factory = registry.find(pc.settings.type);
        if (!factory) {
            std::string known;
            for (auto t : registry.types()) known += (known.empty() ? "" : ", ") + std::string(t);
            pc.view->error(
                "type", "unknown provider type '" + pc.settings.type + "' (known: " + known + ")");
            continue;
        }
        if (!factory->supports(pc.settings.channel)) {
            pc.view->error("channel", "provider type '" + pc.settings.type +
                                          "' cannot deliver channel " +
                                          std::string(to_string(pc.settings.channel)));
            continue;
        }
        // The factory finishes the view: it knows the keys it read.
        auto provider = factory->create(pc.settings, *pc.view, ctx);
        if (!provider) continue;
        auto slot = std::make_shared<ProviderSlot>();
        if (!pc.settings.registered_templates.empty()) {
            // The config loader already checked each entry.
            auto compiled = sms::RegisteredTemplates::compile(pc.settings.registered_templates);
            if (auto* ok = std::get_if<sms::RegisteredTemplates>(&compiled))
                slot->registered = std::move(*ok);
        }
        compile_param_templates(*cfg, *provider, *slot, problems);
        slot->limiter = std::make_unique<Limiter>(ctx.executor, pc.settings.rate_per_second,
                                                  pc.settings.max_in_flight);
        slot->provider = std::move(provider);
        rt->providers.push_back(std::move(slot));
    }
    // A key whose secret was left unresolved (a tool that sends nothing) holds a placeholder:
    // what its validation says of the placeholder is no problem of the config.
    const auto& unresolved = loaded.diagnostics->unresolved;
    for (auto& d : loaded.diagnostics->items)
        if (std::find(unresolved.begin(), unresolved.end(), d.path) == unresolved.end())
            problems.push_back(d.str());

    std::vector<tpl::Error> tpl_errors;
    rt->templates = tpl::TemplateSet::load(cfg->templates_dir.string(), tpl_errors);
    for (auto& e : tpl_errors) problems.push_back(e.str());
    if (rt->templates) {
        // Every routed status needs a template with a part for each of its channels.
        for (auto& route : cfg->routes)
            for (auto& status : route.statuses) {
                auto* t = rt->templates->find(status);
                std::string file = (cfg->templates_dir / (status + ".yaml")).string();
                const auto& failed = rt->templates->failed();
                // A file with errors was reported above: it is not missing too.
                if (!t && std::find(failed.begin(), failed.end(), status) != failed.end()) continue;
                if (!t) {
                    problems.push_back(cfg->file.string() + ":" + std::to_string(route.line) +
                                       ": routes: status " + status + " has no template " + file);
                    continue;
                }
                for (auto c : route.channels) {
                    bool has = (c == Channel::sms && t->sms) || (c == Channel::zalo && t->zalo) ||
                               (c == Channel::email && t->email);
                    if (!has)
                        problems.push_back(file + ":1: no '" + std::string(to_string(c)) +
                                           "' part, but a route sends status " + status + " by " +
                                           std::string(to_string(c)));
                }
            }
    }
    if (!cfg->reminders.empty()) {
        // Each reminder rule's own template, with a part for each of its channels.
        std::vector<std::string> names;
        for (auto& r : cfg->reminders) names.push_back(r.name);
        const auto dir = cfg->templates_dir / "reminders";
        std::vector<tpl::Error> rem_errors;
        rt->reminder_templates = tpl::TemplateSet::load_named(dir.string(), names, rem_errors);
        for (auto& e : rem_errors) problems.push_back(e.str());
        const auto& failed = rt->reminder_templates->failed();
        for (std::size_t i = 0; i < cfg->reminders.size(); ++i) {
            auto& rule = cfg->reminders[i];
            auto* t = rt->reminder_templates->find(rule.name);
            std::string file = (dir / (rule.name + ".yaml")).string();
            if (!t && std::find(failed.begin(), failed.end(), rule.name) != failed.end()) continue;
            if (!t) {
                problems.push_back(cfg->file.string() + ":" + std::to_string(rule.line) +
                                   ": reminders[" + std::to_string(i) + "]: reminder " + rule.name +
                                   " has no template " + file);
                continue;
            }
            for (auto c : rule.channels) {
                bool has = (c == Channel::sms && t->sms) || (c == Channel::zalo && t->zalo) ||
                           (c == Channel::email && t->email);
                if (!has)
                    problems.push_back(file + ":1: no '" + std::string(to_string(c)) +
                                       "' part, but reminder " + rule.name + " sends by " +
                                       std::string(to_string(c)));
            }
        }
    }
    // Agencies' own templates: each file is checked like the shared ones, and must have the
    // parts the routes of its status send.
    for (const auto& agency : cfg->agencies) {
        if (agency.templates_dir.empty()) continue;
        std::vector<tpl::Error> errors;
        auto set = tpl::TemplateSet::load(agency.templates_dir.string(), errors);
        for (auto& e : errors)
            problems.push_back(e.str() + " (agencies: " + agency.code + ", config line " +
                               std::to_string(agency.line) + ")");
        for (auto& [status, t] : set->all())
            for (auto& route : cfg->routes) {
                if (std::find(route.statuses.begin(), route.statuses.end(), status) ==
                    route.statuses.end())
                    continue;
                for (auto c : route.channels) {
                    bool has = (c == Channel::sms && t.sms) || (c == Channel::zalo && t.zalo) ||
                               (c == Channel::email && t.email);
                    if (!has)
                        problems.push_back(t.file + ":1: no '" + std::string(to_string(c)) +
                                           "' part, but a route sends status " + status + " by " +
                                           std::string(to_string(c)));
                }
            }
        rt->agency_templates.emplace(agency.code, std::move(set));
    }
    if (!problems.empty()) return nullptr;
    return rt;
}

std::shared_ptr<Runtime> load_runtime(const std::filesystem::path& config_file,
                                      const ProviderContext& ctx,
                                      std::vector<std::string>& problems) {
    auto loaded = load_config(config_file);
    if (!loaded.config && loaded.diagnostics->empty())
        problems.push_back(config_file.string() + ": cannot be loaded");
    return build_runtime(std::move(loaded), ctx, problems);
}

}  // namespace tinbao
