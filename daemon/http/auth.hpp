// Who is calling the API, and may they: the bearer token of a configured client, its TLS client
// certificate when it must present one, its HMAC signature (version 1 over "<timestamp>.<body>",
// version 2 over method, target, timestamp, nonce and the body's SHA-256), and its request rate
// (a token bucket per client).
//
// identify() needs only the headers: the API calls it before the body is read; the signature's
// HMAC is checked once the body is in (verify_signature()).
// Threading: the daemon's io_context; RateLimiter is not thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "daemon/config/config.hpp"
#include "daemon/http/server.hpp"

namespace tinbao::http {

inline constexpr std::int64_t kMaxClockSkewSeconds = 300;

Response json_response(int status, const boost::json::value& body);
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});
Response unauthorized(std::string_view code, std::string_view message);

// The client a request's token names, with its certificate and signature headers checked
// (everything but the HMAC, which needs the body); or the 401 to answer.
std::variant<const ApiClient*, Response> identify(const Config& cfg, const Request& req);

// The HMAC of a signed request, now that the body is read. nullopt: valid (or not required).
std::optional<Response> verify_signature(const ApiClient& client, const Request& req);

// The key under which a version 2 request's nonce is remembered; empty for other requests.
std::string nonce_key(const ApiClient& client, const Request& req);

// The canonical text a version 2 signature covers (docs/api.md), for clients and tests.
std::string signing_text_v2(std::string_view method, std::string_view target,
                            std::string_view timestamp, std::string_view nonce,
                            std::string_view body);

class RateLimiter {
  public:
    // Takes one request from `client`'s bucket: nullopt when allowed, else the seconds to wait.
    std::optional<std::int64_t> take(const ApiClient& client,
                                     std::chrono::steady_clock::time_point now);

  private:
    struct Bucket {
        double tokens = 0;
        std::chrono::steady_clock::time_point last;
    };
    std::map<std::string, Bucket> buckets_;
};

}  // namespace tinbao::http
