// The configuration loader: YAML -> Config, with every problem reported (see config.hpp). The
// routes and the providers' common keys are read by config_delivery.cpp.
#include "daemon/config/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "common/encoding.hpp"
#include "common/yaml_error.hpp"
#include "daemon/config/config_parts.hpp"

namespace tinbao {

using namespace config_parts;

namespace {

namespace fs = std::filesystem;

bool parse_uint(std::string_view s, int64_t max, int64_t& out) {
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
        }))
        return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size() && out <= max;
}

}  // namespace

std::string config_parts::parse_host_port(std::string_view s, std::string& host, uint16_t& port) {
    std::string_view h, p;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return "missing ']' after an IPv6 address";
        h = s.substr(1, close - 1);
        auto rest = s.substr(close + 1);
        if (rest.empty() || rest.front() != ':') return "expected ':port' after ']'";
        p = rest.substr(1);
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return "expected host:port";
        h = s.substr(0, colon);
        p = s.substr(colon + 1);
        if (h.find(':') != std::string_view::npos)
            return "an IPv6 address goes in brackets: [::1]:8080";
    }
    if (h.empty()) return "the host is empty (use 0.0.0.0 or [::] for every interface)";
    if (std::any_of(h.begin(), h.end(), [](char c) {
            return std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@';
        }))
        return "invalid host";
    int64_t n = 0;
    if (!parse_uint(p, 65535, n)) return "the port must be a number from 0 to 65535";
    host = std::string(h);
    port = static_cast<uint16_t>(n);
    return {};
}

namespace {

// redis://[user[:password]@]host[:port][/db], rediss:// for TLS. The message never quotes the
// URL: it may hold a password.
std::string parse_redis_url(std::string_view url, RedisSettings& r) {
    std::string_view rest;
    if (url.substr(0, 8) == "redis://") {
        r.tls = false;
        rest = url.substr(8);
    } else if (url.substr(0, 9) == "rediss://") {
        r.tls = true;
        rest = url.substr(9);
    } else {
        return "must start with redis:// or rediss://";
    }
    if (rest.find_first_of("?#") != std::string_view::npos)
        return "query strings and fragments are not supported";
    std::string_view authority = rest, db;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        db = rest.substr(slash + 1);
    }
    r.username.clear();
    r.password.clear();
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        std::string_view user = userinfo, pass;
        bool has_pass = false;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            pass = userinfo.substr(colon + 1);
            has_pass = true;
        }
        auto username = percent_decode(user), password = percent_decode(pass);
        if (!username || !password) return "invalid percent-encoding in the user or password";
        r.username = std::move(*username);
        r.password = std::move(*password);
        if (!has_pass && !r.username.empty()) {
            // "redis://secret@host" is the password alone, as redis-cli and most clients read it.
            r.password = std::move(r.username);
            r.username.clear();
        }
    }
    if (authority.empty()) return "the host is missing";
    std::string host;
    uint16_t port = 6379;
    bool bracketed = authority.front() == '[';
    bool has_port = bracketed ? authority.find("]:") != std::string_view::npos
                              : authority.find(':') != std::string_view::npos;
    if (has_port) {
        if (auto err = parse_host_port(authority, host, port); !err.empty()) return err;
        if (port == 0) return "the port must be a number from 1 to 65535";
    } else if (bracketed) {
        if (authority.back() != ']') return "missing ']' after an IPv6 address";
        host = std::string(authority.substr(1, authority.size() - 2));
        if (host.empty()) return "the host is missing";
    } else {
        host = std::string(authority);
    }
    int64_t n = 0;
    if (!db.empty() && !parse_uint(db, 1 << 20, n))
        return "the database after '/' must be a number";
    r.host = std::move(host);
    r.port = port;
    r.db = static_cast<int>(n);
    return {};
}

}  // namespace

std::optional<int> config_parts::parse_hhmm(std::string_view s) {
    if (s.size() != 5 || s[2] != ':') return std::nullopt;
    int64_t h = 0, m = 0;
    if (!parse_uint(s.substr(0, 2), 23, h) || !parse_uint(s.substr(3, 2), 59, m))
        return std::nullopt;
    return static_cast<int>(h * 60 + m);
}

