#include "daemon/http/api.hpp"
#include "daemon/http/usage_api.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "common/crypto.hpp"
#include "daemon/http/auth.hpp"
#include "daemon/model/limits.hpp"

namespace tinbao::http {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// The body of the routes that act on records by id (discard, cancel reminders): {"ids": [...]},
// 1 to `max` strings, into `ids`. The error to answer when it is not that.
std::optional<Response> read_ids(const std::string& text, std::size_t max,
                                 std::vector<std::string>& ids) {
    boost::system::error_code ec;
    json::value body = json::parse(text, ec);
    if (ec || !body.is_object())
        return error_response(400, "invalid_json", "expected {\"ids\": [...]}");
    auto* v = body.as_object().if_contains("ids");
    if (!v || !v->is_array() || v->as_array().empty())
        return error_response(400, "invalid_request", "ids must be a non-empty list", "ids");
    if (v->as_array().size() > max)
        return error_response(400, "invalid_request",
                              "at most " + std::to_string(max) + " ids at once", "ids");
    for (auto& id : v->as_array()) {
        if (!id.is_string())
            return error_response(400, "invalid_request", "ids must be strings", "ids");
        ids.emplace_back(id.as_string());
    }
    return std::nullopt;
}

enum class RouteKind {
    none,
    healthz,
    readyz,
    metrics,
    post_event,
    get_event,
    get_message,
    dossier_messages,
    dossier_feedback,
    render,
    callback,
    dead_letters,
    replay,
    discard,
    reminders,
    cancel_reminders,
    webhook_dead,
    webhook_replay,
    usage_report
};

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
    if (is({"v1", "dossiers", "", "feedback"})) return {RouteKind::dossier_feedback, "GET", s[2]};
    if (is({"v1", "callbacks", ""})) return {RouteKind::callback, "GET, POST", s[2]};
    if (is({"v1", "dead-letters"})) return {RouteKind::dead_letters, "GET", {}};
    if (is({"v1", "dead-letters", "replay"})) return {RouteKind::replay, "POST", {}};
    if (is({"v1", "dead-letters", "discard"})) return {RouteKind::discard, "POST", {}};
    if (is({"v1", "reminders"})) return {RouteKind::reminders, "GET", {}};
    if (is({"v1", "reminders", "cancel"})) return {RouteKind::cancel_reminders, "POST", {}};
    // Call-backs to API clients (/v1/callbacks/* are the providers' call-backs to tinbao).
    if (is({"v1", "webhooks", "dead-letters"})) return {RouteKind::webhook_dead, "GET", {}};
    if (is({"v1", "webhooks", "replay"})) return {RouteKind::webhook_replay, "POST", {}};
    if (is({"v1", "reports", "usage"})) return {RouteKind::usage_report, "GET", {}};
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

// The scope a route needs; nullptr: none beyond a valid token.
const char* needed_scope(RouteKind k) {
    switch (k) {
        case RouteKind::post_event:
            return scope::events_write;
        case RouteKind::get_event:
        case RouteKind::get_message:
        case RouteKind::dossier_messages:
        case RouteKind::dossier_feedback:
            return scope::events_read;
        case RouteKind::render:
        case RouteKind::dead_letters:
        case RouteKind::replay:
        case RouteKind::discard:
        case RouteKind::reminders:
        case RouteKind::cancel_reminders:
        case RouteKind::webhook_dead:
        case RouteKind::webhook_replay:
            return scope::admin;
        case RouteKind::usage_report:
            return scope::events_read_all;  // every client's messages, counted
        default:
            return nullptr;
    }
}

Response forbidden(std::string_view missing) {
    Response r = error_response(403, "insufficient_scope",
                                "this client lacks the scope '" + std::string(missing) + "'");
    // The scope by itself too, for programs (RFC 6750 section 3.1 says it the same way).
    json::value body = json::parse(r.body);
    body.as_object()["error"].as_object()["scope"] = missing;
    r.body = json::serialize(body);
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"" +
                                                   std::string(missing) + "\"");
    return r;
}

struct ApiState {
    ApiBackend& backend;
    Listener listener;
    RateLimiter limiter;
};

