// The daemon's HttpClient for provider requests and call-backs: HTTP/1.1 with keep-alive on
// Asio/Beast, a pool of connections per origin (scheme, host, port), TLS through
// boost::asio::ssl (certificate and host name verified, SNI sent). A request in flight holds
// its connection, one small read buffer of that connection and its own coroutine; nothing
// else. No proxy is used (as libcurl was configured before: CURLOPT_PROXY ""), whatever the
// environment says.
//
// Every request has one deadline (HttpRequest::timeout) covering the name lookup, the connect,
// the TLS handshake, the write and the whole answer. A request is sent once: it goes out again
// (once, on a new connection) only when a reused connection turned out closed and the request
// cannot have reached the server (nothing of it was written), or the method is idempotent
// (RFC 9110 section 9.2.2: GET, HEAD, PUT, DELETE, OPTIONS, TRACE) and no byte of an answer
// came back. A POST that may have reached the server is never sent again here: the pipeline
// decides, and providers deduplicate by the message id.
//
// Threading: construct, call perform() and destroy on the io_context's thread (one thread).
// Ownership: the pool owns its idle connections; a request in flight owns its connection until
// it is done (then returns it to the pool, or closes it). Destruction closes every connection;
// requests in flight then complete with Error::other ("client shut down").
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "providers/http_client.hpp"

namespace tinbao {

struct HttpPoolOptions {
    std::size_t max_idle_per_origin = 1024;  // idle connections kept per scheme+host+port
    std::chrono::seconds idle_timeout{50};   // older idle connections are closed, not reused
    std::string ca_file;                     // empty: the system's CA certificates
    bool verify_tls = true;                  // certificate chain and host name
    std::size_t max_response_bytes = 4 * 1024 * 1024;  // larger bodies fail with Error::other
    std::size_t max_header_bytes = 64 * 1024;
    std::string user_agent = "tinbao";
};

// An http(s) URL split for a request: what the pool keys connections on and what the request
// line carries.
struct HttpUrl {
    bool tls = false;
    std::string host;       // without IPv6 brackets
    std::string port;       // always set (80 or 443 by default)
    std::string target;     // path and query, "/" at least; no fragment
    std::string authority;  // the Host header: host[:port] as in the URL (brackets kept)
    std::string origin() const { return (tls ? "https://" : "http://") + authority_key(); }

  private:
    std::string authority_key() const { return host + ":" + port; }
};

// nullopt with `why` set: not an absolute http:// or https:// URL this client can use.
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& why);

// The request line and headers (Host, User-Agent unless given, Content-Length) followed by the
// body, or the reason it cannot be sent (a line break in a header, a bad method).
std::optional<std::string> serialize_request(const HttpRequest& request, const HttpUrl& url,
                                             std::string_view user_agent, std::string& why);

// `s` with ASCII letters lower-cased (header names).
std::string ascii_lower(std::string_view s);

class HttpPool final : public HttpClient {
  public:
    explicit HttpPool(boost::asio::any_io_executor executor, HttpPoolOptions options = {});
    ~HttpPool() override;
    HttpPool(const HttpPool&) = delete;
    HttpPool& operator=(const HttpPool&) = delete;

    // Never throws on the data path; every failure is an HttpResponse with error != none.
    boost::asio::awaitable<HttpResponse> perform(HttpRequest request) override;

    // For tests and metrics: connections opened so far, idle now, requests in flight now.
    std::size_t connections_opened() const;
    std::size_t idle() const;
    std::size_t in_flight() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace tinbao
