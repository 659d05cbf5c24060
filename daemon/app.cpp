#include "daemon/app.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>

#include "common/private_files.hpp"
#include "common/time.hpp"
#include "daemon/backend.hpp"
#include "daemon/http/api.hpp"
#include "daemon/http/server.hpp"
#include "daemon/http/tls.hpp"
#include "daemon/io/curl_multi.hpp"
#include "daemon/io/http_pool.hpp"
#include "daemon/late_sink.hpp"
#include "daemon/late_store.hpp"
#include "daemon/logging.hpp"
#include "daemon/queue/make_queue.hpp"
#include "daemon/reload_verdict.hpp"
#include "daemon/reloader.hpp"
#include "daemon/runtime_builder.hpp"

namespace asio = boost::asio;

namespace tinbao {

namespace {

std::string consumer_name(const Config& cfg) {
    if (!cfg.queue.consumer.empty()) return cfg.queue.consumer;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(cfg.http.listen_port);
}

class App {
  public:
    App(asio::io_context& io, std::filesystem::path config_file, std::unique_ptr<HttpPool> http,
        std::unique_ptr<CurlMulti> mail, std::unique_ptr<queue::Queue> queue, StateStore* store,
        LateSink* sink, std::shared_ptr<Runtime> rt)
        : config_file_(std::move(config_file)),
          io_(io),
          http_(std::move(http)),
          mail_(std::move(mail)),
          queue_(std::move(queue)),
          store_(store),
          sink_(sink),
          processor_(io, *queue_, std::move(rt)),
          backend_(io, *queue_, processor_, store),
          callbacks_(io, *queue_, *http_, processor_.metrics()),
          reloader_(io.get_executor()) {
        // The providers' reports (SMPP receipts) go the way call-backs do.
        sink_->attach(&backend_);
        backend_.set_callback_sender(&callbacks_);
    }

    int run() {
        auto rt = processor_.runtime();
        auto& cfg = *rt->config;
        spdlog::info("tinbaod {} starting: config {}, queue {}, {} provider(s)", TINBAO_VERSION,
                     config_file_.string(), queue_->describe(), rt->providers.size());
        queue_->start();
        processor_.start();
        start_providers(*rt);
        callbacks_.set_config(rt->config);
        callbacks_.start();
        backend_.config_loaded(true, now_ms());
        backend_.start();
        verdict_.pid = static_cast<int64_t>(getpid());
        verdict_.config = config_file_.string();
        verdict_.result = "started";
        verdict_.at_ms = now_ms();
        verdict_file_ = reload_verdict_dir(cfg.state_dir) / kReloadVerdictFile;
        write_verdict_file();

        if (!start_listeners(cfg)) return 1;

        asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
        wait_signal(signals);
        start_watchdog();
        sd_notify(0, "READY=1");
        report_status();
        io_.run();
        spdlog::info("tinbaod stopped");
        return 0;
    }

  private:
    // Some client must show a certificate: the listener asks every client for one.
    static bool ask_client_cert(const Config& cfg) {
        for (const auto& c : cfg.http.clients)
            if (!c.client_cert_sha256.empty()) return true;
        return false;
    }

    static http::ServerOptions server_options(const Config& cfg) {
        http::ServerOptions so;
        so.max_body_bytes = cfg.http.max_body_bytes;
        so.read_timeout = cfg.http.read_timeout;
        so.idle_timeout = cfg.http.idle_timeout;
        so.max_connections = cfg.http.max_connections;
        so.max_connections_per_address = cfg.http.max_connections_per_address;
        so.keepalive_lifetime = cfg.http.keepalive_lifetime;
        so.max_requests_per_connection = cfg.http.max_requests_per_connection;
        return so;
    }

    // nullptr and logged when the TLS settings do not load; `ok` tells that apart from no TLS.
    static std::shared_ptr<asio::ssl::context> tls_for(const TlsSettings& tls, const Config& cfg,
                                                       const char* which, bool& ok) {
        ok = true;
        if (!tls.enabled()) return nullptr;
        std::string error;
        auto ctx = http::make_tls_context(tls, ask_client_cert(cfg), error);
        if (!ctx) {
            spdlog::error("{} listener TLS: {}", which, error);
            ok = false;
        }
        return ctx;
    }