// Everything decided on the headers alone, in the order that tells a caller the least:
// path, method, token (and certificate, signature headers), scope, rate.
std::optional<Response> admit(ApiState& st, Request& req) {
    Route route = match(req.segments);
    const bool public_path = route.kind == RouteKind::healthz || route.kind == RouteKind::callback;
    if (route.kind == RouteKind::none || (st.listener == Listener::public_ && !public_path))
        return error_response(404, "not_found", "no such path");
    if (route.kind == RouteKind::callback) {
        if (req.method != "GET" && req.method != "POST") {
            Response r = error_response(405, "method_not_allowed", "use GET or POST");
            r.headers.emplace_back("Allow", "GET, POST");
            return r;
        }
        return std::nullopt;  // providers authenticate themselves (signature, shared token)
    }
    const bool get_route = std::string_view(route.allow) == "GET";
    if (req.method != route.allow && !(get_route && req.method == "HEAD")) {
        Response r = error_response(405, "method_not_allowed",
                                    std::string("use ") + route.allow + " for this path");
        r.headers.emplace_back("Allow", get_route ? "GET, HEAD" : route.allow);
        return r;
    }
    if (route.kind == RouteKind::healthz || route.kind == RouteKind::readyz) return std::nullopt;
    std::shared_ptr<const Config> cfg = st.backend.config();
    if (!cfg) return error_response(503, "not_ready", "configuration not loaded");
    if (route.kind == RouteKind::metrics) {
        const std::string& want = cfg->http.metrics_token;
        if (want.empty()) return std::nullopt;
        std::string auth = req.header("authorization");
        if (auth.size() < 7 || !constant_time_equal(auth.substr(7), want) ||
            (auth.compare(0, 7, "Bearer ") != 0 && auth.compare(0, 7, "bearer ") != 0))
            return unauthorized("unauthorized", "/metrics needs http.metrics_token");
        return std::nullopt;
    }
    auto who = identify(*cfg, req);
    if (auto* refused = std::get_if<Response>(&who)) return std::move(*refused);
    const ApiClient& client = *std::get<const ApiClient*>(who);
    req.client = client.name;
    // events:read:all is events:read and more.
    if (const char* s = needed_scope(route.kind);
        s != nullptr && !client.has_scope(s) &&
        !(s == scope::events_read && client.has_scope(scope::events_read_all)))
        return forbidden(s);
    if (auto wait = st.limiter.take(client, std::chrono::steady_clock::now())) {
        Response r =
            error_response(429, "rate_limited", "too many requests from this client; retry later");
        r.headers.emplace_back("Retry-After", std::to_string(*wait));
        return r;
    }
    return std::nullopt;
}

const ApiClient* client_named(const Config& cfg, const std::string& name) {
    for (const ApiClient& c : cfg.http.clients)
        if (c.name == name) return &c;
    return nullptr;
}

// Keeps only the messages of events `client` posted (nullopt: the store cannot be read).
asio::awaitable<std::optional<json::array>> own_messages(ApiBackend& backend,
                                                         const json::array& all,
                                                         const std::string& client) {
    std::map<std::string, bool> owned;
    json::array out;
    for (const auto& m : all) {
        const json::object* o = m.if_object();
        const json::value* ev = o ? o->if_contains("event_id") : nullptr;
        if (ev == nullptr || !ev->is_string()) continue;
        std::string id(ev->as_string());
        auto it = owned.find(id);
        if (it == owned.end()) {
            std::optional<bool> mine = co_await backend.owned_by(id, client);
            if (!mine) co_return std::nullopt;
            it = owned.emplace(id, *mine).first;
        }
        if (it->second) out.push_back(m);
    }
    co_return out;
}

