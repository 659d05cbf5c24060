#include "daemon/http/auth.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/crypto.hpp"
#include "common/encoding.hpp"

namespace tinbao::http {

namespace json = boost::json;

namespace {

constexpr const char* kJson = "application/json; charset=utf-8";

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) !=
            std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view s) {
    if (s.empty() || s.size() > 15) return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// 16 to 128 characters of [A-Za-z0-9_-]: room for a UUID or 128 random bits in base64url.
bool valid_nonce(std::string_view n) {
    return n.size() >= 16 && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
           });
}

}  // namespace

Response json_response(int status, const json::value& body) {
    Response r;
    r.status = status;
    r.content_type = kJson;
    r.body = json::serialize(body);
    return r;
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field) {
    json::object err{{"code", code}, {"message", message}};
    if (!field.empty()) err["field"] = field;
    return json_response(status, json::object{{"error", std::move(err)}});
}

Response unauthorized(std::string_view code, std::string_view message) {
    Response r = error_response(401, code, message);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

std::variant<const ApiClient*, Response> identify(const Config& cfg, const Request& req) {
    std::string auth = req.header("authorization");
    std::string_view value = trim(auth);
    if (!iequals_prefix(value, "bearer ")) return unauthorized("unauthorized", "missing token");
    std::string_view token = trim(value.substr(7));
    const ApiClient* client = nullptr;
    // Every client is compared, so the time taken does not tell which one matched.
    for (const ApiClient& c : cfg.http.clients) {
        bool equal = !c.token.empty() && constant_time_equal(token, c.token);
        if (equal && client == nullptr) client = &c;
    }
    if (client == nullptr) return unauthorized("unauthorized", "invalid token");
    if (!client->client_cert_sha256.empty()) {
        const auto& pins = client->client_cert_sha256;
        if (req.peer_cert_sha256.empty() ||
            std::find(pins.begin(), pins.end(), req.peer_cert_sha256) == pins.end())
            return unauthorized("client_certificate_required",
                                "this client must present its TLS client certificate");
    }
    if (client->hmac_secret.empty()) return client;

    std::string ts = req.header("x-tinbao-timestamp");
    std::string sig = req.header("x-tinbao-signature");
    if (ts.empty() || sig.empty())
        return unauthorized("invalid_signature",
                            "X-Tinbao-Timestamp and X-Tinbao-Signature are required");
    auto when = parse_unix_seconds(trim(ts));
    if (!when) return unauthorized("invalid_signature", "X-Tinbao-Timestamp must be unix seconds");
    std::string given = lower(trim(sig));
    const bool v2 = given.rfind("v2=", 0) == 0;
    if (!v2 && client->signature_version == 2)
        return unauthorized("invalid_signature",
                            "this client signs with version 2: X-Tinbao-Signature: v2=<hex>");
    if (v2 && !valid_nonce(trim(req.header("x-tinbao-nonce"))))
        return unauthorized("invalid_signature",
                            "X-Tinbao-Nonce is required: 16 to 128 of A-Z a-z 0-9 - _");
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    if (*when > now + kMaxClockSkewSeconds || *when < now - kMaxClockSkewSeconds)
        return unauthorized("stale_timestamp",
                            "X-Tinbao-Timestamp is more than 300 s away from the server's clock");
    return client;
}

std::string signing_text_v2(std::string_view method, std::string_view target,
                            std::string_view timestamp, std::string_view nonce,
                            std::string_view body) {
    std::string text = "v2\n";
    text += method;
    text += '\n';
    text += target;
    text += '\n';
    text += timestamp;
    text += '\n';
    text += nonce;
    text += '\n';
    text += hex_encode(sha256(body));
    return text;
}

std::optional<Response> verify_signature(const ApiClient& client, const Request& req) {
    if (client.hmac_secret.empty()) return std::nullopt;
    std::string ts(trim(req.header("x-tinbao-timestamp")));
    std::string given = lower(trim(req.header("x-tinbao-signature")));
    std::string expected;
    if (given.rfind("v2=", 0) == 0) {
        std::string nonce(trim(req.header("x-tinbao-nonce")));
        expected =
            "v2=" + hmac_sha256_hex(client.hmac_secret,
                                    signing_text_v2(req.method, req.target, ts, nonce, req.body));
    } else {
        expected = "sha256=" + hmac_sha256_hex(client.hmac_secret, ts + "." + req.body);
    }
    if (!constant_time_equal(given, expected))
        return unauthorized("invalid_signature", "X-Tinbao-Signature does not match");
    return std::nullopt;
}

std::string nonce_key(const ApiClient& client, const Request& req) {
    if (client.hmac_secret.empty()) return {};
    if (lower(trim(req.header("x-tinbao-signature"))).rfind("v2=", 0) != 0) return {};
    // The client's name is length-prefixed: names and nonces cannot run into each other.
    return "nonce:" + std::to_string(client.name.size()) + ":" + client.name + ":" +
           std::string(trim(req.header("x-tinbao-nonce")));
}

std::optional<std::int64_t> RateLimiter::take(const ApiClient& client,
                                              std::chrono::steady_clock::time_point now) {
    if (client.rate_per_second <= 0) return std::nullopt;
    const double capacity = client.burst > 0 ? client.burst : std::max(1.0, client.rate_per_second);
    auto [it, fresh] = buckets_.try_emplace(client.name, Bucket{capacity, now});
    Bucket& b = it->second;
    if (!fresh) {
        double elapsed = std::chrono::duration<double>(now - b.last).count();
        b.tokens = std::min(capacity, b.tokens + elapsed * client.rate_per_second);
        b.last = now;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return std::nullopt;
    }
    double wait = (1 - b.tokens) / client.rate_per_second;
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
}

}  // namespace tinbao::http
