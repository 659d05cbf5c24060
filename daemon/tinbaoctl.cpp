// tinbaoctl: the operator's tool (docs/operating.md).
//   render  — preview the messages of an event file with the config's templates (offline)
//   status  — an event's or message's record, from the running daemon's API
#include <curl/curl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/redact.hpp"
#include "daemon/io/curl_multi.hpp"
#include "daemon/late_store.hpp"
#include "daemon/queue/make_queue.hpp"
#include "daemon/render/phone.hpp"
#include "daemon/render/sms_text.hpp"
#include "daemon/runtime_builder.hpp"

namespace json = boost::json;

namespace {

void usage(std::FILE* out) {
    std::fprintf(
        out,
        "usage: tinbaoctl [--config FILE] render EVENT.json\n"
        "       tinbaoctl [--config FILE] [--url URL] [--token TOKEN] status ID\n"
        "       tinbaoctl [...] dlq list [--reason R] [--limit N]\n"
        "       tinbaoctl [...] dlq replay ID... | dlq replay --reason R\n"
        "       tinbaoctl [--config FILE] send-test --provider NAME --to ADDRESS\n"
        "                 [--text T] [--subject S] [--template-id ID --param k=v ...]\n"
        "       tinbaoctl COMMAND --help | --version\n"
        "\n"
        "  --config FILE  the daemon's config (default /etc/tinbao/tinbao.yaml)\n"
        "  --url URL      the daemon's API (default: http:// + the config's http.listen)\n"
        "  --token TOKEN  API token (default: $TINBAO_TOKEN, else the config's first client)\n"
        "\n"
        "  render EVENT.json  show each channel's text, encoding, characters, segments\n"
        "  status ID          the record of an event id, or of a message id (m...)\n"
        "  dlq list           failed and expired messages (newest first), with reasons\n"
        "  dlq replay         send them again once the cause is fixed (templates are\n"
        "                     rendered anew; attempts and give_up_after start over)\n"
        "  send-test          one real send through a configured provider, with the\n"
        "                     provider's raw answer (for onboarding a provider account)\n");
}

// `tinbaoctl COMMAND --help`: that command's usage alone; nullptr for an unknown command.
const char* command_help(const std::string& command) {
    if (command == "render")
        return "usage: tinbaoctl [--config FILE] render EVENT.json\n"
               "Shows each channel's text for the event with the config's templates: encoding,\n"
               "characters, segments, and the character that forced UCS-2. Sends nothing.\n";
    if (command == "status")
        return "usage: tinbaoctl [--config FILE] [--url URL] [--token TOKEN] status ID\n"
               "The record of an event (its event id) or of a message (m...), from the daemon.\n";
    if (command == "dlq")
        return "usage: tinbaoctl [...] dlq list [--reason R] [--limit N]\n"
               "       tinbaoctl [...] dlq replay ID... | dlq replay --reason R\n"
               "list: failed and expired messages, newest first, with reasons. replay: send\n"
               "them again once the cause is fixed (templates rendered anew; the attempts and\n"
               "give_up_after start over).\n";
    if (command == "send-test")
        return "usage: tinbaoctl [--config FILE] send-test --provider NAME --to ADDRESS\n"
               "                 [--text T] [--subject S] [--template-id ID --param k=v ...]\n"
               "One real send through a configured provider, printing its raw answer.\n";
    return nullptr;
}

std::string pretty(const json::value& v, int indent = 0) {
    std::string pad(indent, ' ');
    if (v.is_object()) {
        if (v.as_object().empty()) return "{}";
        std::string out = "{\n";
        bool first = true;
        for (auto& [k, x] : v.as_object()) {
            if (!first) out += ",\n";
            first = false;
            out += pad + "  " + json::serialize(json::string(k)) + ": " + pretty(x, indent + 2);
        }
        return out + "\n" + pad + "}";
    }
    if (v.is_array()) {
        if (v.as_array().empty()) return "[]";
        std::string out = "[\n";
        bool first = true;
        for (auto& x : v.as_array()) {
            if (!first) out += ",\n";
            first = false;
            out += pad + "  " + pretty(x, indent + 2);
        }
        return out + "\n" + pad + "]";
    }
    return json::serialize(v);
}

size_t collect(char* p, size_t size, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
}

int cmd_render(const std::string& config, const std::string& event_file) {
    boost::asio::io_context io;
    tinbao::ProviderContext ctx;
    ctx.executor = io.get_executor();
    std::vector<std::string> problems;
    auto rt = tinbao::load_runtime(config, ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        return 1;
    }
    std::ifstream in(event_file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "tinbaoctl: cannot read %s\n", event_file.c_str());
        return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = tinbao::parse_event(
        ss.str(), [&](std::string_view s) { return rt->config->canonical_status(s); });
    if (!parsed.event) {
        std::fprintf(stderr, "%s: %s: %s%s\n", event_file.c_str(), parsed.error->code.c_str(),
                     parsed.error->message.c_str(),
                     parsed.error->field.empty() ? "" : (" (" + parsed.error->field + ")").c_str());
        return 1;
    }
    std::printf("%s\n", pretty(tinbao::preview(*rt, *parsed.event)).c_str());
    return 0;
}

struct Api {
    std::string url;
    std::string token;
};

// Fills the API's address and token from the flags, the environment or the config.
bool resolve_api(const std::string& config, Api& api) {
    if (!api.url.empty() && !api.token.empty()) return true;
    auto loaded = tinbao::load_config(config);
    if (!loaded.config) {
        std::fprintf(stderr, "tinbaoctl: cannot read %s; give --url and --token\n", config.c_str());
        return false;
    }
    if (api.url.empty())
        api.url = "http://" + loaded.config->http.listen_host + ":" +
                  std::to_string(loaded.config->http.listen_port);
    if (api.token.empty() && !loaded.config->http.clients.empty())
        api.token = loaded.config->http.clients.front().token;
    return true;
}

std::string escape(const std::string& s) {
    CURL* c = curl_easy_init();
    char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
    std::string out = e;
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

// One request to the daemon; prints the answer; exit code 0 for a 2xx.
int call(const Api& api, const std::string& method, const std::string& path,
         const std::string& body = {}) {
    CURL* c = curl_easy_init();
    std::string target = api.url + path, answer;
    struct curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + api.token;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, target.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST") curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    auto rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        std::fprintf(stderr, "tinbaoctl: %s: %s\n", api.url.c_str(), curl_easy_strerror(rc));
        return 1;
    }
    boost::system::error_code ec;
    auto v = json::parse(answer, ec);
    std::printf("%s\n", ec ? answer.c_str() : pretty(v).c_str());
    return status >= 200 && status < 300 ? 0 : 1;
}

int cmd_status(const Api& api, const std::string& id) {
    bool is_message = id.size() == 26 && id[0] == 'm';
    return call(api, "GET", (is_message ? "/v1/messages/" : "/v1/events/") + escape(id));
}

int cmd_dlq(const Api& api, const std::vector<std::string>& args) {
    // args: list [--reason R] [--limit N] | replay ID... | replay --reason R
    std::string reason, limit;
    std::vector<std::string> ids;
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--reason" && i + 1 < args.size())
            reason = args[++i];
        else if (args[i] == "--limit" && i + 1 < args.size())
            limit = args[++i];
        else
            ids.push_back(args[i]);
    }
    if (args[0] == "list" && ids.empty()) {
        std::string q = "/v1/dead-letters?limit=" + (limit.empty() ? "100" : escape(limit));
        if (!reason.empty()) q += "&reason=" + escape(reason);
        return call(api, "GET", q);
    }
    if (args[0] == "replay" && (ids.empty() != reason.empty())) {
        json::object body;
        if (!reason.empty()) body["reason"] = reason;
        json::array list;
        for (auto& id : ids) list.push_back(json::value(id));
        if (!ids.empty()) body["ids"] = std::move(list);
        return call(api, "POST", "/v1/dead-letters/replay", json::serialize(body));
    }
    usage(stderr);
    return 2;
}

