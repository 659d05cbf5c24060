#include "daemon/check.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "daemon/render/sms_text.hpp"
#include "daemon/runtime_builder.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {

namespace {

std::optional<std::string> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every leaf path of a sample event ("dossier.sector"): fields the operator's events carry
// beyond the documented ones, so templates may name them.
void leaf_paths(const json::value& v, const std::string& prefix, std::vector<std::string>& out) {
    if (const auto* o = v.if_object()) {
        for (const auto& [k, x] : *o)
            leaf_paths(x, prefix.empty() ? std::string(k) : prefix + "." + std::string(k), out);
        return;
    }
    if (!prefix.empty() && std::find(out.begin(), out.end(), prefix) == out.end())
        out.push_back(prefix);
}

// Problems in the order found, each once: the same template error met by several samples is
// one problem (`key` leaves the sample out), reported with the first sample that met it.
class Problems {
  public:
    void add(std::string text) {
        std::string key = text;
        add(key, std::move(text));
    }
    void add(const std::string& key, std::string text) {
        if (seen_.insert(key).second) items_.push_back(std::move(text));
    }
    const std::vector<std::string>& items() const { return items_; }

  private:
    std::set<std::string> seen_;
    std::vector<std::string> items_;
};

}  // namespace

int run_check(const std::filesystem::path& config_file, std::FILE* out) {
    asio::io_context io;
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = nullptr;
    ctx.state_dir = "";
    std::vector<std::string> loaded_problems;
    auto rt = load_runtime(config_file, ctx, loaded_problems);
    Problems problems;
    for (auto& p : loaded_problems) problems.add(std::move(p));
    if (!rt) {
        for (auto& p : problems.items()) std::fprintf(out, "%s\n", p.c_str());
        std::fprintf(out, "%zu problem(s)\n", problems.items().size());
        return 1;
    }
    auto& cfg = *rt->config;
    auto warnings = config_warnings(cfg);

    auto samples_dir = cfg.templates_dir / "samples";
    std::vector<std::filesystem::path> samples;
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(samples_dir, ec))
        if (entry.path().extension() == ".json") samples.push_back(entry.path());
    std::sort(samples.begin(), samples.end());
    std::vector<std::pair<std::filesystem::path, json::value>> sample_docs;
    std::vector<std::string> sample_fields;
    for (auto& sample_path : samples) {
        auto text = read_file(sample_path);
        boost::system::error_code jec;
        auto doc = text ? json::parse(*text, jec) : json::value();
        if (!text || jec || !doc.is_object()) {
            problems.add(sample_path.string() + ":1: not a JSON object");
            continue;
        }
        leaf_paths(doc, "", sample_fields);
        sample_docs.emplace_back(sample_path, std::move(doc));
    }

    // Every value each template names, checked against the event's fields: needs no sample.
    std::set<std::string> unchecked;  // statuses whose templates name unknown values
    for (auto& [status, t] : rt->templates->all()) {
        for (auto& e : tpl::check_fields(t, sample_fields)) {
            problems.add(e.str());
            unchecked.insert(status);
        }
    }
    // Reminders' templates render from the event that scheduled them: the same fields.
    if (rt->reminder_templates)
        for (auto& [name, t] : rt->reminder_templates->all())
            for (auto& e : tpl::check_fields(t, sample_fields)) problems.add(e.str());
    // Template-based providers' parameters (Provider::param_templates), checked the same way.
    for (auto& slot : rt->providers) {
        for (auto& [status, pt] : slot->param_templates) {
            tpl::StatusTemplates st;
            st.status = status;
            tpl::StatusTemplates::Zalo params;
            params.template_id = pt.template_id;
            for (std::size_t i = 0; i < pt.params.size(); ++i)
                params.params.emplace_back(std::to_string(i + 1), pt.params[i]);
            st.zalo = std::move(params);
            for (auto& e : tpl::check_fields(st, sample_fields)) problems.add(e.str());
        }
    }

    // Statuses some route sends by SMS: only their texts must match a registered wording.
    std::set<std::string> sms_routed;
    for (auto& route : cfg.routes)
        if (std::find(route.channels.begin(), route.channels.end(), Channel::sms) !=
            route.channels.end())
            sms_routed.insert(route.statuses.begin(), route.statuses.end());

    if (samples.empty())
        std::fprintf(out,
                     "note: no sample events in %s; templates were checked against the event's "
                     "fields but not rendered\n",
                     samples_dir.c_str());

    std::fprintf(out, "%-22s %-28s %-6s %-5s %6s %4s\n", "template", "sample", "chan", "enc",
                 "chars", "segs");
    for (auto& [sample_path, doc] : sample_docs) {
        const std::string sample_name = sample_path.filename().string();
        for (auto& [status, t] : rt->templates->all()) {
            // Its unknown values were reported once above; each render would only repeat them.
            if (unchecked.count(status)) continue;
            auto copy = doc;
            if (auto* d = copy.as_object().if_contains("dossier"); d && d->is_object())
                d->as_object()["status"] = status;
            auto parsed = parse_event(json::serialize(copy),
                                      [&](std::string_view s) { return cfg.canonical_status(s); });
            if (!parsed.event) {
                problems.add(sample_path.string() +
                             ":1: not a valid event: " + parsed.error->message +
                             (parsed.error->field.empty() ? "" : " (" + parsed.error->field + ")"));
                break;
            }
            for (auto c : {Channel::sms, Channel::zalo, Channel::email}) {
                bool has = (c == Channel::sms && t.sms) || (c == Channel::zalo && t.zalo) ||
                           (c == Channel::email && t.email);
                if (!has) continue;
                auto& ev = *parsed.event;
                bool contact =
                    (c == Channel::sms && !ev.phone.empty()) ||
                    (c == Channel::zalo && (!ev.phone.empty() || !ev.zalo_user_id.empty())) ||
                    (c == Channel::email && !ev.email.empty());
                if (!contact) continue;  // this sample has no address for the channel
                auto m = plan_message(*rt, ev, "check", c);
                if (!m.preflight_reason.empty()) {
                    std::string where =
                        m.preflight_reason == "template_error" ? "" : t.file + ":1: ";
                    std::string key = where + m.preflight_detail + " [" +
                                      std::string(to_string(c)) + ", " + m.preflight_reason + "]";
                    problems.add(key, where + m.preflight_detail + " [sample " + sample_name +
                                          ", " + std::string(to_string(c)) + ", " +
                                          m.preflight_reason + "]");
                    continue;
                }
                // The carriers reject unregistered wording, but only of what a route sends by
                // SMS: a status sent by Zalo or email alone may keep an SMS part unregistered.
                if (c == Channel::sms && sms_routed.count(status)) {
                    for (auto& slot : rt->for_channel(c)) {
                        // A template-based provider without a template for the status is
                        // listed below: its messages go to the next provider.
                        if (slot->template_based && !slot->param_templates.count(status)) continue;
                        auto text = for_provider(*slot, m.outbound, m.provider_params);
                        if (text.reason.empty()) continue;
                        std::string key = t.file + ":1: " + text.detail + " [" + text.reason + "]";
                        problems.add(key, t.file + ":1: " + text.detail + " [sample " +
                                              sample_name + ", " + text.reason + "]");
                    }
                }
                if (c == Channel::sms) {
                    auto count =
                        sms::count(m.outbound.text,
                                   m.outbound.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7);
                    std::fprintf(out, "%-22s %-28s %-6s %-5s %6zu %4d\n", status.c_str(),
                                 sample_name.c_str(), "sms",
                                 std::string(sms::to_string(count.encoding)).c_str(),
                                 count.characters, count.segments);
                }
            }
        }
    }
    // Routed statuses a template-based provider of the channel has no template for: not a
    // problem (the next provider of the channel sends them), but worth knowing.
    for (auto& slot : rt->providers) {
        if (!slot->template_based) continue;
        for (auto& route : cfg.routes) {
            if (std::find(route.channels.begin(), route.channels.end(),
                          slot->provider->channel()) == route.channels.end())
                continue;
            for (auto& status : route.statuses)
                if (!slot->param_templates.count(status))
                    std::fprintf(
                        out,
                        "note: provider %s has no template for status %s: its %s messages go to "
                        "the next provider of the channel (template_not_registered)\n",
                        slot->provider->name().c_str(), status.c_str(),
                        std::string(to_string(slot->provider->channel())).c_str());
        }
    }
    for (auto& w : warnings) std::fprintf(out, "%s\n", w.c_str());
    for (auto& p : problems.items()) std::fprintf(out, "%s\n", p.c_str());
    if (!problems.items().empty()) {
        std::fprintf(out, "%zu problem(s)%s\n", problems.items().size(),
                     warnings.empty()
                         ? ""
                         : (", " + std::to_string(warnings.size()) + " warning(s)").c_str());
        return 1;
    }
    std::fprintf(
        out, "ok: %s, %zu provider(s), %zu template(s), %zu sample(s)%s\n", config_file.c_str(),
        rt->providers.size(), rt->templates->all().size(), samples.size(),
        warnings.empty() ? "" : (", " + std::to_string(warnings.size()) + " warning(s)").c_str());
    return 0;
}

}  // namespace tinbao
