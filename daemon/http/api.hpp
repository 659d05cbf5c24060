// The HTTP API (docs/api.md): authentication (bearer token, optional HMAC signature), event
// validation, and the routes, in front of an ApiBackend that queues events and reads records.
//
// Threading: runs on the daemon's io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config/config.hpp"
#include "daemon/http/server.hpp"
#include "daemon/pipeline/event.hpp"
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
    // The config in force (it changes on reload).
    virtual std::shared_ptr<const Config> config() const = 0;
};

// Builds the Handler serving the API over `backend` (which must outlive the handler).
Handler make_api_handler(ApiBackend& backend);


}  // namespace tinbao::http