// One real send through a configured provider, printing its raw answer: for operators onboarding
// a provider account. Uses the daemon's config, so the provider's keys, tokens and limits are the
// ones tinbaod will use (a Zalo token pair comes from and goes back to the same store).
int cmd_send_test(const std::string& config, const std::vector<std::string>& args) {
    std::string name, to, text = "tinbao: tin nhan thu nghiem. Xin cam on.", subject, template_id;
    std::vector<std::pair<std::string, std::string>> params;
    for (size_t i = 0; i + 1 < args.size(); i += 2) {
        const auto& k = args[i];
        const auto& v = args[i + 1];
        if (k == "--provider")
            name = v;
        else if (k == "--to")
            to = v;
        else if (k == "--text")
            text = v;
        else if (k == "--subject")
            subject = v;
        else if (k == "--template-id")
            template_id = v;
        else if (k == "--param" && v.find('=') != std::string::npos)
            params.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
        else {
            std::fprintf(stderr, "tinbaoctl send-test: unknown option %s\n", k.c_str());
            return 2;
        }
    }
    if (name.empty() || to.empty()) {
        std::fprintf(stderr,
                     "tinbaoctl send-test: --provider NAME and --to ADDRESS are required\n");
        return 2;
    }
    boost::asio::io_context io;
    tinbao::CurlMulti http(io.get_executor());
    // The runtime first, from the config loaded once: a config with problems opens nothing.
    auto loaded = tinbao::load_config(config);
    tinbao::LateStore store;
    tinbao::ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = &http;
    ctx.mail = &http;
    ctx.state = &store;
    if (loaded.config) {
        ctx.state_dir = loaded.config->state_dir.string();
        ctx.public_base_url = loaded.config->http.public_base_url;
    }
    std::vector<std::string> problems;
    auto rt = tinbao::build_runtime(std::move(loaded), ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        return 1;
    }
    std::unique_ptr<tinbao::queue::Queue> queue;
    try {
        auto opened = tinbao::queue::make_queue(io, *rt->config, "tinbaoctl");
        store.attach(opened.store);
        queue = std::move(opened.queue);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tinbaoctl: cannot open the queue: %s\n", e.what());
        return 1;
    }
    queue->start();
    tinbao::Provider* provider = nullptr;
    for (auto& slot : rt->providers)
        if (slot->provider->name() == name) provider = slot->provider.get();
    if (!provider) {
        std::fprintf(stderr, "tinbaoctl send-test: no enabled provider named %s\n", name.c_str());
        return 1;
    }
    tinbao::OutboundMessage msg;
    msg.id = "t" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    msg.event_id = "send-test";
    msg.dossier_code = "send-test";
    msg.channel = provider->channel();
    msg.to = to;
    if (msg.channel != tinbao::Channel::email) {
        if (auto n = tinbao::phone::normalize_mobile(to))
            msg.to = *n;
        else if (msg.channel == tinbao::Channel::sms) {
            std::fprintf(stderr, "tinbaoctl send-test: %s is not a Vietnamese mobile number\n",
                         tinbao::mask_phone(to).c_str());
            return 1;
        }
    }
    auto planned = tinbao::sms::plan(text, tinbao::sms::UnicodePolicy::auto_, 3);
    msg.text = planned.plan ? planned.plan->text : text;
    msg.unicode = planned.plan && planned.plan->count.encoding == tinbao::sms::Encoding::ucs2;
    msg.segments = planned.plan ? planned.plan->count.segments : 0;
    msg.subject = subject.empty() ? "tinbao: thư thử nghiệm" : subject;
    msg.template_id = template_id;
    msg.params = params;
    tinbao::SendResult result;
    bool done = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            // Wait for the queue (Zalo tokens live there), then send once.
            for (int i = 0; i < 50 && !queue->ready(); ++i) {
                boost::asio::steady_timer t(io, std::chrono::milliseconds(100));
                co_await t.async_wait(boost::asio::use_awaitable);
            }
            result = co_await provider->send(msg);
            done = true;
            queue->stop();
            io.stop();
        },
        boost::asio::detached);
    io.run();
    if (!done) return 1;
    json::object out{{"provider", name},
                     {"to", tinbao::mask_address(msg.to)},
                     {"message_id", msg.id},
                     {"ok", result.ok},
                     {"provider_message_id", result.provider_message_id},
                     {"reason", result.reason},
                     {"detail", result.detail},
                     {"raw_response", result.raw_response}};
    std::printf("%s\n", pretty(out).c_str());
    return result.ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config = "/etc/tinbao/tinbao.yaml", url, token;
    if (auto* t = std::getenv("TINBAO_TOKEN")) token = t;
    std::vector<std::string> rest;
    bool help = false;
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
        } else if (a == "--config" || a == "-c") {
            config = value("--config");
        } else if (a == "--url") {
            url = value("--url");
        } else if (a == "--token") {
            token = value("--token");
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
    if (rest.size() == 2 && rest[0] == "render") return cmd_render(config, rest[1]);
    if (!rest.empty() && rest[0] == "send-test")
        return cmd_send_test(config, std::vector<std::string>(rest.begin() + 1, rest.end()));
    Api api{url, token};
    if (rest.size() == 2 && rest[0] == "status")
        return resolve_api(config, api) ? cmd_status(api, rest[1]) : 1;
    if (rest.size() >= 2 && rest[0] == "dlq")
        return resolve_api(config, api)
                   ? cmd_dlq(api, std::vector<std::string>(rest.begin() + 1, rest.end()))
                   : 1;
    usage(stderr);
    return 2;
}
