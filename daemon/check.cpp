#include "daemon/check.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
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

}  // namespace

int run_check(const std::filesystem::path& config_file) {
    asio::io_context io;
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = nullptr;
    ctx.state_dir = "";
    std::vector<std::string> problems;
    auto rt = load_runtime(config_file, ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::printf("%s\n", p.c_str());
        std::printf("%zu problem(s)\n", problems.size());
        return 1;
    }
    auto& cfg = *rt->config;
    auto samples_dir = cfg.templates_dir / "samples";
    std::vector<std::filesystem::path> samples;
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(samples_dir, ec))
        if (entry.path().extension() == ".json") samples.push_back(entry.path());
    std::sort(samples.begin(), samples.end());
    if (samples.empty())
        std::printf("note: no sample events in %s; templates were compiled but not rendered\n",
                    samples_dir.c_str());

    std::printf("%-22s %-28s %-6s %-5s %6s %4s\n", "template", "sample", "chan", "enc", "chars",
                "segs");
    for (auto& sample_path : samples) {
        auto text = read_file(sample_path);
        boost::system::error_code jec;
        auto doc = text ? json::parse(*text, jec) : json::value();
        if (!text || jec || !doc.is_object()) {
            problems.push_back(sample_path.string() + ":1: not a JSON object");
            continue;
        }
        for (auto& [status, t] : rt->templates->all()) {
            auto copy = doc;
            if (auto* d = copy.as_object().if_contains("dossier"); d && d->is_object())
                d->as_object()["status"] = status;
            auto parsed = parse_event(json::serialize(copy),
                                      [&](std::string_view s) { return cfg.canonical_status(s); });
            if (!parsed.event) {
                problems.push_back(
                    sample_path.string() + ":1: not a valid event: " + parsed.error->message +
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
                    problems.push_back(where + m.preflight_detail + " [sample " +
                                       sample_path.filename().string() + ", " +
                                       std::string(to_string(c)) + ", " + m.preflight_reason + "]");
                    continue;
                }
                // Every SMS provider's gateway rules: the carriers reject unregistered wording.
                for (auto& slot : rt->for_channel(c)) {
                    // A template-based provider without a template for the status is listed
                    // below: its messages go to the next provider.
                    if (slot->template_based && !slot->param_templates.count(status)) continue;
                    auto text = for_provider(*slot, m.outbound, m.provider_params);
                    if (!text.reason.empty())
                        problems.push_back(t.file + ":1: " + text.detail + " [sample " +
                                           sample_path.filename().string() + ", " + text.reason +
                                           "]");
                }
                if (c == Channel::sms) {
                    auto count =
                        sms::count(m.outbound.text,
                                   m.outbound.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7);
                    std::printf("%-22s %-28s %-6s %-5s %6zu %4d\n", status.c_str(),
                                sample_path.filename().c_str(), "sms",
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
                    std::printf(
                        "note: provider %s has no template for status %s: its %s messages go to "
                        "the next provider of the channel (template_not_registered)\n",
                        slot->provider->name().c_str(), status.c_str(),
                        std::string(to_string(slot->provider->channel())).c_str());
        }
    }
    for (auto& p : problems) std::printf("%s\n", p.c_str());
    if (!problems.empty()) {
        std::printf("%zu problem(s)\n", problems.size());
        return 1;
    }
    std::printf("ok: %s, %zu provider(s), %zu template(s), %zu sample(s)\n", config_file.c_str(),
                rt->providers.size(), rt->templates->all().size(), samples.size());
    return 0;
}

}  // namespace tinbao
