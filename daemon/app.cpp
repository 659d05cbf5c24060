#include "daemon/app.hpp"

#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon/http/api.hpp"
#include "daemon/http/server.hpp"
#include "daemon/io/curl_multi.hpp"
#include "daemon/logging.hpp"
#include "daemon/queue/redis_queue.hpp"
#include "daemon/queue/sqlite_queue.hpp"
#include "daemon/render/sms_text.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao {

std::shared_ptr<Runtime> load_runtime(const std::filesystem::path& config_file,
                                      const ProviderContext& ctx,
                                      std::vector<std::string>& problems) {
    auto loaded = load_config(config_file);
    if (!loaded.config) {
        for (auto& d : loaded.diagnostics->items) problems.push_back(d.str());
        if (problems.empty()) problems.push_back(config_file.string() + ": cannot be loaded");
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
            pc.view->error("type", "unknown provider type '" + pc.settings.type +
                                       "' (known: " + known + ")");
            continue;
        }
        if (!factory->supports(pc.settings.channel)) {
            pc.view->error("channel", "provider type '" + pc.settings.type +
                                          "' cannot deliver channel " +
                                          std::string(to_string(pc.settings.channel)));
            continue;
        }
        auto provider = factory->create(pc.settings, *pc.view, ctx);
        pc.view->finish();
        if (!provider) continue;
        auto slot = std::make_shared<ProviderSlot>();
        if (!pc.settings.registered_templates.empty()) {
            // The config loader already checked each entry.
            auto compiled = sms::RegisteredTemplates::compile(pc.settings.registered_templates);
            if (auto* ok = std::get_if<sms::RegisteredTemplates>(&compiled))
                slot->registered = std::move(*ok);
        }
        slot->limiter = std::make_unique<Limiter>(ctx.executor, pc.settings.rate_per_second,
                                                  pc.settings.max_in_flight);
        slot->provider = std::move(provider);
        rt->providers.push_back(std::move(slot));
    }
    for (auto& d : loaded.diagnostics->items) problems.push_back(d.str());

    std::vector<tpl::Error> tpl_errors;
    rt->templates = tpl::TemplateSet::load(cfg->templates_dir.string(), tpl_errors);
    for (auto& e : tpl_errors) problems.push_back(e.str());
    if (rt->templates) {
        // Every routed status needs a template with a part for each of its channels.
        for (auto& route : cfg->routes)
            for (auto& status : route.statuses) {
                auto* t = rt->templates->find(status);
                std::string file = (cfg->templates_dir / (status + ".yaml")).string();
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
                                           "' part, but a route sends status " + status +
                                           " by " + std::string(to_string(c)));
                }
            }
    }
    if (!problems.empty()) return nullptr;
    return rt;
}

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
            auto parsed = parse_event(json::serialize(copy), [&](std::string_view s) {
                return cfg.canonical_status(s);
            });
            if (!parsed.event) {
                problems.push_back(sample_path.string() + ":1: not a valid event: " +
                                   parsed.error->message +
                                   (parsed.error->field.empty() ? "" : " (" + parsed.error->field + ")"));
                break;
            }
            for (auto c : {Channel::sms, Channel::zalo, Channel::email}) {
                bool has = (c == Channel::sms && t.sms) || (c == Channel::zalo && t.zalo) ||
                           (c == Channel::email && t.email);
                if (!has) continue;
                auto& ev = *parsed.event;
                bool contact = (c == Channel::sms && !ev.phone.empty()) ||
                               (c == Channel::zalo && (!ev.phone.empty() || !ev.zalo_user_id.empty())) ||
                               (c == Channel::email && !ev.email.empty());
                if (!contact) continue;  // this sample has no address for the channel
                auto m = plan_message(*rt, ev, "check", c);
                if (!m.preflight_reason.empty()) {
                    std::string where = m.preflight_reason == "template_error" ? "" : t.file + ":1: ";
                    problems.push_back(where + m.preflight_detail + " [sample " +
                                       sample_path.filename().string() + ", " +
                                       std::string(to_string(c)) + ", " + m.preflight_reason + "]");
                    continue;
                }
                // Every SMS provider's gateway rules: the carriers reject unregistered wording.
                for (auto& slot : rt->for_channel(c)) {
                    auto text = for_provider(*slot, m.outbound);
                    if (!text.reason.empty())
                        problems.push_back(t.file + ":1: " + text.detail + " [sample " +
                                           sample_path.filename().string() + ", " +
                                           text.reason + "]");
                }
                if (c == Channel::sms) {
                    auto count = sms::count(m.outbound.text, m.outbound.unicode
                                                                 ? sms::Encoding::ucs2
                                                                 : sms::Encoding::gsm7);
                    std::printf("%-22s %-28s %-6s %-5s %6zu %4d\n", status.c_str(),
                                sample_path.filename().c_str(), "sms",
                                std::string(sms::to_string(count.encoding)).c_str(),
                                count.characters, count.segments);
                }
            }
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

