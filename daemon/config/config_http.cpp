// The `http` section: the internal and the public listener with their TLS, connection limits,
// the /metrics token, and the API clients with their rights, rates and signatures.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "common/encoding.hpp"
#include "daemon/config/config_parts.hpp"

namespace tinbao {

const std::vector<std::string>& all_scopes() {
    static const std::vector<std::string> kAll{scope::events_write, scope::events_read,
                                               scope::events_read_all, scope::admin};
    return kAll;
}

const std::vector<std::string>& callback_kinds() {
    static const std::vector<std::string> kKinds{
        "message.sent",  "message.delivered", "message.failed",  "message.expired",
        "event.settled", "feedback.received", "inbound.received"};
    return kKinds;
}

namespace config_parts {

namespace {

bool is_pem(std::string_view s) { return s.find("-----BEGIN ") != std::string_view::npos; }

// cert/key/client_ca: PEM text (${file:...}) or a file's path (a systemd credential:
// ${CREDENTIALS_DIRECTORY}/tls.crt). A path must be readable now; it is read again on reload.
void load_tls(ConfigView& parent, TlsSettings& tls) {
    ConfigView v = parent.child("tls");
    if (!v.node().IsMap()) return;
    auto read = [&](std::string_view key, std::string& out) {
        auto value = v.string(key);
        if (!value) return;
        if (!is_pem(*value)) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(*value, ec)) {
                v.error(key, "neither PEM text nor a readable file: " + *value);
                return;
            }
        }
        out = std::move(*value);
    };
    read("cert", tls.cert);
    read("key", tls.key);
    read("client_ca", tls.client_ca);
    if (tls.cert.empty() != tls.key.empty())
        v.error(tls.cert.empty() ? "cert" : "key", "cert and key go together");
    if (!tls.client_ca.empty() && tls.cert.empty())
        v.error("client_ca", "client certificates need TLS: give cert and key");
    v.finish();
}

std::string lower_hex_fingerprint(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == ':') continue;  // "AB:CD:..." as `openssl x509 -fingerprint` prints it
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (out.size() != 64 || !std::all_of(out.begin(), out.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
        }))
        return {};
    return out;
}

// A Standard Webhooks signing secret: "whsec_" + base64 of 24 to 64 bytes
// (https://www.standardwebhooks.com/: the key is the decoded bytes).
bool valid_webhook_secret(std::string_view s) {
    constexpr std::string_view kPrefix = "whsec_";
    if (s.substr(0, kPrefix.size()) != kPrefix) return false;
    auto key = base64_decode(s.substr(kPrefix.size()));
    return key && key->size() >= 24 && key->size() <= 64;
}

void load_callbacks(ConfigView& cv, ApiClient& client) {
    ConfigView v = cv.child("callbacks");
    if (!v.node().IsMap()) return;
    CallbackEndpoint cb;
    if (auto url = v.string("url", true)) {
        if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0)
            v.error("url", "must start with http:// or https://");
        else
            cb.url = *url;
    }
    const std::string kSecretForm =
        "must be a Standard Webhooks secret: whsec_ followed by the base64 of 24 to 64 random "
        "bytes (e.g. echo whsec_$(openssl rand -base64 32))";
    if (auto secret = v.string("secret", true)) {
        if (!valid_webhook_secret(*secret))
            v.error("secret", kSecretForm);
        else
            cb.secrets.push_back(*secret);
    }
    if (auto previous = v.string("previous_secret")) {
        if (!valid_webhook_secret(*previous))
            v.error("previous_secret", kSecretForm);
        else
            cb.secrets.push_back(*previous);
    }
    if (auto kinds = v.string_list("kinds")) {
        const auto& all = callback_kinds();
        for (auto& k : *kinds) {
            if (std::find(all.begin(), all.end(), k) == all.end())
                v.error("kinds", "unknown kind '" + k +
                                     "' (message.sent, message.delivered, message.failed, "
                                     "message.expired, event.settled, feedback.received, "
                                     "inbound.received)");
            else if (std::find(cb.kinds.begin(), cb.kinds.end(), k) == cb.kinds.end())
                cb.kinds.push_back(k);
        }
        if (kinds->empty()) v.error("kinds", "list at least one kind, or leave kinds out: all");
    }
    set_if(v.integer("max_in_flight", 1, 1000), cb.max_in_flight);
    if (auto d = v.duration("timeout")) {
        if (d->count() <= 0 || d->count() > 300000)
            v.error("timeout", "must be between 1ms and 5m");
        else
            cb.timeout = *d;
    }
    // A call-back carries every event's changes: only a client that may read them all.
    if (!client.has_scope(scope::events_read_all))
        v.error("url",
                "call-backs report every event's messages: the client needs the scope "
                "events:read:all");
    v.finish();
    client.callbacks = std::move(cb);
}