namespace {

fs::path resolve_against(const fs::path& base_dir, const std::string& p) {
    fs::path path(p);
    if (path.is_relative()) path = base_dir / path;
    return path.lexically_normal();
}

void load_log(ConfigView& root, Config& c) {
    ConfigView log = root.child("log");
    set_if(one_of(log, "level", {"trace", "debug", "info", "warn", "error"}), c.log.level);
    set_if(one_of(log, "format", {"text", "json"}), c.log.format);
    log.finish();
}

void load_sentinel(ConfigView& redis, RedisSettings& r) {
    bool listed = false;
    if (auto list = redis.string_list("sentinels")) {
        listed = true;
        if (list->empty()) redis.error("sentinels", "must list at least one host:port");
        for (auto& item : *list) {
            RedisSettings::Address a;
            std::string err;
            bool has_port = item.find(':') != std::string::npos;
            if (has_port)
                err = parse_host_port(item, a.host, a.port);
            else
                a.host = item;
            if (err.empty() && (a.host.empty() || a.port == 0)) err = "needs a host and a port";
            if (!err.empty()) {
                redis.error("sentinels", "\"" + item + "\": " + err);
                continue;
            }
            r.sentinels.push_back(std::move(a));
        }
    }
    set_if(redis.string("master_name"), r.master_name);
    set_if(redis.string("sentinel_password"), r.sentinel_password);
    if (!r.sentinels.empty() && r.master_name.empty())
        redis.error("master_name",
                    "is required with sentinels (the name in the sentinels' "
                    "`sentinel monitor` line)");
    if (!listed && !r.master_name.empty()) redis.error("sentinels", "is required with master_name");
    if (auto n = redis.integer("min_replicas", 0, 16)) r.min_replicas = static_cast<int>(*n);
    if (auto d = redis.duration("min_replicas_timeout")) {
        if (d->count() <= 0)
            redis.error("min_replicas_timeout", "must be greater than zero");
        else
            r.min_replicas_timeout = *d;
    }
}

void load_queue(ConfigView& root, Config& c) {
    ConfigView queue = root.child("queue");
    auto& q = c.queue;
    ConfigView redis = queue.child("redis");
    q.backend = redis.node().IsMap() ? "redis" : "sqlite";
    set_if(one_of(queue, "backend", {"redis", "sqlite"}), q.backend);
    if (auto url = redis.string("url")) {
        if (auto err = parse_redis_url(*url, q.redis); !err.empty())
            redis.error("url", "invalid Redis URL: " + err);
        else
            q.redis.url = *url;
    }
    if (auto prefix = redis.string("prefix")) {
        bool ok = !prefix->empty() && std::none_of(prefix->begin(), prefix->end(), [](char ch) {
            return std::isspace(static_cast<unsigned char>(ch)) || ch == '{' || ch == '}';
        });
        if (ok)
            q.redis.prefix = *prefix;
        else
            redis.error("prefix", "must be non-empty, without spaces or braces");
    }
    if (auto d = redis.duration("command_timeout")) {
        if (d->count() <= 0)
            redis.error("command_timeout", "must be greater than zero");
        else
            q.redis.command_timeout = *d;
    }
    load_sentinel(redis, q.redis);
    redis.finish();
    if (auto d = queue.duration("dedupe_ttl")) {
        if (d->count() <= 0)
            queue.error("dedupe_ttl", "must be greater than zero");
        else
            q.dedupe_ttl = *d;
    }
    set_if(queue.string("consumer"), q.consumer);
    set_if(queue.integer("batch", 1, 10000), q.batch);
    if (auto d = queue.duration("claim_idle")) {
        if (d->count() <= 0)
            queue.error("claim_idle", "must be greater than zero");
        else
            q.claim_idle = *d;
    }
    if (auto d = queue.duration("retention")) {
        // Personal data is kept no longer than needed; 0 keeps records as long as dedupe_ttl.
        if (d->count() < 0)
            queue.error("retention", "must not be negative");
        else
            q.retention = *d;
    }
    ConfigView st = queue.child("status_stream");
    if (st.node().IsMap()) {
        set_if(st.boolean("enabled"), q.status_stream);
        set_if(st.integer("max_len", 1, 1LL << 40), q.status_stream_max_len);
        if (auto d = st.duration("max_age")) {
            if (d->count() < 0)
                st.error("max_age", "must not be negative");
            else
                q.status_stream_max_age = *d;
        }
        if (q.status_stream && q.backend != "redis")
            st.error("enabled", "the status stream is a Redis stream: it needs backend redis");
        st.finish();
    }
    queue.finish();
}

void load_statuses(ConfigView& root, Config& c) {
    ConfigView statuses = root.child("statuses");
    ConfigView aliases = statuses.child("aliases");
    if (aliases.node().IsMap()) {
        for (auto it = aliases.node().begin(); it != aliases.node().end(); ++it) {
            if (!it->first.IsScalar()) continue;  // finish() reports it
            const std::string alias = it->first.Scalar();
            auto target = aliases.string(alias, true);
            if (!target) continue;
            if (is_canonical_status(alias)) {
                aliases.error(alias, "'" + alias + "' is a canonical status, not an alias");
            } else if (!is_canonical_status(*target)) {
                aliases.error(alias, "'" + *target + "' is not a canonical status");
            } else {
                c.status_aliases[alias] = *target;
            }
        }
    }
    aliases.finish();
    statuses.finish();
}

void load_rest(ConfigView& root, Config& c, const fs::path& dir, Diagnostics& diags) {
    if (auto s = root.string("state_dir")) {
        if (s->empty())
            root.error("state_dir", "must not be empty");
        else
            c.state_dir = resolve_against(dir, *s);
    }
    if (auto d = root.duration("shutdown_grace")) c.shutdown_grace = *d;
    if (auto d = root.duration("coalesce_window")) {
        if (d->count() < 0 || *d > std::chrono::hours(1))
            root.error("coalesce_window", "must be between 0 and 1h");
        else
            c.coalesce_window = *d;
    }
    load_log(root, c);
    load_http(root, c, diags);
    load_queue(root, c);

    ConfigView templates = root.child("templates");
    c.templates_dir = resolve_against(dir, "templates");
    if (auto d = templates.string("dir")) {
        if (d->empty())
            templates.error("dir", "must not be empty");
        else
            c.templates_dir = resolve_against(dir, *d);
    }
    templates.finish();

    load_statuses(root, c);
    load_routes(root, c);

    ConfigView sms = root.child("sms");
    if (auto u = one_of(sms, "unicode", {"auto", "never", "always"})) {
        c.sms.unicode = *u == "never"    ? SmsSettings::Unicode::never
                        : *u == "always" ? SmsSettings::Unicode::always
                                         : SmsSettings::Unicode::auto_;
    }
    set_if(sms.integer("max_segments", 1, 10), c.sms.max_segments);
    sms.finish();

    for (auto& qv : root.children("quiet_hours")) {
        QuietHours qh;
        qh.line = qv.line();
        qh.channels = read_channels(qv, "channels", true);
        auto hhmm = [&](std::string_view key, int& out) {
            auto s = qv.string(key, true);
            if (!s) return false;
            auto m = parse_hhmm(*s);
            if (!m) {
                qv.error(key, "expected a local time as HH:MM (00:00 to 23:59)");
                return false;
            }
            out = *m;
            return true;
        };
        bool from_ok = hhmm("from", qh.from_minute);
        bool to_ok = hhmm("to", qh.to_minute);
        if (from_ok && to_ok && qh.from_minute == qh.to_minute)
            qv.error("to", "'from' and 'to' are the same time: the window would be empty");
        qv.finish();
        c.quiet_hours.push_back(std::move(qh));
    }

    ConfigView retry = root.child("retry");
    auto& r = c.retry;
    set_if(retry.integer("max_attempts", 1, 1000), r.max_attempts);
    auto positive = [&](std::string_view key, Millis& out) {
        if (auto d = retry.duration(key)) {
            if (d->count() <= 0)
                retry.error(key, "must be greater than zero");
            else
                out = *d;
            return true;
        }
        return false;
    };
    positive("initial_delay", r.initial_delay);
    bool max_given = positive("max_delay", r.max_delay);
    positive("give_up_after", r.give_up_after);
    if (r.max_delay < r.initial_delay) {
        if (max_given)
            retry.error("max_delay", "must not be shorter than initial_delay");
        else
            retry.error("initial_delay", "must not be longer than max_delay");
    }
    positive("callback_initial_delay", r.callback_initial_delay);
    bool cb_max_given = positive("callback_max_delay", r.callback_max_delay);
    positive("callback_give_up_after", r.callback_give_up_after);
    if (r.callback_max_delay < r.callback_initial_delay) {
        if (cb_max_given)
            retry.error("callback_max_delay", "must not be shorter than callback_initial_delay");
        else
            retry.error("callback_initial_delay", "must not be longer than callback_max_delay");
    }
    // A queued call-back lives as long as the event's records (queue.dedupe_ttl).
    if (r.callback_give_up_after > c.queue.dedupe_ttl)
        retry.error("callback_give_up_after", "must not be longer than queue.dedupe_ttl");
    retry.finish();

    load_providers(root, c);
    check_routes_served(root, c, diags);
    load_reminders(root, c, diags);
    load_usage(root, c, dir);
}

}  // namespace

