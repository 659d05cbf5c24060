// The configuration model (docs/configuration.md) and its loader.
//
// load_config() reads the YAML file, validates every key (errors name file:line and the key
// path), rejects unknown keys, expands ${ENV} and ${file:PATH}, and fills Config. Provider
// adapters' own keys are validated later by their factories (app.cpp), from `providers[i].view`.
// A Config is immutable once loaded; a reload builds a new one.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "providers/config_view.hpp"
#include "providers/provider.hpp"

namespace tinbao {

using Millis = std::chrono::milliseconds;

struct LogSettings {
    std::string level = "info";   // trace | debug | info | warn | error
    std::string format = "text";  // text | json
};

// What a client may do (docs/api.md). A client without `scopes` has them all, as before
// scopes existed.
namespace scope {
inline constexpr const char* events_write = "events:write";
inline constexpr const char* events_read = "events:read";
inline constexpr const char* events_read_all = "events:read:all";  // others' events too
inline constexpr const char* admin = "admin";                      // dead letters, replay, render
}  // namespace scope
const std::vector<std::string>& all_scopes();

// The call-kinds a client may ask for (docs/callbacks.md).
const std::vector<std::string>& callback_kinds();

// Where tinbao POSTs this client's call-backs (docs/callbacks.md): signed like Standard Webhooks.
struct CallbackEndpoint {
    std::string url;
    // Signing secrets, "whsec_" + base64 of 24 to 64 random bytes (the Standard Webhooks form):
    // the current one first; during a rotation the previous one too, and both sign.
    std::vector<std::string> secrets;
    std::vector<std::string> kinds;  // empty: every kind
    std::size_t max_in_flight = 8;   // call-backs of this client in flight at once
    Millis timeout{10000};           // for one POST, connection included
    bool wants(std::string_view kind) const {
        if (kinds.empty()) return true;
        for (const auto& k : kinds)
            if (k == kind) return true;
        return false;
    }
};

struct ApiClient {
    std::string name;
    std::string token;
    std::string hmac_secret;  // empty: no signature required
    // With an hmac_secret: 1 accepts the version 1 signature and version 2, 2 only version 2.
    int signature_version = 1;
    std::vector<std::string> scopes = all_scopes();
    double rate_per_second = 0;  // 0: no limit
    double burst = 0;            // the bucket's size (0: max(1, rate_per_second))
    // SHA-256 fingerprints (lower-case hex) of the TLS client certificates this client must
    // present; empty: none required.
    std::vector<std::string> client_cert_sha256;
    std::optional<CallbackEndpoint> callbacks;  // none: no call-backs