void load_client(ConfigView& cv, ApiClient& client, std::set<std::string>& names,
                 std::vector<std::pair<std::string, std::string>>& tokens) {
    set_if(cv.string("name", true), client.name);
    if (!client.name.empty() && !names.insert(client.name).second)
        cv.error("name", "client name '" + client.name + "' is used twice");
    if (auto token = cv.string("token", true)) {
        if (token->size() < 16) {
            cv.error("token", "a token must be at least 16 characters long");
        } else {
            for (const auto& [t, owner] : tokens)
                if (t == *token)
                    cv.error("token", "the same token is already used by client '" + owner + "'");
            tokens.emplace_back(*token, client.name);
            client.token = std::move(*token);
        }
    }
    set_if(cv.string("hmac_secret"), client.hmac_secret);
    if (auto v = one_of(cv, "signature", {"v1", "v2"})) {
        client.signature_version = *v == "v2" ? 2 : 1;
        if (client.hmac_secret.empty()) cv.error("signature", "a signature needs an hmac_secret");
    }
    if (auto scopes = cv.string_list("scopes")) {
        client.scopes.clear();
        for (auto& s : *scopes) {
            const auto& all = all_scopes();
            if (std::find(all.begin(), all.end(), s) == all.end())
                cv.error("scopes", "unknown scope '" + s +
                                       "' (events:write, events:read, events:read:all, admin)");
            else
                client.scopes.push_back(s);
        }
    }
    set_if(cv.number("rate_per_second", 0, 1e6), client.rate_per_second);
    set_if(cv.number("burst", 0, 1e6), client.burst);
    if (client.burst > 0 && client.rate_per_second == 0)
        cv.error("burst", "a burst needs a rate_per_second");
    if (auto pins = cv.string_list("client_cert_sha256")) {
        for (auto& p : *pins) {
            std::string hex = lower_hex_fingerprint(p);
            if (hex.empty())
                cv.error("client_cert_sha256",
                         "expected SHA-256 fingerprints: 64 hex digits (colons allowed)");
            else
                client.client_cert_sha256.push_back(hex);
        }
    }
    load_callbacks(cv, client);
    cv.finish();
}

}  // namespace

void load_http(ConfigView& root, Config& c, Diagnostics& diags) {
    ConfigView http = root.child("http");
    auto& h = c.http;
    if (auto listen = http.string("listen")) {
        if (auto err = parse_host_port(*listen, h.listen_host, h.listen_port); !err.empty())
            http.error("listen", err);
    }
    load_tls(http, h.tls);
    ConfigView pub = http.child("public");
    if (pub.node().IsMap()) {
        ListenerSettings l;
        if (auto listen = pub.string("listen", true)) {
            if (auto err = parse_host_port(*listen, l.host, l.port); !err.empty())
                pub.error("listen", err);
            else if (l.host == h.listen_host && l.port == h.listen_port && l.port != 0)
                pub.error("listen", "the public listener needs its own address or port");
        }
        load_tls(pub, l.tls);
        pub.finish();
        h.public_ = std::move(l);
    }
    if (auto token = http.string("metrics_token")) {
        if (token->size() < 16)
            http.error("metrics_token", "a token must be at least 16 characters long");
        else
            h.metrics_token = std::move(*token);
    }
    set_if(http.integer("max_body_bytes", 1024, 1LL << 30), h.max_body_bytes);
    std::set<std::string> names;
    std::vector<std::pair<std::string, std::string>> tokens;  // token -> client name
    auto clients = http.children("clients");
    for (auto& cv : clients) {
        ApiClient client;
        load_client(cv, client, names, tokens);
        h.clients.push_back(std::move(client));
    }
    if (clients.empty()) {
        const std::string msg = "at least one client with a token is required";
        if (http.node().IsMap())
            http.error("clients", msg);
        else
            diags.add(root.file(), root.line(), "http.clients", msg);
    }
    auto positive = [&](std::string_view key, Millis& out) {
        if (auto d = http.duration(key)) {
            if (d->count() <= 0)
                http.error(key, "must be greater than zero");
            else
                out = *d;
        }
    };
    positive("read_timeout", h.read_timeout);
    positive("idle_timeout", h.idle_timeout);
    positive("keepalive_lifetime", h.keepalive_lifetime);
    set_if(http.integer("max_connections", 1, 1000000), h.max_connections);
    set_if(http.integer("max_connections_per_address", 0, 1000000), h.max_connections_per_address);
    set_if(http.integer("max_requests_per_connection", 1, 1LL << 40),
           h.max_requests_per_connection);
    if (auto url = http.string("public_base_url")) {
        if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0)
            http.error("public_base_url", "must start with http:// or https://");
        else
            h.public_base_url = *url;
    }
    http.finish();
}

}  // namespace config_parts
}  // namespace tinbao
