#include "daemon/ctl_send_test.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <utility>

#include "common/redact.hpp"
#include "daemon/ctl_output.hpp"
#include "daemon/io/curl_multi.hpp"
#include "daemon/io/http_pool.hpp"
#include "daemon/late_store.hpp"
#include "daemon/queue/make_queue.hpp"
#include "daemon/render/phone.hpp"
#include "daemon/render/sms_text.hpp"
#include "daemon/runtime_builder.hpp"

namespace tinbao::ctl {

namespace json = boost::json;

// Uses the daemon's config, so the provider's keys, tokens and limits are the ones tinbaod will
// use (a Zalo token pair comes from and goes back to the same store).
int send_test(const std::string& config, const std::vector<std::string>& args) {
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
    HttpPool http(io.get_executor());
    CurlMulti mail(io.get_executor());
    // The runtime first, from the config loaded once: a config with problems opens nothing.
    auto loaded = load_config(config);
    LateStore store;
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = &http;
    ctx.mail = &mail;
    ctx.state = &store;
    if (loaded.config) {
        ctx.state_dir = loaded.config->state_dir.string();
        ctx.public_base_url = loaded.config->http.public_base_url;
    }
    std::vector<std::string> problems;
    auto rt = build_runtime(std::move(loaded), ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        return 1;
    }
    std::unique_ptr<queue::Queue> queue;
    try {
        auto opened = queue::make_queue(io, *rt->config, "tinbaoctl");
        store.attach(opened.store);
        queue = std::move(opened.queue);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tinbaoctl: cannot open the queue: %s\n", e.what());
        return 1;
    }
    queue->start();
    Provider* provider = nullptr;
    const ProviderSlot* slot = nullptr;
    for (auto& s : rt->providers)
        if (s->provider->name() == name) {
            provider = s->provider.get();
            slot = s.get();
        }
    if (!provider) {
        std::fprintf(stderr, "tinbaoctl send-test: no enabled provider named %s\n", name.c_str());
        return 1;
    }
    OutboundMessage msg;
    msg.id = "t" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    msg.event_id = "send-test";
    msg.dossier_code = "send-test";
    msg.channel = provider->channel();
    msg.to = to;
    if (msg.channel != Channel::email) {
        if (auto n = phone::normalize_mobile(to))
            msg.to = *n;
        else if (msg.channel == Channel::sms) {
            std::fprintf(stderr, "tinbaoctl send-test: %s is not a Vietnamese mobile number\n",
                         mask_phone(to).c_str());
            return 1;
        }
    }
    auto planned = sms::plan(text, sms::UnicodePolicy::auto_, 3);
    msg.text = planned.plan ? planned.plan->text : text;
    msg.unicode = planned.plan && planned.plan->count.encoding == sms::Encoding::ucs2;
    msg.segments = planned.plan ? planned.plan->count.segments : 0;
    msg.subject = subject.empty() ? "tinbao: thư thử nghiệm" : subject;
    msg.template_id = template_id;
    msg.params = params;
    if (!provider->param_templates().empty()) {
        // A template-based provider (VNPT) sends a registered template and its values, in the
        // order given.
        if (template_id.empty()) {
            std::fprintf(stderr,
                         "tinbaoctl send-test: provider %s sends registered templates: give "
                         "--template-id ID and --param N=VALUE for each parameter\n",
                         name.c_str());
            return 2;
        }
        msg.provider_params.template_id = template_id;
        std::string all;
        for (auto& [k, v] : params) {
            msg.provider_params.values.push_back(v);
            all += v;
        }
        msg.provider_params.unicode = !sms::is_gsm7(all);
    } else if (msg.channel == Channel::sms) {
        // The text as this provider sends it (its own rewriting, its forbidden characters).
        auto adapted = for_provider(*slot, msg);
        if (!adapted.reason.empty())
            std::fprintf(stderr, "tinbaoctl send-test: warning: %s (%s); sending it anyway\n",
                         adapted.detail.c_str(), adapted.reason.c_str());
        msg = std::move(adapted.message);
    }
    SendResult result;
    bool done = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            // Wait for the queue (Zalo tokens live there), then send once.
            for (int i = 0; i < 50 && !queue->ready(); ++i) {
                boost::asio::steady_timer t(io, std::chrono::milliseconds(100));
                co_await t.async_wait(boost::asio::use_awaitable);
            }
            // A connection-oriented provider (SMPP) binds first; send() waits for it.
            provider->start();
            result = co_await provider->send(msg);
            done = true;
            co_await provider->stop(rt->config->shutdown_grace);
            queue->stop();
            io.stop();
        },
        boost::asio::detached);
    io.run();
    if (!done) return 1;
    json::object out{{"provider", name},
                     {"to", mask_address(msg.to)},
                     {"message_id", msg.id},
                     {"ok", result.ok},
                     {"provider_message_id", result.provider_message_id},
                     {"reason", result.reason},
                     {"detail", result.detail},
                     {"raw_response", result.raw_response}};
    std::printf("%s\n", pretty(out).c_str());
    return result.ok ? 0 : 1;
}

}  // namespace tinbao::ctl
