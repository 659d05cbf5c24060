// The HTTP client adapters use. The daemon's implementation (daemon/io/http_pool) is an HTTP/1.1
// client on Asio/Beast: connections kept alive and reused per origin, one deadline per request,
// nothing blocking the event loop.
//
// Threading: perform() is called and completes on the io_context the client was built with.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace tinbao {

struct HttpRequest {
    std::string method = "POST";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;  // "Content-Type", "application/json"
    std::string body;
    std::chrono::milliseconds timeout{10000};                // whole request, connect included
};

struct HttpResponse {
    enum class Error { none, timeout, connect, tls, other };
    Error error = Error::none;     // none: `status` and `body` are the server's answer
    std::string error_text;        // what went wrong, when error != none
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;

    // First header with this lower-case name, or empty.
    std::string header(std::string_view lower_name) const {
        for (auto& [k, v] : headers)
            if (k == lower_name) return v;
        return {};
    }
};

class HttpClient {
public:
    virtual ~HttpClient() = default;
    virtual boost::asio::awaitable<HttpResponse> perform(HttpRequest request) = 0;
};

}  // namespace tinbao
