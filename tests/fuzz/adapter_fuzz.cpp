// libFuzzer driver for one provider adapter, compiled once and linked into each adapter's target
// (tests/fuzz/CMakeLists.txt, tinbao_adapter_fuzz()) with the small source that names the
// adapter's factory, its YAML block and its signer (adapter_fuzz.hpp). What an adapter reads
// from outside goes in
// from the fuzzer's bytes:
//   - the provider's replies: every HTTP request the adapter makes (OAuth included) is answered
//     with a status, headers and a body taken from the input; SMTP results likewise;
//   - a call-back on /v1/callbacks/<name>: method, query, headers and body from the input, with
//     the query parameter token=fuzz-token-0123456789 and the header x-fuzz-token-0123456789:
//     fuzz-token-0123456789 available to adapters whose call-backs authenticate that way (use
//     `fuzz-token-0123456789` in the config);
//   - the message itself (text, recipient, parameters), as rendered from an outside event.
//   - with a signer (the adapter has a tests/fuzz/sign_<name>.cpp), half of the
//     call-backs are signed as the provider signs them, so the parsing behind the check is
//     reached as well.
// A crash, a sanitizer report, an exception escaping or a broken contract (a failure without a
// reason, a call-back answer outside 100..599) fails the run.
#include "adapter_fuzz.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "providers/config_view.hpp"
#include "providers/http_client.hpp"
#include "providers/mail_client.hpp"
#include "providers/provider.hpp"
#include "providers/state_store.hpp"

namespace {

using namespace tinbao;
namespace asio = boost::asio;

void check(bool ok) {
    if (!ok) std::abort();
}

// Each request gets the next reply carved from the input; once it runs out, a connect error.
class FuzzHttp final : public HttpClient, public MailClient {
  public:
    explicit FuzzHttp(FuzzedDataProvider& in) : in_(in) {}
    asio::awaitable<HttpResponse> perform(HttpRequest) override {
        HttpResponse r;
        if (in_.remaining_bytes() == 0 || ++calls_ > 8) {
            r.error = HttpResponse::Error::connect;
            r.error_text = "fuzz: no more replies";
            co_return r;
        }
        r.error = static_cast<HttpResponse::Error>(in_.ConsumeIntegralInRange<int>(0, 4));
        if (r.error != HttpResponse::Error::none) r.error_text = in_.ConsumeRandomLengthString(64);
        r.status = in_.ConsumeIntegralInRange<int>(0, 999);
        const int headers = in_.ConsumeIntegralInRange<int>(0, 3);
        static const char* const kNames[] = {"retry-after", "content-type", "x-rate-limit-reset",
                                             "location"};
        for (int i = 0; i < headers; ++i)
            r.headers.emplace_back(kNames[in_.ConsumeIntegralInRange<int>(0, 3)],
                                   in_.ConsumeRandomLengthString(32));
        r.body = in_.ConsumeRandomLengthString(4096);
        co_return r;
    }
    asio::awaitable<MailResult> send_mail(MailRequest) override {
        MailResult r;
        r.error = static_cast<MailResult::Error>(in_.ConsumeIntegralInRange<int>(0, 6));
        r.reply_code = in_.ConsumeIntegralInRange<int>(0, 999);
        r.error_text = in_.ConsumeRandomLengthString(64);
        co_return r;
    }

  private:
    FuzzedDataProvider& in_;
    int calls_ = 0;
};

// Provider state in memory; the input decides whether a write succeeds.
class FuzzState final : public StateStore {
  public:
    explicit FuzzState(FuzzedDataProvider& in) : in_(in) {}
    asio::awaitable<StoreRead> get(std::string key) override {
        StoreRead r;
        r.ok = true;
        if (auto it = values_.find(key); it != values_.end()) r.value = it->second;
        co_return r;
    }
    asio::awaitable<bool> put(std::string key, std::string value) override {
        if (in_.ConsumeBool()) co_return false;
        values_[key] = value;
        co_return true;
    }
    // Always granted: a refused lease makes an adapter poll the store on a real timer until its
    // deadline (the Zalo token refresh: every 200 ms for up to 5 s), which fuzzes no outside
    // bytes and slowed the target to a few runs per second.
    asio::awaitable<bool> try_lock(std::string, std::chrono::milliseconds) override {
        co_return true;
    }
    asio::awaitable<void> unlock(std::string) override { co_return; }