namespace {

class Daemon final : public http::ApiBackend {
public:
    Daemon(std::filesystem::path config_file, std::unique_ptr<queue::Queue> queue,
           StateStore* store, std::shared_ptr<Runtime> rt, asio::io_context& io,
           std::unique_ptr<CurlMulti> http)
        : config_file_(std::move(config_file)),
          io_(io),
          http_(std::move(http)),
          queue_(std::move(queue)),
          store_(store) {
        processor_ = std::make_unique<Processor>(io, *queue_, rt);
    }

    static std::string consumer_name(const Config& cfg) {
        if (!cfg.queue.consumer.empty()) return cfg.queue.consumer;
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        return std::string(host) + ":" + std::to_string(cfg.http.listen_port);
    }

    ProviderContext provider_context(const Config& cfg) {
        ProviderContext ctx;
        ctx.executor = io_.get_executor();
        ctx.http = http_.get();
        ctx.mail = http_.get();
        ctx.state = store_;
        ctx.state_dir = cfg.state_dir.string();
        ctx.public_base_url = cfg.http.public_base_url;
        return ctx;
    }

    int run() {
        auto rt = processor_->runtime();
        auto& cfg = *rt->config;
        spdlog::info("tinbaod {} starting: config {}, queue {}, {} provider(s)", TINBAO_VERSION,
                     config_file_.string(), queue_->describe(), rt->providers.size());
        queue_->start();
        processor_->start();
        asio::co_spawn(io_, refresh_gauges(), asio::detached);

        http::ServerOptions so;
        so.host = cfg.http.listen_host;
        so.port = cfg.http.listen_port;
        so.max_body_bytes = cfg.http.max_body_bytes;
        so.read_timeout = cfg.http.read_timeout;
        so.idle_timeout = cfg.http.idle_timeout;
        so.max_connections = cfg.http.max_connections;
        server_ = std::make_unique<http::Server>(io_, so, http::make_api_handler(*this));
        try {
            server_->start();
        } catch (const std::exception& e) {
            spdlog::error("cannot listen on {}:{}: {}", so.host, so.port, e.what());
            return 1;
        }
        spdlog::info("listening on http://{}:{}", so.host, server_->port());

        asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
        wait_signal(signals);
        start_watchdog();
        sd_notify(0, "READY=1");
        io_.run();
        spdlog::info("tinbaod stopped");
        return exit_code_;
    }

