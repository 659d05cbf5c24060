// The daemon's HttpClient and MailClient: every provider request (HTTP, and SMTP for the `smtp`
// adapter) runs on a libcurl multi handle (one of `shards`) driven by Asio through the multi-socket API
// (CURLMOPT_SOCKETFUNCTION + CURLMOPT_TIMERFUNCTION, one steady_timer,
// stream_descriptor::async_wait). Connections live in the multi handle's cache and are reused
// across requests; nothing blocks the event loop.
//
// Threading: construct, call perform() and destroy on the io_context's thread (the io_context is
// run by one thread, or everything goes through one strand). Completions are always posted to the
// awaiting coroutine's executor, never run from inside a libcurl callback.
// Ownership: CurlMulti owns the CURLM and every in-flight easy handle; libcurl owns its sockets
// (the Asio descriptors that watch them are released, never closed, by CurlMulti).
// Destruction with requests in flight completes each of them with Error::other ("client shut
// down"); their coroutines resume later on their own executors.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "providers/http_client.hpp"
#include "providers/mail_client.hpp"

namespace tinbao {

struct CurlMultiOptions {
    long max_host_connections = 0;   // CURLMOPT_MAX_HOST_CONNECTIONS, per shard; 0: unlimited
    long max_total_connections = 0;  // CURLMOPT_MAX_TOTAL_CONNECTIONS, per shard; 0: unlimited
    long connection_cache = 0;       // CURLMOPT_MAXCONNECTS, over all shards; 0: libcurl's default
    std::size_t shards = 1;          // multi handles, each with its own connections
    std::string proxy;               // empty: no proxy (environment variables are ignored)
    std::string ca_file;             // empty: the system's CA bundle
    bool verify_tls = true;          // peer and host verification
    std::size_t max_response_bytes = 4 * 1024 * 1024;  // larger bodies fail with Error::other
    std::string user_agent = "tinbao";
};

class CurlMulti final : public HttpClient, public MailClient {
  public:
    explicit CurlMulti(boost::asio::any_io_executor executor, CurlMultiOptions options = {});
    ~CurlMulti() override;
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    // Never throws on the data path; every failure is an HttpResponse with error != none.
    boost::asio::awaitable<HttpResponse> perform(HttpRequest request) override;

    // One message to an SMTP server on the same multi handle (STARTTLS is tried on smtp://
    // unless require_tls asks for it). Never throws; failures are MailResult with error != none.
    // TLS verification happens when both the request and CurlMultiOptions::verify_tls ask for it.
    boost::asio::awaitable<MailResult> send_mail(MailRequest request) override;

    // Requests started and not yet completed.
    std::size_t in_flight() const;

  private:
    struct Impl;
    Impl* next_shard();
    std::vector<std::shared_ptr<Impl>> shards_;
};

}  // namespace tinbao