    bool start_one(std::unique_ptr<http::Server>& server, http::ServerOptions so,
                   http::Listener which) {
        const char* name = which == http::Listener::public_ ? "public" : "internal";
        auto api = http::make_api(backend_, which);
        server =
            std::make_unique<http::Server>(io_, so, std::move(api.handler), std::move(api.admit));
        try {
            server->start();
        } catch (const std::exception& e) {
            spdlog::error("cannot listen on {}:{}: {}", so.host, so.port, e.what());
            return false;
        }
        spdlog::info("{} listener on {}://{}:{}", name, so.tls ? "https" : "http", so.host,
                     server->port());
        return true;
    }

    bool start_listeners(const Config& cfg) {
        bool ok = true;
        http::ServerOptions so = server_options(cfg);
        so.host = cfg.http.listen_host;
        so.port = cfg.http.listen_port;
        so.tls = tls_for(cfg.http.tls, cfg, "internal", ok);
        if (!ok || !start_one(server_, so, http::Listener::internal)) return false;
        if (!cfg.http.public_) return true;
        http::ServerOptions po = server_options(cfg);
        po.host = cfg.http.public_->host;
        po.port = cfg.http.public_->port;
        po.tls = tls_for(cfg.http.public_->tls, cfg, "public", ok);
        return ok && start_one(public_server_, po, http::Listener::public_);
    }

    // Certificates are read again (renewed files take effect); open connections keep theirs.
    // A listener whose TLS does not load keeps the context it had.
    void reload_tls(const Config& cfg) {
        auto renew = [&](http::Server* server, const TlsSettings& tls, const char* which) {
            if (server == nullptr) return;
            if (server->is_tls() != tls.enabled()) {
                spdlog::warn("reload: TLS on the {} listener is switched on or off only at restart",
                             which);
                return;
            }
            bool ok = true;
            auto ctx = tls_for(tls, cfg, which, ok);
            if (ctx) server->set_tls(std::move(ctx));
        };
        renew(server_.get(), cfg.http.tls, "internal");
        if (cfg.http.public_) renew(public_server_.get(), cfg.http.public_->tls, "public");
    }

    ProviderContext provider_context(const Config& cfg) {
        ProviderContext ctx;
        ctx.executor = io_.get_executor();
        ctx.http = http_.get();
        ctx.mail = mail_.get();
        ctx.state = store_;
        ctx.state_dir = cfg.state_dir.string();
        ctx.public_base_url = cfg.http.public_base_url;
        ctx.sink = sink_;
        return ctx;
    }

    // Provider lifecycles (SMPP binds): started when their runtime goes into service.
    static void start_providers(const Runtime& rt) {
        for (auto& slot : rt.providers) slot->provider->start();
    }

    // Stops every provider of `rt` at once, each within `grace`, and waits for them (a little
    // longer than `grace`, for a stop that overruns it, then no more).
    asio::awaitable<void> stop_providers(std::shared_ptr<const Runtime> rt,
                                         std::chrono::milliseconds grace) {
        auto pending = std::make_shared<std::size_t>(rt->providers.size());
        for (auto& slot : rt->providers)
            asio::co_spawn(io_, slot->provider->stop(grace),
                           [pending, rt](std::exception_ptr) { --*pending; });
        auto until = std::chrono::steady_clock::now() + grace + std::chrono::milliseconds(500);
        while (*pending > 0 && std::chrono::steady_clock::now() < until) {
            asio::steady_timer t(io_, std::chrono::milliseconds(20));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (*pending > 0)
            spdlog::warn("{} provider(s) did not stop within the grace period", *pending);
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
                         processor_.runtime()->config->shutdown_grace.count());
            signals.cancel();
            asio::co_spawn(io_, shutdown(), asio::detached);
        });
    }