    bool has_scope(std::string_view s) const {
        for (const auto& x : scopes)
            if (x == s) return true;
        return false;
    }
};

// A listener's TLS: certificate chain and key (PEM text or a file's path, read at start and on
// every reload), and the CAs that client certificates must chain to (optional).
struct TlsSettings {
    std::string cert;
    std::string key;
    std::string client_ca;
    bool enabled() const { return !cert.empty(); }
};

struct ListenerSettings {
    std::string host;
    uint16_t port = 0;
    TlsSettings tls;
};

struct HttpSettings {
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 8080;
    TlsSettings tls;                          // the internal listener's
    std::optional<ListenerSettings> public_;  // the call-backs' listener, when there is one
    std::string metrics_token;                // empty: /metrics needs no token
    std::size_t max_body_bytes = 65536;
    std::vector<ApiClient> clients;
    Millis read_timeout{10000};     // to read a whole request once it started
    Millis idle_timeout{60000};     // keep-alive connection with no request
    std::size_t max_connections = 10000;
    std::size_t max_connections_per_address = 256;  // 0: no limit
    Millis keepalive_lifetime{600000};
    std::size_t max_requests_per_connection = 1000;
    std::string public_base_url;    // how providers reach /v1/callbacks (optional)
};

struct RedisSettings {
    std::string url = "redis://127.0.0.1:6379/0";
    std::string host = "127.0.0.1";
    uint16_t port = 6379;
    std::string password;   // never logged
    std::string username;
    int db = 0;
    bool tls = false;
    std::string prefix = "tinbao";
    Millis command_timeout{5000};
    // Redis Sentinel (docs/redis.md): the master named `master_name`, as the sentinels say, in
    // place of the url's host and port (its user, password and db still apply to the master).
    struct Address {
        std::string host;
        uint16_t port = 26379;
    };
    std::vector<Address> sentinels;
    std::string master_name;
    std::string sentinel_password;  // never logged
    // An accepted event is answered 202 only once this many replicas have it (WAIT); 0: once the
    // master has it (replication is asynchronous: a failover can lose the last writes).
    int min_replicas = 0;
    Millis min_replicas_timeout{1000};
};

struct QueueSettings {
    std::string backend = "redis";   // redis | sqlite
    RedisSettings redis;
    Millis dedupe_ttl{7LL * 24 * 3600 * 1000};
    std::string consumer;            // consumer name in the group; default: hostname-pid-free id
    int batch = 256;                 // stream entries read at once
    Millis claim_idle{60000};        // entries idle this long in a dead consumer are taken over
    Millis retention{0};             // records older than this are purged (0: dedupe_ttl)
    // The status stream (redis only): every call-back document also XADDed to {prefix}:status,
    // trimmed (approximately) to `max_len` entries and, when set, to `max_age`.
    bool status_stream = false;
    int64_t status_stream_max_len = 100000;
    Millis status_stream_max_age{0};
};

struct Route {
    std::vector<std::string> statuses;  // canonical
    std::vector<Channel> channels;
    enum class Mode { fallback, all } mode = Mode::fallback;
    int line = 0;
};

struct SmsSettings {
    enum class Unicode { auto_, never, always } unicode = Unicode::auto_;
    int max_segments = 3;
};

struct QuietHours {
    std::vector<Channel> channels;
    int from_minute = 0;  // minutes after local midnight, Asia/Ho_Chi_Minh
    int to_minute = 0;
    int line = 0;  // in the config file
};

// A rule of `reminders:` (docs/configuration.md): a later notice scheduled by an event of
// `status`, with its own template (templates/reminders/<name>.yaml).
struct ReminderRule {
    std::string name;    // a-z, 0-9, '_'; names the template and goes into the reminder's id
    std::string status;  // canonical: the status that schedules it
    // Due `before_appointment` local days before the day of dossier.appointment_at (> 0), or
    // `after` the event; at the local time `at_minute` when set (required with the first).
    int before_appointment = 0;
    Millis after{0};
    std::optional<int> at_minute;  // minutes after local midnight, Asia/Ho_Chi_Minh
    int repeat = 1;                // sent at most this many times, `after` apart
    // In order: the first the applicant has an address for, then the next ones on failure
    // (fallback); the route of `status` when not given.
    std::vector<Channel> channels;
    // Statuses of the dossier that make it moot; empty: the final ones (returned, rejected,
    // cancelled).
    std::vector<std::string> cancel_on;
    int line = 0;

    bool cancelled_by(std::string_view later_status) const;
};

struct RetrySettings {
    int max_attempts = 6;
    Millis initial_delay{2000};
    Millis max_delay{600000};
    Millis give_up_after{24LL * 3600 * 1000};
    // Call-backs to API clients: retried with backoff and jitter from the initial to the
    // maximum delay (a Retry-After within it honoured) until callback_give_up_after, then kept
    // as dead letters.
    Millis callback_initial_delay{5000};
    Millis callback_max_delay{3600000};
    Millis callback_give_up_after{24LL * 3600 * 1000};
};

// The code every event of an agency that `agencies` does not list is counted under.
inline constexpr std::string_view kOtherAgency = "other";

// One department of the centre (`agencies`, docs/usage.md): its messages carry its code in their
// records, metrics and reports; it may send SMS under its own sender, word a status its own way,
// and have a monthly budget.
struct Agency {
    std::string code;  // as the events carry it in dossier.agency.code, e.g. "000.00.12.H62"
    std::string name;  // display name
    // SMS provider name -> the sender (brandname, label) this agency's SMS go out under there;
    // a provider not listed uses its own configured one.
    std::map<std::string, std::string, std::less<>> sms_sender;
    // A folder of templates overlaying templates.dir: a status with a file here is worded by
    // it, the others by the shared one. Absolute; empty: none.
    std::filesystem::path templates_dir;
    // Per calendar month (local time), 0: no limit. SMS are refused once either is reached.
    int64_t budget_dong = 0;
    int64_t budget_segments = 0;
    int line = 0;