  private:
    FuzzedDataProvider& in_;
    std::map<std::string, std::string> values_;
};

std::unique_ptr<Provider> make(FuzzHttp& http, FuzzState& state, asio::io_context& io,
                               Channel channel, std::shared_ptr<Diagnostics> diags) {
    ProviderSettings s;
    s.name = "fuzz";
    s.type = "fuzz";
    s.channel = channel;
    s.timeout = std::chrono::seconds(5);
    ConfigView view(YAML::Load(tinbao_fuzz_config), "providers[0]", "fuzz.yaml", diags);
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = &http;
    ctx.mail = &http;
    ctx.state = &state;
    ctx.state_dir = "/nonexistent/tinbao-fuzz";
    ctx.public_base_url = "https://tinbao.example.vn";
    return tinbao_fuzz_factory()->create(s, view, ctx);
}

void fuzz_send(Provider& p, FuzzedDataProvider& in, asio::io_context& io, Channel channel) {
    OutboundMessage m;
    m.id = in.ConsumeRandomLengthString(40);
    m.event_id = "e-1";
    m.dossier_code = in.ConsumeRandomLengthString(64);
    m.channel = channel;
    m.to = in.ConsumeRandomLengthString(40);
    m.text = in.ConsumeRandomLengthString(800);
    m.unicode = in.ConsumeBool();
    m.segments = in.ConsumeIntegralInRange<int>(0, 10);
    m.subject = in.ConsumeRandomLengthString(200);
    m.html = in.ConsumeRandomLengthString(800);
    m.template_id = in.ConsumeRandomLengthString(20);
    const int params = in.ConsumeIntegralInRange<int>(0, 4);
    for (int i = 0; i < params; ++i)
        m.params.emplace_back(in.ConsumeRandomLengthString(20), in.ConsumeRandomLengthString(300));
    // Template-based adapters (VNPT): the form the planner made.
    m.provider_params.template_id = in.ConsumeRandomLengthString(12);
    for (auto& [name, value] : m.params) m.provider_params.values.push_back(value);
    m.provider_params.unicode = in.ConsumeBool();
    // Twice: the second send meets what the first one stored (tokens) or learnt.
    for (int round = 0; round < 2; ++round) {
        bool done = false;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                SendResult r = co_await p.send(m);
                check(r.ok || !r.reason.empty());
                done = true;
            },
            asio::detached);
        io.run();
        io.restart();
        check(done);
    }
}

void fuzz_callback(Provider& p, FuzzedDataProvider& in, asio::io_context& io) {
    CallbackRequest r;
    r.method = in.ConsumeBool() ? "POST" : "GET";
    r.query.emplace_back("token", "fuzz-token-0123456789");
    r.headers.emplace_back("x-fuzz-token-0123456789", "fuzz-token-0123456789");
    const int query = in.ConsumeIntegralInRange<int>(0, 8);
    for (int i = 0; i < query; ++i)
        r.query.emplace_back(in.ConsumeRandomLengthString(24), in.ConsumeRandomLengthString(64));
    const int headers = in.ConsumeIntegralInRange<int>(0, 4);
    for (int i = 0; i < headers; ++i)
        r.headers.emplace_back(in.ConsumeRandomLengthString(24), in.ConsumeRandomLengthString(128));
    const bool sign = tinbao_fuzz_signer != nullptr && in.ConsumeBool();
    r.body = in.ConsumeRemainingBytesAsString();
    if (sign) tinbao_fuzz_signer(r);
    auto answer = p.handle_callback(r);
    if (!answer) return;
    check(answer->status >= 100 && answer->status <= 599);
    if (answer->resolve) {
        // The lookup the daemon runs after answering (the provider's id in the state store).
        bool done = false;
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                auto updates = co_await answer->resolve();
                for (const auto& u : updates) check(!u.message_id.empty() && !u.state.empty());
                done = true;
            },
            asio::detached);
        io.run();
        io.restart();
        check(done);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    asio::io_context io;
    FuzzHttp http(in);
    FuzzState state(in);
    static const Channel kChannels[] = {Channel::sms, Channel::zalo, Channel::email};
    const Channel channel = kChannels[in.ConsumeIntegralInRange<int>(0, 2)];
    const bool callback = in.ConsumeBool();
    auto diags = std::make_shared<Diagnostics>();
    auto p = make(http, state, io, channel, diags);
    // A configuration block the adapter refuses would fuzz nothing: said once, loudly.
    static bool config_checked = false;
    if (!config_checked) {
        for (Channel c : kChannels) {
            auto d = std::make_shared<Diagnostics>();
            if (make(http, state, io, c, d)) config_checked = true;
            for (const auto& item : d->items) std::fprintf(stderr, "%s\n", item.str().c_str());
        }
        check(config_checked);
    }
    if (!p) return 0;  // the adapter does not take this channel
    if (callback)
        fuzz_callback(*p, in, io);
    else
        fuzz_send(*p, in, io, channel);
    return 0;
}