    asio::awaitable<void> shutdown() {
        backend_.stop();
        sd_notify(0, "STOPPING=1");
        server_->stop();
        if (public_server_) public_server_->stop();
        processor_.stop();
        callbacks_.stop();  // call-backs in flight come back when their lease ends
        auto grace = processor_.runtime()->config->shutdown_grace;
        auto until = std::chrono::steady_clock::now() + grace;
        while (!processor_.drained() && std::chrono::steady_clock::now() < until) {
            asio::steady_timer t(io_, std::chrono::milliseconds(50));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (!processor_.drained())
            spdlog::warn(
                "{} event(s) still in progress after the grace period; they stay queued "
                "and resume at the next start",
                processor_.active());
        // Then the providers' sessions close (SMPP: unbind), in what is left of the grace.
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        co_await stop_providers(processor_.runtime(),
                                std::max(left, std::chrono::milliseconds(200)));
        queue_->stop();
        if (watchdog_) watchdog_->cancel();
        if (status_timer_) status_timer_->cancel();
        io_.stop();
    }

    // reload.json (daemon/reload_verdict.hpp), for `tinbaoctl reload`.
    void write_verdict_file() {
        std::string error;
        if (!write_verdict(verdict_file_, verdict_, error) && !verdict_warned_) {
            verdict_warned_ = true;  // once: the directory stays what it is
            spdlog::warn(
                "cannot write the reload verdict ({}): `tinbaoctl reload` cannot tell "
                "the outcome of a reload",
                error);
        }
    }

    // SIGHUP. The count is written before the load starts, so `tinbaoctl reload` can tell a
    // verdict given after its signal. A SIGHUP during a reload asks for another one after it:
    // the file may have changed since the one in flight read it.
    void reload() {
        ++verdict_.requested;
        write_verdict_file();
        if (reloader_.busy()) {
            spdlog::info("SIGHUP during a reload: another follows it");
            return;
        }
        start_reload();
    }

    // Parsing and compiling happen off the event loop; the result is swapped in on it. A reload
    // still loading at shutdown is waited for and dropped when the App goes.
    void start_reload() {
        sd_notify(0, "RELOADING=1");
        spdlog::info("SIGHUP: reloading {}", config_file_.string());
        auto load = [ctx = provider_context(*processor_.runtime()->config), file = config_file_] {
            Reloader::Outcome out;
            out.runtime = load_runtime(file, ctx, out.problems);
            return out;
        };
        const uint64_t generation = verdict_.requested;
        reloader_.start(std::move(load), [this, generation](Reloader::Outcome out) {
            apply(std::move(out), generation);
            if (verdict_.requested > generation) start_reload();
        });
    }

    void apply(Reloader::Outcome out, uint64_t generation) {
        sd_notify(0, "READY=1");
        const int64_t now = now_ms();
        backend_.config_loaded(out.runtime != nullptr, now);
        processor_.metrics().inc("tinbao_config_reloads_total",
                                 {{"result", out.runtime ? "ok" : "refused"}});
        verdict_.generation = generation;
        verdict_.result = out.runtime ? "ok" : "refused";
        verdict_.problems = out.runtime ? std::vector<std::string>{} : out.problems;
        verdict_.at_ms = now;
        write_verdict_file();
        if (!out.runtime) {
            spdlog::error("reload refused, the running config stays ({} problem(s)):",
                          out.problems.size());
            for (auto& p : out.problems) spdlog::error("  {}", p);
            return;
        }
        auto& rt = out.runtime;
        auto old = processor_.runtime()->config;
        if (rt->config->http.listen_host != old->http.listen_host ||
            rt->config->http.listen_port != old->http.listen_port ||
            rt->config->queue.redis.url != old->queue.redis.url)
            spdlog::warn("reload: http.listen and queue settings change only at restart");
        if (rt->config->http.public_.has_value() != old->http.public_.has_value() ||
            (rt->config->http.public_ &&
             (rt->config->http.public_->host != old->http.public_->host ||
              rt->config->http.public_->port != old->http.public_->port)))
            spdlog::warn("reload: http.public.listen changes only at restart");
        setup_logging(rt->config->log);
        reload_tls(*rt->config);
        // The new providers go into service and the ones they replace leave it: each one's stop()
        // lets the requests in flight on it end, within shutdown_grace (a send holds its
        // runtime, so nothing is pulled from under it). A new provider first takes over the
        // connections of the one it replaces when their settings are the same (take_over).
        auto replaced = processor_.runtime();
        for (auto& slot : rt->providers)
            for (auto& old : replaced->providers)
                if (old->provider->name() == slot->provider->name() &&
                    old->provider->settings().type == slot->provider->settings().type)
                    slot->provider->take_over(*old->provider);
        processor_.set_runtime(rt);
        start_providers(*rt);
        asio::co_spawn(io_, stop_providers(replaced, rt->config->shutdown_grace), asio::detached);
        callbacks_.set_config(rt->config);
        spdlog::info("reloaded: {} provider(s), {} template(s)", rt->providers.size(),
                     rt->templates->all().size());
    }

    // STATUS= for `systemctl status`: the backend's summary, every few seconds (the queue's
    // figures are refreshed as often).
    void report_status() {
        if (!status_timer_) status_timer_ = std::make_unique<asio::steady_timer>(io_);
        auto line = "STATUS=" + backend_.status_line();
        sd_notify(0, line.c_str());
        status_timer_->expires_after(std::chrono::seconds(5));
        status_timer_->async_wait([this](boost::system::error_code ec) {
            if (!ec) report_status();
        });
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
    std::unique_ptr<HttpPool> http_;   // provider HTTP and call-backs
    std::unique_ptr<CurlMulti> mail_;  // SMTP (the smtp adapter)
    std::unique_ptr<queue::Queue> queue_;
    StateStore* store_ = nullptr;  // the queue's durable store for adapters
    LateSink* sink_ = nullptr;     // the providers' reports, forwarded to backend_
    Processor processor_;
    Backend backend_;
    CallbackSender callbacks_;                     // call-backs to API clients
    std::unique_ptr<http::Server> server_;         // internal: the API, /metrics, /readyz
    std::unique_ptr<http::Server> public_server_;  // optional: call-backs and /healthz only
    std::unique_ptr<asio::steady_timer> watchdog_;
    std::unique_ptr<asio::steady_timer> status_timer_;
    ReloadVerdict verdict_;
    std::filesystem::path verdict_file_;
    bool verdict_warned_ = false;
    // Last: destroyed first, so a reload in flight ends before what its completion would touch.
    Reloader reloader_;
};

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
        spdlog::warn(
            "the open files limit is {} but the providers' max_in_flight allow {} "
            "connections and more; raise it (LimitNOFILE= in the systemd unit, "
            "ulimit -n)",
            static_cast<uint64_t>(rl.rlim_cur), wanted);
}

}  // namespace