    bool has_budget() const { return budget_dong > 0 || budget_segments > 0; }
};

// One row of the price table (`prices`): what a message costs through a provider, or through
// any provider of a channel, in whole đồng, per message or per SMS segment; SMS may cost
// differently per carrier (daemon/render/phone.hpp: telco_of).
struct Price {
    std::string provider;            // set: this provider's price
    std::optional<Channel> channel;  // else: any provider of this channel without its own row
    enum class Per { message, segment } per = Per::message;
    int64_t dong = 0;                                    // the price when no telco matches
    std::map<std::string, int64_t, std::less<>> telcos;  // telco -> price (SMS)
    int line = 0;
};

struct ProviderConfig {
    ProviderSettings settings;
    // The provider's mapping, with the common keys already accepted: the factory reads the rest
    // and calls finish(). Shares the loader's Diagnostics.
    std::shared_ptr<ConfigView> view;
};

struct Config {
    std::filesystem::path file;          // absolute path of the config file
    std::filesystem::path state_dir = "/var/lib/tinbao";
    Millis shutdown_grace{10000};
    LogSettings log;
    HttpSettings http;
    QueueSettings queue;
    std::filesystem::path templates_dir;  // absolute (relative ones resolved from the file's folder)
    std::map<std::string, std::string> status_aliases;  // alias -> canonical
    std::vector<Route> routes;
    SmsSettings sms;
    std::vector<QuietHours> quiet_hours;
    RetrySettings retry;
    // A status superseded within this window by a newer event of the same dossier is not sent
    // (0: every status is sent). Every first attempt waits this long.
    Millis coalesce_window{0};
    std::vector<ProviderConfig> providers;
    std::vector<ReminderRule> reminders;  // config `reminders:`, in file order
    const ReminderRule* reminder(std::string_view name) const;  // by name; null when none

    std::vector<Agency> agencies;  // in config order, codes unique
    std::vector<Price> prices;

    // The agency of a code; nullptr for one not listed (it counts as kOtherAgency).
    const Agency* agency(std::string_view code) const;
    // The code a message is recorded and counted under: the configured code, or "other".
    std::string agency_label(std::string_view code) const;
    // The price row for a provider (its own, else its channel's); nullptr when unpriced.
    const Price* price_of(std::string_view provider, Channel channel) const;
    // What one message accepted by `provider` costs, in đồng: the carrier's price when the row
    // has one for `telco`, else the row's; times `segments` for a per-segment price (an SMS
    // counts at least one). 0 when unpriced.
    int64_t cost_of(std::string_view provider, Channel channel, std::string_view telco,
                    int segments) const;

    // Canonical status for a status or alias; nullopt when neither.
    std::optional<std::string> canonical_status(std::string_view status) const;
};

// The canonical statuses (docs/api.md).
const std::vector<std::string>& canonical_statuses();
bool is_canonical_status(std::string_view s);

struct ConfigLoad {
    // Null only when the file could not be read or parsed as YAML. Otherwise filled as far as
    // possible; the config is valid only when `diagnostics` is empty (after the provider
    // factories, which add their own, have run).
    std::unique_ptr<Config> config;
    std::shared_ptr<Diagnostics> diagnostics;
};

// Loads and validates `path`. Never throws; every problem is a Diagnostic. Without
// `resolve_secrets` (tools that send nothing), an unset `${NAME}` or unreadable `${file:...}`
// is a placeholder, not a problem (Diagnostics::placeholders).
ConfigLoad load_config(const std::filesystem::path& path, bool resolve_secrets = true);

// Settings that are valid but work against each other (for `tinbaod --check`): a quiet-hours
// window longer than retry.give_up_after expires every message held at its start. Each is
// "file:line: warning: ...".
std::vector<std::string> config_warnings(const Config& c);

}  // namespace tinbao
