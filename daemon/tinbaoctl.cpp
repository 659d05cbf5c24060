// tinbaoctl: the operator's tool (docs/operating.md, man tinbaoctl).
//   render     preview the messages of an event file with the config's templates (offline; the
//              providers' secrets are not needed)
//   status     an event's or message's record, from the running daemon's API
//   dossier    a dossier's events and messages, from the API
//   dlq        dead letters: list, replay, discard
//   reminders  pending reminders: list, cancel
//   callbacks  dead call-backs to API clients: list, replay
//   send-test  one real send through a configured provider
// Tables on a terminal, JSON with --json or when stdout is not a terminal (scripts keep the JSON
// tinbaoctl always printed). Exit codes: 0 ok, 1 failure or nothing matched, 2 usage.
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/ctl_client.hpp"
#include "daemon/ctl_dead_letters.hpp"
#include "daemon/ctl_output.hpp"
#include "daemon/ctl_reminders.hpp"
#include "daemon/ctl_report.hpp"
#include "daemon/ctl_send_test.hpp"
#include "daemon/reload_command.hpp"
#include "daemon/runtime_builder.hpp"

namespace json = boost::json;
using tinbao::ctl::Api;
using tinbao::ctl::cell;
using tinbao::ctl::pretty;

namespace {

constexpr const char* kApiOptions = "[--url URL] [--token-file FILE] [--cacert FILE] [--json]";

void usage(std::FILE* out) {
    std::fprintf(
        out,
        "usage: tinbaoctl [--config FILE] [--json] render EVENT.json\n"
        "       tinbaoctl [--config FILE] %s status ID\n"
        "       tinbaoctl [...] dossier CODE\n"
        "       tinbaoctl [...] dlq list [--reason R] [--limit N]\n"
        "       tinbaoctl [...] dlq replay ID... | dlq replay --reason R\n"
        "       tinbaoctl [...] dlq discard ID...\n"
        "       tinbaoctl [...] reminders list [--dossier CODE] [--limit N]\n"
        "       tinbaoctl [...] reminders cancel ID...\n"
        "       tinbaoctl [...] callbacks list [--client NAME] [--limit N]\n"
        "       tinbaoctl [...] callbacks replay ID... | callbacks replay --client NAME\n"
        "       tinbaoctl [...] report [--from DATE] [--to DATE] [--group-by KEYS] [--format F]\n"
        "       tinbaoctl [--config FILE] send-test --provider NAME --to ADDRESS\n"
        "                 [--text T] [--subject S] [--template-id ID --param k=v ...]\n"
        "       tinbaoctl [--config FILE] reload [--pid PID | --pid-file F] [--timeout S]\n"
        "       tinbaoctl COMMAND --help | --version\n"
        "\n"
        "  --config FILE      the daemon's config (default /etc/tinbao/tinbao.yaml)\n"
        "  --url URL          the daemon's API (default: the config's http.listen, https://\n"
        "                     when http.tls is set)\n"
        "  --token-file FILE  a file holding the API token (or $TINBAO_TOKEN_FILE, or the\n"
        "                     token in $TINBAO_TOKEN; else the config's first client's)\n"
        "  --token TOKEN      the token itself: works, but shows in `ps` and shell history\n"
        "  --cacert FILE      CA certificates to check an https listener with\n"
        "  --cert FILE --key FILE  a client certificate, for a listener that asks for one\n"
        "  --json             JSON output (the default when stdout is not a terminal;\n"
        "                     tables on a terminal)\n"
        "\n"
        "  render EVENT.json  show each channel's text, encoding, characters, segments\n"
        "  status ID          the record of an event id, or of a message id (m...)\n"
        "  dossier CODE       a dossier's events and messages, newest first\n"
        "  dlq list           failed and expired messages (newest first), with reasons\n"
        "  dlq replay         send them again once the cause is fixed (templates are\n"
        "                     rendered anew; attempts and give_up_after start over)\n"
        "  dlq discard        remove dead letters for good (their records stay)\n"
        "  reminders list     reminders waiting to be sent, soonest first (config reminders:)\n"
        "  reminders cancel   reminders that are not to be sent after all\n"
        "  callbacks list     call-backs to API clients that gave up (newest first)\n"
        "  callbacks replay   send them again once the receiver is fixed\n"
        "  report             usage and cost of a period, by agency, procedure, channel,\n"
        "                     provider, telco, day or month\n"
        "  send-test          one real send through a configured provider, with the\n"
        "                     provider's raw answer (for onboarding a provider account)\n"
        "  reload             SIGHUP to tinbaod, then its verdict: non-zero with the reasons\n"
        "                     when the new config is refused (systemd's ExecReload=)\n"
        "\n"
        "Exit: 0 ok; 1 a failure, or nothing matched (an unknown id, a dossier without\n"
        "events); 2 usage (an empty or missing token included).\n",
        kApiOptions);
}

// `tinbaoctl COMMAND --help`: that command's usage alone; nullptr for an unknown command.
const char* command_help(const std::string& command) {
    if (command == "render")
        return "usage: tinbaoctl [--config FILE] [--json] render EVENT.json\n"
               "Shows each channel's text for the event with the config's templates: encoding,\n"
               "characters, segments, and the character that forced UCS-2. Sends nothing and\n"
               "needs none of the providers' secrets (an unset ${NAME} is left unresolved).\n";
    if (command == "status")
        return "usage: tinbaoctl [--config FILE] [--url URL] [--token-file FILE] [--json] status "
               "ID\n"
               "The record of an event (its event id) or of a message (m...), from the daemon.\n"
               "Exit 1 when there is no such event or message.\n";
    if (command == "dossier")
        return "usage: tinbaoctl [--config FILE] [--url URL] [--token-file FILE] [--json] dossier "
               "CODE\n"
               "The dossier's events (status, state) and their messages, newest first, from the\n"
               "daemon. Exit 1 when the dossier has no events.\n";
    if (command == "send-test")
        return "usage: tinbaoctl [--config FILE] send-test --provider NAME --to ADDRESS\n"
               "                 [--text T] [--subject S] [--template-id ID --param k=v ...]\n"
               "One real send through a configured provider, printing its raw answer. Needs\n"
               "the provider's secrets, as tinbaod does.\n";
    if (command == "reload") return tinbao::kReloadHelp;
    if (command == "dlq") return tinbao::ctl::kDeadLettersHelp;
    if (command == "callbacks") return tinbao::ctl::kCallbacksHelp;
    if (command == "reminders") return tinbao::ctl::kRemindersHelp;
    if (command == "report") return tinbao::ctl::kReportHelp;
    return nullptr;
}

bool g_json = false;  // set once in main: JSON output rather than tables

std::string read_all(const std::string& file, bool& ok) {
    std::ifstream in(file, std::ios::binary);
    ok = static_cast<bool>(in);
    std::stringstream ss;
    if (ok) ss << in.rdbuf();
    return ss.str();
}

// The config for a command that sends nothing: the providers' secrets are not resolved, so
// rendering a preview needs no ${...} of theirs in the shell.
tinbao::ConfigLoad load_offline(const std::string& config) {
    return tinbao::load_config(config, /*resolve_secrets=*/false);
}

void print_render(const json::value& v) {
    auto& o = v.as_object();
    tinbao::ctl::print_fields({{"event", cell(o, "event_id")},
                               {"status", cell(o, "status")},
                               {"routed", cell(o, "routed")}});
    auto* list = o.if_contains("messages");
    if (!list || !list->is_array()) return;
    for (auto& m : list->as_array()) {
        if (!m.is_object()) continue;
        auto& mo = m.as_object();
        std::printf("\n%s to %s", cell(mo, "channel").c_str(), cell(mo, "to").c_str());
        if (auto* e = mo.if_contains("error"); e && e->is_object()) {
            std::printf(": not sent: %s: %s\n", cell(e->as_object(), "reason").c_str(),
                        cell(e->as_object(), "detail").c_str());
            continue;
        }
        if (mo.contains("encoding")) {
            std::printf(": %s, %s characters, %s segment(s)", cell(mo, "encoding").c_str(),
                        cell(mo, "characters").c_str(), cell(mo, "segments").c_str());
            if (auto* u = mo.if_contains("ucs2_because"); u && u->is_object())
                std::printf(" (UCS-2 because of '%s' at %s)",
                            cell(u->as_object(), "character").c_str(),
                            cell(u->as_object(), "index").c_str());
        }
        if (mo.contains("template_id"))
            std::printf(": template %s", cell(mo, "template_id").c_str());
        std::printf("\n");
        if (mo.contains("subject")) std::printf("  subject: %s\n", cell(mo, "subject").c_str());
        if (auto* p = mo.if_contains("params"); p && p->is_object())
            for (auto& [k, x] : p->as_object())
                std::printf("  %s: %s\n", std::string(k).c_str(), cell(&x).c_str());
        if (mo.contains("text")) {
            std::istringstream lines(cell(mo, "text"));
            for (std::string line; std::getline(lines, line);) std::printf("  %s\n", line.c_str());
        }
    }
}

int cmd_render(const std::string& config, const std::string& event_file) {
    boost::asio::io_context io;
    tinbao::ProviderContext ctx;
    ctx.executor = io.get_executor();
    std::vector<std::string> problems;
    auto rt = tinbao::build_runtime(load_offline(config), ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        return 1;
    }
    bool ok = false;
    std::string text = read_all(event_file, ok);
    if (!ok) {
        std::fprintf(stderr, "tinbaoctl: cannot read %s\n", event_file.c_str());
        return 1;
    }
    auto parsed = tinbao::parse_event(
        text, [&](std::string_view s) { return rt->config->canonical_status(s); });
    if (!parsed.event) {
        std::fprintf(stderr, "%s: %s: %s%s\n", event_file.c_str(), parsed.error->code.c_str(),
                     parsed.error->message.c_str(),
                     parsed.error->field.empty() ? "" : (" (" + parsed.error->field + ")").c_str());
        return 1;
    }
    auto preview = tinbao::preview(*rt, *parsed.event);
    if (g_json)
        std::printf("%s\n", pretty(preview).c_str());
    else
        print_render(preview);
    return 0;
}

struct ApiOptions {
    std::string url;
    tinbao::ctl::TokenSource token;
    std::string cacert, cert, key;
};

// The API's address and token, from the flags, the environment or the config. Prints why and
// returns 2 (usage) when there is no usable token; 0 when `api` is filled.
int resolve_api(const std::string& config, const ApiOptions& opts, Api& api) {
    api.url = opts.url;
    api.cacert = opts.cacert;
    api.cert = opts.cert;
    api.key = opts.key;
    if (opts.token.flag)
        std::fprintf(stderr,
                     "tinbaoctl: warning: a token given with --token shows in `ps` and the shell's "
                     "history: use --token-file FILE or TINBAO_TOKEN_FILE\n");
    auto token = tinbao::ctl::read_token(opts.token);
    if (!token.error.empty()) {
        std::fprintf(stderr, "tinbaoctl: %s: no request sent\n", token.error.c_str());
        return 2;
    }
    api.token = token.token;
    if (!api.url.empty() && token.found) return 0;
    auto loaded = load_offline(config);
    if (!loaded.config) {
        std::fprintf(stderr, "tinbaoctl: cannot read %s; give --url and --token-file\n",
                     config.c_str());
        return 2;
    }
    auto& http = loaded.config->http;
    if (api.url.empty()) {
        // A listener on every address is reached on loopback.
        std::string host = http.listen_host;
        if (host == "0.0.0.0") host = "127.0.0.1";
        if (host == "::") host = "::1";
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        api.url = std::string(http.tls.enabled() ? "https://" : "http://") + host + ":" +
                  std::to_string(http.listen_port);
    }
    if (!token.found) {
        const auto& unresolved = loaded.diagnostics->unresolved;
        bool usable = !http.clients.empty() && !http.clients.front().token.empty() &&
                      std::find(unresolved.begin(), unresolved.end(), "http.clients[0].token") ==
                          unresolved.end();
        if (!usable) {
            std::fprintf(stderr,
                         "tinbaoctl: no API token: give --token-file FILE, or set "
                         "TINBAO_TOKEN_FILE or TINBAO_TOKEN\n");
            return 2;
        }
        api.token = http.clients.front().token;
    }
    return 0;
}

// Prints a failed answer (its JSON body for programs, one line for people); returns 1.
int failed(const tinbao::ctl::Answer& a) { return tinbao::ctl::print_failure(a, g_json); }

void print_event(const json::object& o) {
    tinbao::ctl::print_fields({{"event", cell(o, "event_id")},
                               {"dossier", cell(o, "dossier_code")},
                               {"status", cell(o, "status")},
                               {"state", cell(o, "state")},
                               {"created", cell(o, "created_at")},
                               {"updated", cell(o, "updated_at")}});
    if (auto* m = o.if_contains("messages"); m && m->is_array() && !m->as_array().empty()) {
        std::printf("\n");
        tinbao::ctl::print_messages(m->as_array(), false, true);
    }
}

void print_message(const json::object& o) {
    std::vector<std::pair<std::string, std::string>> fields;
    for (auto& [k, v] : o) {
        if (k == "last_error" && v.is_object()) {
            fields.emplace_back("reason", cell(v.as_object(), "reason"));
            fields.emplace_back("detail", cell(v.as_object(), "detail"));
        } else if (!std::string(k).ends_with("_ms")) {
            fields.emplace_back(std::string(k), cell(&v));
        }
    }
    tinbao::ctl::print_fields(fields);
}

int cmd_status(const Api& api, const std::string& id) {
    bool is_message = id.size() == 26 && (id[0] == 'm' || id[0] == 'r');  // r: a reminder's
    auto a = tinbao::ctl::call(
        api, "GET", (is_message ? "/v1/messages/" : "/v1/events/") + tinbao::ctl::escape(id));
    if (!a.ok() || !a.json || !a.json->is_object()) return failed(a);
    if (g_json)
        std::printf("%s\n", pretty(*a.json).c_str());
    else if (is_message)
        print_message(a.json->as_object());
    else
        print_event(a.json->as_object());
    return 0;
}

int cmd_dossier(const Api& api, const std::string& code) {
    auto a =
        tinbao::ctl::call(api, "GET", "/v1/dossiers/" + tinbao::ctl::escape(code) + "/messages");
    if (!a.ok() || !a.json || !a.json->is_object()) return failed(a);
    json::array messages;
    if (auto* m = a.json->as_object().if_contains("messages"); m && m->is_array())
        messages = m->as_array();
    // Its events, in the order their newest message comes (newest first).
    json::array events;
    std::set<std::string> seen;
    for (auto& m : messages) {
        if (!m.is_object()) continue;
        std::string id = cell(m.as_object(), "event_id");
        if (!seen.insert(id).second) continue;
        auto e = tinbao::ctl::call(api, "GET", "/v1/events/" + tinbao::ctl::escape(id));
        json::object ev{{"event_id", id}};
        if (e.ok() && e.json && e.json->is_object()) {
            for (const char* k : {"status", "state", "created_at", "updated_at"})
                if (auto* x = e.json->as_object().if_contains(k)) ev[k] = *x;
        } else if (e.status != 404) {
            return failed(e);  // 404: the event record expired before its messages
        }
        events.push_back(std::move(ev));
    }
    json::object out{{"dossier_code", code}, {"events", events}, {"messages", messages}};
    if (g_json) {
        std::printf("%s\n", pretty(out).c_str());
    } else if (!messages.empty()) {
        tinbao::ctl::Table t({"EVENT", "STATUS", "STATE", "CREATED"});
        for (auto& e : events) {
            auto& o = e.as_object();
            t.add(
                {cell(o, "event_id"), cell(o, "status"), cell(o, "state"), cell(o, "created_at")});
        }
        t.print();
        std::printf("\n");
        tinbao::ctl::print_messages(messages, true, false);
    }
    if (messages.empty()) {
        std::fprintf(stderr, "tinbaoctl: no events for dossier %s\n", code.c_str());
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // What the commands print (tables, JSON) goes to stdout, to be read or piped; the log lines
    // of the code they run (a provider binding in send-test, a queue connecting) go to stderr.
    spdlog::set_default_logger(spdlog::stderr_color_mt("tinbaoctl"));
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
    std::string config = "/etc/tinbao/tinbao.yaml";
    ApiOptions opts;
    std::vector<std::string> rest;
    bool help = false, json_flag = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* name) -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "tinbaoctl: %s needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--version") {
            std::printf("tinbaoctl %s\n", TINBAO_VERSION);
            return 0;
        } else if (a == "--help" || a == "-h") {
            help = true;
        } else if (a == "--json") {
            json_flag = true;
        } else if (a == "--config" || a == "-c") {
            config = value("--config");
        } else if (a == "--url") {
            opts.url = value("--url");
            while (!opts.url.empty() && opts.url.back() == '/') opts.url.pop_back();
        } else if (a == "--token") {
            opts.token.flag = value("--token");
        } else if (a == "--token-file") {
            opts.token.flag_file = value("--token-file");
        } else if (a == "--cacert") {
            opts.cacert = value("--cacert");
        } else if (a == "--cert") {
            opts.cert = value("--cert");
        } else if (a == "--key") {
            opts.key = value("--key");
        } else {
            rest.push_back(a);
        }
    }
    if (help) {
        const char* text = rest.empty() ? nullptr : command_help(rest[0]);
        if (text)
            std::fputs(text, stdout);
        else
            usage(stdout);
        return 0;
    }
    if (!rest.empty() && rest[0] == "reload")
        return tinbao::reload_command(config,
                                      std::vector<std::string>(rest.begin() + 1, rest.end()));
    // People get tables; a pipe or a file gets the JSON it always got.
    g_json = json_flag || !::isatty(STDOUT_FILENO);
    if (rest.size() == 2 && rest[0] == "render") return cmd_render(config, rest[1]);
    if (!rest.empty() && rest[0] == "send-test")
        return tinbao::ctl::send_test(config,
                                      std::vector<std::string>(rest.begin() + 1, rest.end()));
    bool api_command = (rest.size() == 2 && (rest[0] == "status" || rest[0] == "dossier")) ||
                       (rest.size() >= 2 &&
                        (rest[0] == "dlq" || rest[0] == "reminders" || rest[0] == "callbacks")) ||
                       (!rest.empty() && rest[0] == "report");
    if (!api_command) {
        if (!rest.empty() && command_help(rest[0]))
            std::fputs(command_help(rest[0]), stderr);
        else
            usage(stderr);
        return 2;
    }
    Api api;
    if (int rc = resolve_api(config, opts, api); rc != 0) return rc;
    if (rest[0] == "status") return cmd_status(api, rest[1]);
    if (rest[0] == "dossier") return cmd_dossier(api, rest[1]);
    if (rest[0] == "reminders")
        return tinbao::ctl::reminders_command(
            api, std::vector<std::string>(rest.begin() + 1, rest.end()), g_json);
    if (rest[0] == "callbacks")
        return tinbao::ctl::callbacks_command(
            api, std::vector<std::string>(rest.begin() + 1, rest.end()), g_json);
    if (rest[0] == "report")
        return tinbao::ctl::report(api, std::vector<std::string>(rest.begin() + 1, rest.end()),
                                   g_json);
    return tinbao::ctl::dead_letters_command(
        api, std::vector<std::string>(rest.begin() + 1, rest.end()), g_json);
}