int run_daemon(const std::filesystem::path& config_file) {
    asio::io_context io(1);
    // Idle connections kept per provider origin: as many as may be in flight (the providers'
    // max_in_flight go up to thousands), so that a burst's connections are reused, not opened
    // again. SMTP stays on libcurl (its multi handle costs nothing until a mail is sent).
    HttpPoolOptions http_options;
    http_options.max_idle_per_origin = 20000;
    auto http = std::make_unique<HttpPool>(io.get_executor(), http_options);
    auto mail = std::make_unique<CurlMulti>(io.get_executor());

    auto loaded = load_config(config_file);
    LateStore store;
    LateSink sink;
    ProviderContext ctx;
    ctx.executor = io.get_executor();
    ctx.http = http.get();
    ctx.mail = mail.get();
    ctx.state = &store;
    ctx.sink = &sink;
    if (loaded.config) {
        ctx.state_dir = loaded.config->state_dir.string();
        ctx.public_base_url = loaded.config->http.public_base_url;
    }
    std::vector<std::string> problems;
    if (!loaded.config && loaded.diagnostics->empty())
        problems.push_back(config_file.string() + ": cannot be loaded");
    auto rt = build_runtime(std::move(loaded), ctx, problems);
    if (!rt) {
        for (auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
        std::fprintf(stderr, "tinbaod: %zu configuration problem(s); not starting\n",
                     problems.size());
        return 1;
    }
    setup_logging(rt->config->log);
    if (auto ec = create_private_directories(rt->config->state_dir))
        spdlog::warn("cannot create state_dir {}: {}", rt->config->state_dir.string(),
                     ec.message());
    queue::OpenedQueue opened;
    try {
        opened = queue::make_queue(io, *rt->config, consumer_name(*rt->config));
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }
    std::unique_ptr<queue::Queue> queue = std::move(opened.queue);
    StateStore* queue_store = opened.store;
    // Providers keep durable state (Zalo tokens) in the queue's store.
    store.attach(queue_store);
    warn_if_few_open_files(*rt);
    App app(io, config_file, std::move(http), std::move(mail), std::move(queue), queue_store, &sink,
            std::move(rt));
    return app.run();
}

}  // namespace tinbao