const std::vector<std::string>& canonical_statuses() {
    static const std::vector<std::string> statuses = {
        "received", "supplement_requested", "fee_required", "processing", "transferred",
        "paused",   "result_ready",         "returned",     "rejected",   "overdue",
        "cancelled"};
    return statuses;
}

bool is_canonical_status(std::string_view s) {
    const auto& all = canonical_statuses();
    return std::find(all.begin(), all.end(), s) != all.end();
}

std::optional<std::string> Config::canonical_status(std::string_view status) const {
    if (is_canonical_status(status)) return std::string(status);
    auto it = status_aliases.find(std::string(status));
    if (it == status_aliases.end()) return std::nullopt;
    return it->second;
}

namespace {

std::string hhmm(int minute) {
    std::string out = std::to_string(minute / 60 % 24) + ":" + std::to_string(minute % 60);
    if (minute / 60 % 24 < 10) out.insert(0, "0");
    if (minute % 60 < 10) out.insert(out.size() - 1, "0");
    return out;
}

std::string span(int64_t minutes) {
    std::string out;
    if (minutes >= 60) out += std::to_string(minutes / 60) + "h";
    if (minutes % 60 || minutes < 60) out += std::to_string(minutes % 60) + "m";
    return out;
}

}  // namespace

std::vector<std::string> config_warnings(const Config& c) {
    std::vector<std::string> out;
    const int64_t give_up_min = c.retry.give_up_after.count() / 60000;
    for (std::size_t i = 0; i < c.quiet_hours.size(); ++i) {
        const auto& q = c.quiet_hours[i];
        int64_t window = (q.to_minute - q.from_minute + 1440) % 1440;
        // A message held at the window's start waits `window`; the attempt then finds it older
        // than give_up_after and expires it (pipeline/attempt.cpp).
        if (window * 60000 <= c.retry.give_up_after.count()) continue;
        std::string channels;
        for (auto ch : q.channels)
            channels += (channels.empty() ? "" : ", ") + std::string(to_string(ch));
        out.push_back(c.file.string() + ":" + std::to_string(q.line) + ": warning: quiet_hours[" +
                      std::to_string(i) + "]: " + hhmm(q.from_minute) + "-" + hhmm(q.to_minute) +
                      " lasts " + span(window) + ", longer than retry.give_up_after (" +
                      span(give_up_min) + "): every " + channels + " message queued at " +
                      hhmm(q.from_minute) + " expires before " + hhmm(q.to_minute) +
                      " (raise give_up_after above " + span(window) + " or shorten the window)");
    }
    return out;
}

