// The HTTP API (docs/api.md): authentication (bearer token, optional HMAC signature of version
// 1 or 2, optional TLS client certificate), each client's rights (scopes, its own events) and
// request rate, event validation, and the routes, in front of an ApiBackend that queues events
// and reads records. Everything that needs no body (token, rights, rate, signature headers) is
// decided in the Admit step, before the body is read.
//
// Threading: runs on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config/config.hpp"
#include "daemon/http/server.hpp"
#include "daemon/pipeline/event.hpp"
#include "daemon/queue/queue.hpp"
#include "providers/provider.hpp"

namespace tinbao::http {

struct Lookup {
    enum class Status { found, not_found, unavailable } status = Status::not_found;
    boost::json::value value;
};

class ApiBackend {
public:
    virtual ~ApiBackend() = default;
    enum class Ingest { accepted, duplicate, unavailable };
    // Queues a validated event durably. `accepted` only once the queue acknowledged the write.
    virtual boost::asio::awaitable<Ingest> ingest(const Event& event) = 0;
    virtual boost::asio::awaitable<Lookup> event_record(std::string event_id) = 0;
    virtual boost::asio::awaitable<Lookup> message_record(std::string message_id) = 0;
    // {"messages": [...]} newest first.
    virtual boost::asio::awaitable<Lookup> dossier_messages(std::string dossier_code) = 0;
    // {"feedback": [...]}: citizens' feedback on the dossier's messages, newest first.
    virtual boost::asio::awaitable<Lookup> dossier_feedback(std::string dossier_code) {
        (void)dossier_code;
        co_return Lookup{Lookup::Status::unavailable, {}};
    }
    // The rendered messages for an event, without sending (POST /v1/render).
    virtual boost::json::value render_preview(const Event& event) = 0;
    // True when the queue is reachable and the config loaded.
    virtual bool ready() const = 0;
    // Details for /readyz: providers that report a problem (a failing token refresh), by name.
    virtual boost::json::object readiness_detail() const { return {}; }
    // Prometheus text exposition.
    virtual std::string metrics_text() = 0;
    // A provider's call-back (/v1/callbacks/{provider}, GET or POST, no bearer token: the
    // provider proves itself). nullopt: no such provider, or it takes no call-backs (404).
    virtual boost::asio::awaitable<std::optional<Response>> callback(std::string provider,
                                                                     CallbackRequest request) {
        (void)provider;
        (void)request;
        co_return std::nullopt;
    }
    // Dead letters, newest first, optionally only those failed for `reason`.
    virtual boost::asio::awaitable<Lookup> dead_letters(std::string reason, std::size_t limit) {
        (void)reason;
        (void)limit;
        co_return Lookup{Lookup::Status::unavailable, {}};
    }
    // Replays dead letters (by id, or all with `reason`): the number replayed; nullopt when the
    // queue cannot be reached.
    virtual boost::asio::awaitable<std::optional<int>> replay(std::vector<std::string> ids,
                                                             std::string reason) {
        (void)ids;
        (void)reason;
        co_return std::nullopt;
    }
    // Discards dead letters by id, for good (their records stay as they ended): the ids that
    // were dead letters; nullopt when the queue cannot be reached. `client` asked, for the log.
    virtual boost::asio::awaitable<std::optional<std::vector<std::string>>> discard(
        std::vector<std::string> ids, std::string client) {
        (void)ids;
        (void)client;
        co_return std::nullopt;
    }
    // Pending reminders, soonest due first, of one dossier when `dossier_code` is not empty.
    virtual boost::asio::awaitable<Lookup> reminders(std::string dossier_code, std::size_t limit) {
        (void)dossier_code;
        (void)limit;
        co_return Lookup{Lookup::Status::unavailable, {}};
    }
    // Cancels pending reminders by id: the ids cancelled; nullopt when the queue cannot be
    // reached. `client` asked, for the log and the record.
    virtual boost::asio::awaitable<std::optional<std::vector<std::string>>> cancel_reminders(
        std::vector<std::string> ids, std::string client) {
        (void)ids;
        (void)client;
        co_return std::nullopt;
    }
    // Dead call-backs to API clients (docs/callbacks.md), newest first; `client` empty: all.
    // {"dead_letters": [...]}.
    virtual boost::asio::awaitable<Lookup> callback_dead_letters(std::string client,
                                                                 std::size_t limit) {
        (void)client;
        (void)limit;
        co_return Lookup{Lookup::Status::unavailable, {}};
    }
    // Puts dead call-backs back in their client's schedule (by id, or every one of `client`):
    // the ids replayed; nullopt when the queue cannot be reached.
    virtual boost::asio::awaitable<std::optional<std::vector<std::string>>> replay_callbacks(
        std::vector<std::string> ids, std::string client) {
        (void)ids;
        (void)client;
        co_return std::nullopt;
    }
    // The message records of a usage report, each handed to `visit` (GET /v1/reports/usage);
    // nullopt when the queue cannot be reached.
    virtual boost::asio::awaitable<std::optional<queue::UsageScan>> scan_usage(
        queue::UsageQuery query, queue::UsageVisitor visit) {
        (void)query;
        (void)visit;
        co_return std::nullopt;
    }
    // The config in force (it changes on reload).
    virtual std::shared_ptr<const Config> config() const = 0;

    // A signed request's nonce: `fresh` the first time `key` is seen within `ttl`, by any
    // tinbaod sharing the queue's store. The default remembers in this process only.
    enum class Claim { fresh, seen, unavailable };
    virtual boost::asio::awaitable<Claim> claim_nonce(std::string key, std::chrono::seconds ttl);
    // Who posted an event, for clients that read only their own. The defaults remember in this
    // process only; owned_by is nullopt when the store cannot be read.
    virtual boost::asio::awaitable<bool> record_owner(std::string event_id, std::string client);
    virtual boost::asio::awaitable<std::optional<bool>> owned_by(std::string event_id,
                                                                 std::string client);

  private:
    std::map<std::string, std::chrono::steady_clock::time_point> nonces_;
    std::map<std::string, std::string> owners_;  // "client event_id" -> ""
};

enum class Listener {
    internal,  // the API, /metrics, /readyz, /healthz and the call-backs
    public_,   // only /v1/callbacks/* and /healthz
};

struct Service {
    Admit admit;
    Handler handler;
};

// The API over `backend` (which must outlive the service) for one listener.
Service make_api(ApiBackend& backend, Listener listener = Listener::internal);
// The internal listener's API as one Handler (the admission runs inside it, after the body).
Handler make_api_handler(ApiBackend& backend);


}  // namespace tinbao::http