    // --- ApiBackend ---
    asio::awaitable<Ingest> ingest(const Event& event) override {
        auto outcome = co_await queue_->ingest(event, json::serialize(event.json));
        switch (outcome) {
            case queue::IngestOutcome::accepted: ++accepted_; co_return Ingest::accepted;
            case queue::IngestOutcome::duplicate: ++duplicates_; co_return Ingest::duplicate;
            default: ++unavailable_; co_return Ingest::unavailable;
        }
    }
    asio::awaitable<http::Lookup> event_record(std::string id) override {
        auto found = co_await queue_->event_record(id);
        co_return convert(std::move(found));
    }
    asio::awaitable<http::Lookup> message_record(std::string id) override {
        auto found = co_await queue_->message_record(id);
        co_return convert(std::move(found));
    }
    asio::awaitable<http::Lookup> dossier_messages(std::string code) override {
        auto found = co_await queue_->dossier_messages(code);
        co_return convert(std::move(found));
    }
    json::value render_preview(const Event& event) override {
        return preview(*processor_->runtime(), event);
    }
    bool ready() const override { return queue_->ready() && !stopping_; }
    json::object readiness_detail() const override {
        json::object out;
        for (auto& slot : processor_->runtime()->providers)
            if (auto p = slot->provider->problem(); !p.empty()) out[slot->provider->name()] = p;
        return out;
    }
    std::string metrics_text() override {
        auto& s = processor_->stats();
        std::vector<Metrics::Sample> v;
        auto add = [&](const char* name, double value, Labels labels = {}) {
            v.push_back({name, std::move(labels), value});
        };
        add("tinbao_events_accepted_total", static_cast<double>(accepted_));
        add("tinbao_events_duplicate_total", static_cast<double>(duplicates_));
        add("tinbao_events_unavailable_total", static_cast<double>(unavailable_));
        add("tinbao_callbacks_total", static_cast<double>(callbacks_));
        add("tinbao_events_processed_total", static_cast<double>(s.events_processed));
        add("tinbao_events_invalid_total", static_cast<double>(s.events_invalid));
        add("tinbao_messages_sent_total", static_cast<double>(s.messages_sent));
        add("tinbao_messages_failed_total", static_cast<double>(s.messages_failed));
        add("tinbao_messages_expired_total", static_cast<double>(s.messages_expired));
        add("tinbao_quiet_hours_deferred_total", static_cast<double>(s.deferred_quiet));
        add("tinbao_dead_letters_replayed_total", static_cast<double>(s.replayed));
        add("tinbao_pipeline_active", static_cast<double>(processor_->active()));
        add("tinbao_queue_up", queue_->ready() ? 1 : 0);
        add("tinbao_instances", processor_->instances());
        if (gauges_.backlog >= 0)
            add("tinbao_stream_backlog", static_cast<double>(gauges_.backlog));
        if (gauges_.scheduled >= 0)
            add("tinbao_scheduled_messages", static_cast<double>(gauges_.scheduled));
        if (gauges_.dead >= 0) add("tinbao_dead_letters", static_cast<double>(gauges_.dead));
        auto now = CircuitBreaker::Clock::now();
        for (auto& slot : processor_->runtime()->providers) {
            Labels provider{{"provider", slot->provider->name()}};
            add("tinbao_provider_in_flight", static_cast<double>(slot->limiter->in_flight()),
                provider);
            add("tinbao_provider_problem", slot->provider->problem().empty() ? 0 : 1, provider);
            add("tinbao_provider_circuit_open",
                slot->breaker.state(now) == CircuitBreaker::State::closed ? 0 : 1, provider);
        }
        return processor_->metrics().render(v);
    }
    asio::awaitable<std::optional<http::Response>> callback(std::string name,
                                                            CallbackRequest request) override {
        auto rt = processor_->runtime();
        Provider* provider = nullptr;
        for (auto& slot : rt->providers)
            if (slot->provider->name() == name) provider = slot->provider.get();
        if (!provider) co_return std::nullopt;
        auto result = provider->handle_callback(request);
        if (!result) co_return std::nullopt;
        ++callbacks_;
        if (!result->updates.empty()) {
            // Answered at once; the records follow (a provider retries a call-back that waits).
            auto updates = std::move(result->updates);
            asio::co_spawn(io_, apply(std::move(updates), name), asio::detached);
        }
        http::Response r;
        r.status = result->status;
        r.content_type = result->content_type;
        r.body = std::move(result->body);
        co_return r;
    }
    asio::awaitable<http::Lookup> dead_letters(std::string reason, std::size_t limit) override {
        queue::DeadLetterQuery q;
        q.reason = std::move(reason);
        q.limit = limit;
        auto found = co_await queue_->dead_letters(q);
        co_return convert(std::move(found));
    }
    asio::awaitable<std::optional<int>> replay(std::vector<std::string> ids,
                                               std::string reason) override {
        int n = co_await processor_->replay(std::move(ids), std::move(reason));
        if (n < 0) co_return std::nullopt;
        co_return n;
    }
    std::shared_ptr<const Config> config() const override {
        return processor_->runtime()->config;
    }

private:
    asio::awaitable<void> apply(std::vector<DeliveryUpdate> updates, std::string provider) {
        for (auto& u : updates)
            spdlog::info("message {}: {} reports {}{}{}", u.message_id, provider, u.state,
                         u.reason.empty() ? "" : ": ", u.reason);
        if (!co_await queue_->apply_updates(updates))
            spdlog::warn("delivery reports from {} could not all be recorded", provider);
    }