ConfigLoad load_config(const std::filesystem::path& path, bool resolve_secrets) {
    ConfigLoad out;
    out.diagnostics = std::make_shared<Diagnostics>();
    out.diagnostics->placeholders = !resolve_secrets;
    auto& diags = *out.diagnostics;
    const std::string file = path.string();
    try {
        std::ifstream in(path, std::ios::binary);
        std::error_code ec;
        if (!in || fs::is_directory(path, ec)) {
            diags.add(file, 0, "", "cannot read the configuration file");
            return out;
        }
        std::ostringstream text;
        text << in.rdbuf();
        YAML::Node root;
        try {
            root = YAML::Load(text.str());
        } catch (const YAML::Exception& e) {
            if (e.mark.line < 0) {
                diags.add(file, 0, "", e.msg);
            } else {
                auto p = explain_yaml_error(text.str(), e.mark.line + 1, e.mark.column + 1, e.msg);
                diags.add(file, p.line, "", std::move(p.message));
            }
            return out;
        }
        auto config = std::make_unique<Config>();
        fs::path abs = fs::absolute(path, ec);
        config->file = (ec ? path : abs).lexically_normal();
        fs::path dir = config->file.parent_path();
        config->templates_dir = dir / "templates";
        if (!root.IsMap()) {
            diags.add(file, root.IsDefined() && !root.IsNull() ? 1 : 0, "",
                      "the configuration must be a mapping of keys (state_dir, http, ...)");
            out.config = std::move(config);
            return out;
        }
        ConfigView view(root, "", file, out.diagnostics);
        load_rest(view, *config, dir, diags);
        view.finish();
        out.config = std::move(config);
    } catch (const std::exception& e) {
        diags.add(file, 0, "", std::string("cannot load the configuration: ") + e.what());
    }
    return out;
}

}  // namespace tinbao
