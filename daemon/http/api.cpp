#include "daemon/http/api.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "common/crypto.hpp"

namespace tinbao::http {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::int64_t kMaxClockSkewSeconds = 300;
constexpr const char* kJson = "application/json; charset=utf-8";

Response json_response(int status, const json::value& body) {
    Response r;
    r.status = status;
    r.content_type = kJson;
    r.body = json::serialize(body);
    return r;
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {}) {
    json::object err{{"code", code}, {"message", message}};
    if (!field.empty()) err["field"] = field;
    return json_response(status, json::object{{"error", std::move(err)}});
}

Response unauthorized(std::string_view code, std::string_view message) {
    Response r = error_response(401, code, message);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

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

// Bearer token of a configured client, then, for a client with an hmac_secret, the signature
// over "<timestamp>.<raw body>". nullopt: authenticated.
std::optional<Response> authenticate(const Config& cfg, const Request& req) {
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
    if (client->hmac_secret.empty()) return std::nullopt;

    std::string ts = req.header("x-tinbao-timestamp");
    std::string sig = req.header("x-tinbao-signature");
    if (ts.empty() || sig.empty())
        return unauthorized("invalid_signature",
                            "X-Tinbao-Timestamp and X-Tinbao-Signature are required");
    auto when = parse_unix_seconds(trim(ts));
    if (!when) return unauthorized("invalid_signature", "X-Tinbao-Timestamp must be unix seconds");
    std::string payload = std::string(trim(ts));
    payload += '.';
    payload += req.body;
    std::string expected = "sha256=" + hmac_sha256_hex(client->hmac_secret, payload);
    std::string given(trim(sig));
    for (char& c : given) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!constant_time_equal(given, expected))
        return unauthorized("invalid_signature", "X-Tinbao-Signature does not match");
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    if (*when > now + kMaxClockSkewSeconds || *when < now - kMaxClockSkewSeconds)
        return unauthorized("stale_timestamp",
                            "X-Tinbao-Timestamp is more than 300 s away from the server's clock");
    return std::nullopt;
}

enum class RouteKind { none, healthz, readyz, metrics, post_event, get_event, get_message,
                       dossier_messages, render, callback, dead_letters, replay };

struct Route {
    RouteKind kind = RouteKind::none;
    const char* allow = "";     // the method the route takes
    std::string param;          // the path parameter, percent-decoded
};

Route match(const std::vector<std::string>& s) {
    auto is = [&](std::initializer_list<std::string_view> want) {
        if (s.size() != want.size()) return false;
        std::size_t i = 0;
        for (std::string_view w : want) {
            if (!w.empty() && s[i] != w) return false;
            if (w.empty() && s[i].empty()) return false;  // "" stands for a parameter
            ++i;
        }
        return true;
    };
    if (is({"healthz"})) return {RouteKind::healthz, "GET", {}};
    if (is({"readyz"})) return {RouteKind::readyz, "GET", {}};
    if (is({"metrics"})) return {RouteKind::metrics, "GET", {}};
    if (is({"v1", "events"})) return {RouteKind::post_event, "POST", {}};
    if (is({"v1", "render"})) return {RouteKind::render, "POST", {}};
    if (is({"v1", "events", ""})) return {RouteKind::get_event, "GET", s[2]};
    if (is({"v1", "messages", ""})) return {RouteKind::get_message, "GET", s[2]};
    if (is({"v1", "dossiers", "", "messages"})) return {RouteKind::dossier_messages, "GET", s[2]};
    if (is({"v1", "callbacks", ""})) return {RouteKind::callback, "GET, POST", s[2]};
    if (is({"v1", "dead-letters"})) return {RouteKind::dead_letters, "GET", {}};
    if (is({"v1", "dead-letters", "replay"})) return {RouteKind::replay, "POST", {}};
    return {};
}

Response from_lookup(const Lookup& l, std::string_view what) {
    switch (l.status) {
        case Lookup::Status::found:
            return json_response(200, l.value);
        case Lookup::Status::not_found:
            return error_response(404, "not_found", std::string("no such ") + std::string(what));
        case Lookup::Status::unavailable:
            break;
    }
    return error_response(503, "queue_unavailable", "the queue cannot be reached; retry later");
}

Response event_error(const EventError& e) {
    return error_response(400, e.code, e.message, e.field);
}

asio::awaitable<Response> serve(ApiBackend& backend, Request& req) {
    Route route = match(req.segments);
    if (route.kind == RouteKind::none) co_return error_response(404, "not_found", "no such path");
    if (route.kind == RouteKind::callback) {
        // Providers authenticate themselves (signature, shared token): no bearer token here.
        if (req.method != "GET" && req.method != "POST") {
            Response r = error_response(405, "method_not_allowed", "use GET or POST");
            r.headers.emplace_back("Allow", "GET, POST");
            co_return r;
        }
        CallbackRequest cb;
        cb.method = req.method;
        cb.query = req.query;
        for (auto& [k, v] : req.headers) cb.headers.emplace_back(k, v);
        cb.body = req.body;
        std::optional<Response> answer = co_await backend.callback(route.param, std::move(cb));
        if (!answer) co_return error_response(404, "not_found", "no call-backs for this provider");
        co_return std::move(*answer);
    }
    const bool get_route = std::string_view(route.allow) == "GET";
    if (req.method != route.allow && !(get_route && req.method == "HEAD")) {
        Response r = error_response(405, "method_not_allowed",
                                    std::string("use ") + route.allow + " for this path");
        r.headers.emplace_back("Allow", get_route ? "GET, HEAD" : route.allow);
        co_return r;
    }

    switch (route.kind) {
        case RouteKind::healthz:
            co_return json_response(200, json::object{{"status", "ok"}});
        case RouteKind::readyz: {
            // Ready means the queue takes events; a provider's problem is reported, not fatal
            // (its channel falls back or retries), so operators see it here and in /metrics.
            bool ok = backend.ready();
            json::object body{{"status", ok ? "ready" : "not_ready"}};
            auto detail = backend.readiness_detail();
            if (!detail.empty()) body["providers"] = std::move(detail);
            co_return json_response(ok ? 200 : 503, body);
        }
        case RouteKind::metrics: {
            Response r;
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = backend.metrics_text();
            co_return r;
        }
        default:
            break;
    }

    std::shared_ptr<const Config> cfg = backend.config();
    if (!cfg) co_return error_response(503, "not_ready", "configuration not loaded");
    if (auto denied = authenticate(*cfg, req)) co_return std::move(*denied);
    auto canonical = [&cfg](std::string_view s) { return cfg->canonical_status(s); };

    switch (route.kind) {
        case RouteKind::post_event: {
            EventParse parsed = parse_event(req.body, canonical);
            if (parsed.error) co_return event_error(*parsed.error);
            const Event& ev = *parsed.event;
            switch (co_await backend.ingest(ev)) {
                case ApiBackend::Ingest::accepted:
                    spdlog::debug("http: event {} accepted", ev.event_id);
                    co_return json_response(
                        202, json::object{{"event_id", ev.event_id}, {"state", "accepted"}});
                case ApiBackend::Ingest::duplicate:
                    co_return json_response(
                        200, json::object{{"event_id", ev.event_id}, {"state", "duplicate"}});
                case ApiBackend::Ingest::unavailable:
                    break;
            }
            spdlog::warn("http: event {} refused: queue unavailable", ev.event_id);
            co_return error_response(503, "queue_unavailable",
                                     "the event could not be queued durably; retry later");
        }
        case RouteKind::render: {
            EventParse parsed = parse_event(req.body, canonical);
            if (parsed.error) co_return event_error(*parsed.error);
            co_return json_response(200, backend.render_preview(*parsed.event));
        }
        case RouteKind::get_event: {
            // Awaited into a name: g++ 12 mishandles `co_return f(co_await ...)`.
            Lookup found = co_await backend.event_record(route.param);
            co_return from_lookup(std::move(found), "event");
        }
        case RouteKind::get_message: {
            Lookup found = co_await backend.message_record(route.param);
            co_return from_lookup(std::move(found), "message");
        }
        case RouteKind::dossier_messages: {
            Lookup found = co_await backend.dossier_messages(route.param);
            co_return from_lookup(std::move(found), "dossier");
        }
        case RouteKind::dead_letters: {
            std::string reason;
            std::size_t limit = 100;
            for (auto& [k, v] : req.query) {
                if (k == "reason") reason = v;
                if (k == "limit") limit = std::clamp<std::size_t>(std::strtoul(v.c_str(), nullptr, 10), 1, 5000);
            }
            Lookup found = co_await backend.dead_letters(reason, limit);
            co_return from_lookup(std::move(found), "dead letters");
        }
        case RouteKind::replay: {
            boost::system::error_code ec;
            json::value body = json::parse(req.body, ec);
            if (ec || !body.is_object())
                co_return error_response(400, "invalid_json", "expected {\"ids\": [...]} or {\"reason\": \"...\"}");
            std::vector<std::string> ids;
            std::string reason;
            auto& o = body.as_object();
            if (auto* v = o.if_contains("ids")) {
                if (!v->is_array())
                    co_return error_response(400, "invalid_request", "ids must be a list", "ids");
                for (auto& id : v->as_array()) {
                    if (!id.is_string())
                        co_return error_response(400, "invalid_request", "ids must be strings", "ids");
                    ids.emplace_back(id.as_string());
                }
            }
            if (auto* v = o.if_contains("reason"); v && v->is_string()) reason = v->as_string();
            if (ids.empty() && reason.empty())
                co_return error_response(400, "invalid_request", "give ids or a reason");
            std::optional<int> n = co_await backend.replay(std::move(ids), std::move(reason));
            if (!n) co_return error_response(503, "queue_unavailable", "the queue cannot be reached; retry later");
            co_return json_response(200, json::object{{"replayed", *n}});
        }
        default:
            break;
    }
    co_return error_response(404, "not_found", "no such path");
}

}  // namespace

Handler make_api_handler(ApiBackend& backend) {
    return [&backend](Request& req) -> asio::awaitable<Response> {
        return serve(backend, req);
    };
}

}  // namespace tinbao::http