    asio::awaitable<void> refresh_gauges() {
        while (!stopping_) {
            gauges_ = co_await queue_->gauges();
            asio::steady_timer t(io_, std::chrono::seconds(5));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    static http::Lookup convert(queue::Lookup l) {
        http::Lookup out;
        out.value = std::move(l.value);
        out.status = l.status == queue::Lookup::Status::found       ? http::Lookup::Status::found
                     : l.status == queue::Lookup::Status::not_found ? http::Lookup::Status::not_found
                                                                    : http::Lookup::Status::unavailable;
        return out;
    }

    void wait_signal(asio::signal_set& signals) {
        signals.async_wait([this, &signals](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload();
                wait_signal(signals);
                return;
            }
            spdlog::info("signal {}: stopping (grace {} ms)", sig,
                         processor_->runtime()->config->shutdown_grace.count());
            signals.cancel();
            asio::co_spawn(io_, shutdown(), asio::detached);
        });
    }

    asio::awaitable<void> shutdown() {
        stopping_ = true;
        sd_notify(0, "STOPPING=1");
        server_->stop();
        processor_->stop();
        auto grace = processor_->runtime()->config->shutdown_grace;
        auto until = std::chrono::steady_clock::now() + grace;
        while (!processor_->drained() && std::chrono::steady_clock::now() < until) {
            asio::steady_timer t(io_, std::chrono::milliseconds(50));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!processor_->drained())
            spdlog::warn("{} event(s) still in progress after the grace period; they stay queued "
                         "and resume at the next start",
                         processor_->active());
        queue_->stop();
        if (watchdog_) watchdog_->cancel();
        io_.stop();
    }

    void reload() {
        if (reloading_) {
            spdlog::warn("reload already in progress");
            return;
        }
        reloading_ = true;
        sd_notify(0, "RELOADING=1");
        spdlog::info("SIGHUP: reloading {}", config_file_.string());
        // Parsing and compiling happen off the event loop; the result is swapped in on it.
        ProviderContext ctx = provider_context(*processor_->runtime()->config);
        std::thread([this, ctx, file = config_file_] {
            std::vector<std::string> problems;
            auto rt = load_runtime(file, ctx, problems);
            asio::post(io_, [this, rt, problems = std::move(problems)] {
                reloading_ = false;
                sd_notify(0, "READY=1");
                if (!rt) {
                    spdlog::error("reload refused, the running config stays ({} problem(s)):",
                                  problems.size());
                    for (auto& p : problems) spdlog::error("  {}", p);
                    return;
                }
                auto old = processor_->runtime()->config;
                if (rt->config->http.listen_host != old->http.listen_host ||
                    rt->config->http.listen_port != old->http.listen_port ||
                    rt->config->queue.redis.url != old->queue.redis.url)
                    spdlog::warn("reload: http.listen and queue settings change only at restart");
                setup_logging(rt->config->log);
                processor_->set_runtime(rt);
                spdlog::info("reloaded: {} provider(s), {} template(s)", rt->providers.size(),
                             rt->templates->all().size());
            });
        }).detach();
    }

    void start_watchdog() {
        uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
        watchdog_ = std::make_unique<asio::steady_timer>(io_);
        auto period = std::chrono::microseconds(usec / 2);
        ping(period);
    }
    void ping(std::chrono::microseconds period) {
        // From a loop timer: a stuck event loop stops the pings and systemd restarts us.
        sd_notify(0, "WATCHDOG=1");
        watchdog_->expires_after(period);
        watchdog_->async_wait([this, period](boost::system::error_code ec) {
            if (!ec) ping(period);
        });
    }

    std::filesystem::path config_file_;
    asio::io_context& io_;
    std::unique_ptr<CurlMulti> http_;
    std::unique_ptr<queue::Queue> queue_;
    StateStore* store_ = nullptr;  // the queue's durable store for adapters
    std::unique_ptr<Processor> processor_;
    std::unique_ptr<http::Server> server_;
    std::unique_ptr<asio::steady_timer> watchdog_;
    bool stopping_ = false;
    bool reloading_ = false;
    int exit_code_ = 0;
    uint64_t accepted_ = 0, duplicates_ = 0, unavailable_ = 0, callbacks_ = 0;
    queue::Queue::Gauges gauges_;
};

}  // namespace

namespace {

// Each request in flight to a provider holds a connection (a file descriptor), on top of the
// HTTP clients', Redis's and libcurl's idle ones. A soft limit of 1024 (the usual default)
// would fail sends with "too many open files" under load: say so at startup. The systemd unit
// sets LimitNOFILE=65536.
void warn_if_few_open_files(const Runtime& rt) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    // libcurl's idle connections, clients, Redis, files, and what may be in flight.
    uint64_t wanted = 1024 + 256 + rt.in_flight_capacity();
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted)
        spdlog::warn("the open files limit is {} but the providers' max_in_flight allow {} "
                     "connections and more; raise it (LimitNOFILE= in the systemd unit, "
                     "ulimit -n)",
                     static_cast<uint64_t>(rl.rlim_cur), wanted);
}

}  // namespace

