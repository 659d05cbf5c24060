// The HTTP API of CONTRACT §3: authentication (bearer token, optional HMAC signature), event
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
    // Prometheus text exposition.
    virtual std::string metrics_text() = 0;
    // The config in force (it changes on reload).
    virtual std::shared_ptr<const Config> config() const = 0;
};

// Builds the Handler serving the API over `backend` (which must outlive the handler).
Handler make_api_handler(ApiBackend& backend);

// Constant-time comparison of two secrets.
bool constant_time_equal(std::string_view a, std::string_view b);
// Lower-case hex HMAC-SHA256 of `data` with `key`.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace tinbao::http