asio::awaitable<Response> serve(ApiState& st, Request& req) {
    ApiBackend& backend = st.backend;
    if (!req.admitted) {
        req.admitted = true;
        if (auto refused = admit(st, req)) co_return std::move(*refused);
    }
    Route route = match(req.segments);
    if (route.kind == RouteKind::callback) {
        CallbackRequest cb;
        cb.method = req.method;
        cb.query = req.query;
        for (auto& [k, v] : req.headers) cb.headers.emplace_back(k, v);
        cb.body = req.body;
        std::optional<Response> answer = co_await backend.callback(route.param, std::move(cb));
        if (!answer) co_return error_response(404, "not_found", "no call-backs for this provider");
        co_return std::move(*answer);
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
    // The client as the config in force names it (a reload may have changed it since Admit).
    const ApiClient* client = client_named(*cfg, req.client);
    if (client == nullptr) co_return unauthorized("unauthorized", "invalid token");
    if (auto denied = verify_signature(*client, req)) co_return std::move(*denied);
    if (std::string key = nonce_key(*client, req); !key.empty()) {
        // Twice the clock window: a timestamp accepted at its earliest stays valid that long.
        auto claim =
            co_await backend.claim_nonce(key, std::chrono::seconds(2 * kMaxClockSkewSeconds + 1));
        if (claim == ApiBackend::Claim::seen)
            co_return unauthorized("replayed", "this X-Tinbao-Nonce was already used");
        if (claim == ApiBackend::Claim::unavailable)
            co_return error_response(503, "queue_unavailable",
                                     "the nonce store cannot be reached; retry later");
    }
    auto canonical = [&cfg](std::string_view s) { return cfg->canonical_status(s); };
    const bool reads_all = client->has_scope(scope::events_read_all);

    switch (route.kind) {
        case RouteKind::post_event: {
            EventParse parsed = parse_event(req.body, canonical);
            if (parsed.error) co_return event_error(*parsed.error);
            const Event& ev = *parsed.event;
            switch (co_await backend.ingest(ev)) {
                case ApiBackend::Ingest::accepted: {
                    spdlog::debug("http: event {} accepted", ev.event_id);
                    if (!reads_all) {
                        // Only after the event is ours: a duplicate id stays its first poster's.
                        bool noted = co_await backend.record_owner(ev.event_id, client->name);
                        if (!noted)
                            spdlog::warn(
                                "http: event {} accepted, but who posted it could not "
                                "be stored: client {} cannot read it",
                                ev.event_id, client->name);
                    }
                    co_return json_response(
                        202, json::object{{"event_id", ev.event_id}, {"state", "accepted"}});
                }
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
            if (!reads_all) {
                std::optional<bool> mine = co_await backend.owned_by(route.param, client->name);
                if (!mine) co_return from_lookup(Lookup{Lookup::Status::unavailable, {}}, "event");
                // Another client's event is not found, rather than forbidden: no probing ids.
                if (!*mine) co_return from_lookup(Lookup{}, "event");
            }
            // Awaited into a name: g++ 12 mishandles `co_return f(co_await ...)`.
            Lookup found = co_await backend.event_record(route.param);
            co_return from_lookup(std::move(found), "event");
        }
        case RouteKind::get_message: {
            Lookup found = co_await backend.message_record(route.param);
            if (!reads_all && found.status == Lookup::Status::found) {
                json::array one{found.value};
                auto mine = co_await own_messages(backend, one, client->name);
                if (!mine)
                    co_return from_lookup(Lookup{Lookup::Status::unavailable, {}}, "message");
                if (mine->empty()) co_return from_lookup(Lookup{}, "message");
            }
            co_return from_lookup(std::move(found), "message");
        }
        case RouteKind::dossier_messages: {
            Lookup found = co_await backend.dossier_messages(route.param);
            if (!reads_all && found.status == Lookup::Status::found && found.value.is_object()) {
                auto* list = found.value.as_object().if_contains("messages");
                if (list != nullptr && list->is_array()) {
                    json::array all = list->as_array();
                    auto mine = co_await own_messages(backend, all, client->name);
                    if (!mine)
                        co_return from_lookup(Lookup{Lookup::Status::unavailable, {}}, "dossier");
                    *list = std::move(*mine);
                }
            }
            co_return from_lookup(std::move(found), "dossier");
        }
        case RouteKind::dossier_feedback: {
            Lookup found = co_await backend.dossier_feedback(route.param);
            if (!reads_all && found.status == Lookup::Status::found && found.value.is_object()) {
                auto* list = found.value.as_object().if_contains("feedback");
                if (list != nullptr && list->is_array()) {
                    json::array all = list->as_array();
                    auto mine = co_await own_messages(backend, all, client->name);
                    if (!mine)
                        co_return from_lookup(Lookup{Lookup::Status::unavailable, {}}, "dossier");
                    *list = std::move(*mine);
                }
            }
            co_return from_lookup(std::move(found), "dossier");
        }
        case RouteKind::usage_report: {
            Response r = co_await usage_report(backend, req.query);
            co_return r;
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
        case RouteKind::webhook_dead: {
            std::string client_name;
            std::size_t limit = 100;
            for (auto& [k, v] : req.query) {
                if (k == "client") client_name = v;
                if (k == "limit")
                    limit = std::clamp<std::size_t>(std::strtoul(v.c_str(), nullptr, 10), 1, 5000);
            }
            Lookup found = co_await backend.callback_dead_letters(client_name, limit);
            co_return from_lookup(std::move(found), "dead call-backs");
        }
        case RouteKind::webhook_replay: {
            boost::system::error_code ec;
            json::value body = json::parse(req.body, ec);
            if (ec || !body.is_object())
                co_return error_response(400, "invalid_json",
                                         "expected {\"ids\": [...]} or {\"client\": \"...\"}");
            std::vector<std::string> ids;
            std::string client_name;
            auto& o = body.as_object();
            if (auto* v = o.if_contains("ids")) {
                if (!v->is_array())
                    co_return error_response(400, "invalid_request", "ids must be a list", "ids");
                for (auto& id : v->as_array()) {
                    if (!id.is_string())
                        co_return error_response(400, "invalid_request", "ids must be strings",
                                                 "ids");
                    ids.emplace_back(id.as_string());
                }
            }
            if (auto* v = o.if_contains("client"); v && v->is_string())
                client_name = v->as_string();
            if (ids.empty() && client_name.empty())
                co_return error_response(400, "invalid_request", "give ids or a client");
            auto replayed = co_await backend.replay_callbacks(std::move(ids), client_name);
            if (!replayed)
                co_return error_response(503, "queue_unavailable",
                                         "the queue cannot be reached; retry later");
            json::array list;
            for (auto& id : *replayed) list.emplace_back(id);
            spdlog::info("http: {} dead call-back(s) replayed by client {}", list.size(),
                         client->name);
            co_return json_response(
                200, json::object{{"replayed", list.size()}, {"ids", std::move(list)}});
        }
        case RouteKind::discard: {
            // By id only: discarding is for good, so no "every one with this reason".
            std::vector<std::string> ids;
            if (auto bad = read_ids(req.body, limits::kDeadLetters, ids)) co_return std::move(*bad);
            auto gone = co_await backend.discard(ids, client->name);
            if (!gone)
                co_return error_response(503, "queue_unavailable",
                                         "the queue cannot be reached; retry later");
            json::array discarded, unknown;
            for (auto& id : ids) {
                bool was = std::find(gone->begin(), gone->end(), id) != gone->end();
                bool listed = std::any_of(discarded.begin(), discarded.end(),
                                          [&](auto& x) { return x.as_string() == id; }) ||
                              std::any_of(unknown.begin(), unknown.end(),
                                          [&](auto& x) { return x.as_string() == id; });
                if (listed) continue;
                (was ? discarded : unknown).emplace_back(id);
            }
            co_return json_response(
                200, json::object{{"discarded", static_cast<std::int64_t>(discarded.size())},
                                  {"ids", std::move(discarded)},
                                  {"unknown", std::move(unknown)}});
        }
        case RouteKind::reminders: {
            std::string dossier;
            std::size_t limit = 100;
            for (auto& [k, v] : req.query) {
                if (k == "dossier") dossier = v;
                if (k == "limit")
                    limit = std::clamp<std::size_t>(std::strtoul(v.c_str(), nullptr, 10), 1,
                                                    limits::kDeadLetters);
            }
            Lookup found = co_await backend.reminders(dossier, limit);
            co_return from_lookup(std::move(found), "reminders");
        }
        case RouteKind::cancel_reminders: {
            std::vector<std::string> ids;
            if (auto bad = read_ids(req.body, limits::kDossierMessages, ids))
                co_return std::move(*bad);
            auto done = co_await backend.cancel_reminders(ids, client->name);
            if (!done)
                co_return error_response(503, "queue_unavailable",
                                         "the queue cannot be reached; retry later");
            json::array cancelled, unknown;
            for (auto& id : ids) {
                bool was = std::find(done->begin(), done->end(), id) != done->end();
                auto& into = was ? cancelled : unknown;
                if (std::none_of(into.begin(), into.end(),
                                 [&](auto& x) { return x.as_string() == id; }))
                    into.emplace_back(id);
            }
            co_return json_response(
                200, json::object{{"cancelled", static_cast<std::int64_t>(cancelled.size())},
                                  {"ids", std::move(cancelled)},
                                  {"unknown", std::move(unknown)}});
        }
        default:
            break;
    }
    co_return error_response(404, "not_found", "no such path");
}

}  // namespace

asio::awaitable<ApiBackend::Claim> ApiBackend::claim_nonce(std::string key,
                                                           std::chrono::seconds ttl) {
    auto now = std::chrono::steady_clock::now();
    std::erase_if(nonces_, [now](const auto& kv) { return kv.second <= now; });
    bool fresh = nonces_.emplace(std::move(key), now + ttl).second;
    co_return fresh ? Claim::fresh : Claim::seen;
}

asio::awaitable<bool> ApiBackend::record_owner(std::string event_id, std::string client) {
    owners_[client + '\n' + event_id];
    co_return true;
}

asio::awaitable<std::optional<bool>> ApiBackend::owned_by(std::string event_id,
                                                          std::string client) {
    co_return owners_.count(client + '\n' + event_id) != 0;
}

Service make_api(ApiBackend& backend, Listener listener) {
    auto st = std::make_shared<ApiState>(ApiState{backend, listener, {}});
    Service s;
    s.admit = [st](Request& req) { return admit(*st, req); };
    s.handler = [st](Request& req) -> asio::awaitable<Response> { return serve(*st, req); };
    return s;
}

Handler make_api_handler(ApiBackend& backend) { return make_api(backend).handler; }

}  // namespace tinbao::http