int run_daemon(const std::filesystem::path& config_file) {
    asio::io_context io(1);
    // Idle connections to providers kept for reuse: as many as may be in flight (the providers'
    // max_in_flight go up to thousands). libcurl's default follows the number of transfers in
    // progress, so after a burst it closed connections it soon opened again. Sixteen shards
    // keep libcurl's walks over its connections short: with 10,000 requests in flight on one
    // multi handle they took most of the CPU (bench/README.md).
    CurlMultiOptions http_options;
    http_options.connection_cache = 20000;
    http_options.shards = 16;
    auto http = std::make_unique<CurlMulti>(io.get_executor(), http_options);
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = http.get();
    ctx.mail = http.get();
    ctx.state_dir = "";
    std::vector<std::string> problems;
    // The first load: state_dir is known only after the config is read; providers that need it
    // take it from their own keys' defaults, so load twice only when it matters.
    auto rt = load_runtime(config_file, ctx, problems);
    if (rt && !rt->config->state_dir.empty()) {
        ctx.state_dir = rt->config->state_dir.string();
        problems.clear();
        rt = load_runtime(config_file, ctx, problems);
    }
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        std::fprintf(stderr, "tinbaod: %zu configuration problem(s); not starting\n",
                     problems.size());
        return 1;
    }
    setup_logging(rt->config->log);
    auto& qs = rt->config->queue;
    if (qs.backend == "redis" && qs.redis.tls) {
        // hiredis 0.14 (Debian 12) has no TLS: refuse rather than send the password in clear.
        spdlog::error("queue.redis.url: rediss:// (TLS) is not supported by this build; use a "
                      "local TLS tunnel (stunnel) and redis:// to it");
        return 1;
    }
    std::error_code ec;
    std::filesystem::create_directories(rt->config->state_dir, ec);
    // Providers keep durable state (Zalo tokens) in the queue's store: build them again with it.
    std::unique_ptr<queue::Queue> queue;
    StateStore* store = nullptr;
    const std::string consumer = Daemon::consumer_name(*rt->config);
    if (qs.backend == "sqlite") {
        auto db = rt->config->state_dir / "tinbao.db";
        try {
            auto q = std::make_unique<queue::SqliteQueue>(io, db, qs.dedupe_ttl, consumer,
                                                          qs.claim_idle, qs.retention);
            store = q.get();
            queue = std::move(q);
        } catch (const std::exception& e) {
            spdlog::error("queue: cannot open {}: {}", db.string(), e.what());
            return 1;
        }
    } else {
        auto q = std::make_unique<queue::RedisQueue>(io, qs, consumer);
        store = q.get();
        queue = std::move(q);
    }
    ctx.state = store;
    ctx.public_base_url = rt->config->http.public_base_url;
    problems.clear();
    rt = load_runtime(config_file, ctx, problems);
    if (!rt) {
        for (auto& p : problems) spdlog::error("{}", p);
        return 1;
    }
    warn_if_few_open_files(*rt);
    Daemon d(config_file, std::move(queue), store, rt, io, std::move(http));
    return d.run();
}

}  // namespace tinbao
