#include "daemon/io/http_pool.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <cerrno>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tinbao {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

HttpResponse failure(HttpResponse::Error error, std::string text) {
    HttpResponse r;
    r.error = error;
    r.error_text = std::move(text);
    return r;
}

// RFC 9110 section 9.2.2.
bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
           method == "OPTIONS" || method == "TRACE";
}

// The peer closed or reset the connection.
bool closed_by_peer(const error_code& ec) {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
           ec == asio::error::not_connected || ec == http::error::end_of_stream ||
           ec == http::error::partial_message || ec == ssl::error::stream_truncated;
}

// One connection to one origin, plain or TLS, and its read buffer.
struct Conn {
    explicit Conn(const asio::any_io_executor& ex) { plain.emplace(ex); }
    Conn(const asio::any_io_executor& ex, ssl::context& ctx)
        : tls(std::make_unique<ssl::stream<beast::tcp_stream>>(ex, ctx)) {}

    beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *plain; }

    std::optional<beast::tcp_stream> plain;
    // Its own allocation: a plain connection does not carry a TLS stream's room (368 bytes).
    std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;  // bytes read and not yet parsed (empty between requests)
    std::string origin;
    SteadyClock::time_point idle_since{};
};

// True when an idle connection looks usable: the peer has neither closed nor reset it, and (on
// plain HTTP) sent nothing unasked. A TLS peer may have sent session tickets meanwhile.
bool still_open(Conn& c) {
    char byte = 0;
    const int fd = c.lowest().socket().native_handle();
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return false;
    if (n > 0) return c.tls != nullptr;
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

// The outcome of writing one request and reading its answer on a connection.
struct Exchange {
    error_code ec;
    bool writing = true;          // the failure came while writing
    std::size_t written = 0;      // request bytes the stream took
    bool answer_started = false;  // a byte of an answer came back
    bool keep_alive = false;
    HttpResponse response;
};

// Writes the request and reads its answer. Once the whole request is written, `wire` is freed
// unless `keep_wire` (a request that may be sent again): the answer may be long in coming.
template <class Stream>
asio::awaitable<Exchange> exchange(Stream& stream, Conn& c, std::string& wire, bool keep_wire,
                                   bool head, const HttpPoolOptions& options,
                                   SteadyClock::time_point deadline) {
    Exchange x;
    c.lowest().expires_at(deadline);
    auto [wec, written] = co_await asio::async_write(stream, asio::buffer(wire), kTuple);
    x.written = written;
    if (wec) {
        x.ec = wec;
        co_return x;
    }
    x.writing = false;
    if (!keep_wire) std::string().swap(wire);
    for (;;) {
        http::response_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
        parser.body_limit(options.max_response_bytes);
        if (head) parser.skip(true);
        auto [rec, n] = co_await http::async_read(stream, c.buffer, parser, kTuple);
        if (n > 0 || parser.got_some() || c.buffer.size() > 0) x.answer_started = true;
        if (rec) {
            x.ec = rec;
            co_return x;
        }
        auto& msg = parser.get();
        const int status = static_cast<int>(msg.result_int());
        if (status >= 100 && status < 200 && status != 101) continue;  // interim: the next one
        x.keep_alive = msg.keep_alive() && !parser.need_eof();
        x.response.status = status;
        for (const auto& field : msg)
            x.response.headers.emplace_back(ascii_lower(field.name_string()),
                                            std::string(field.value()));
        x.response.body = std::move(msg.body());
        co_return x;
    }
}

// The exchange on the connection's own stream. Not a coroutine: the caller's frame holds one
// Exchange, whichever stream it is.
asio::awaitable<Exchange> exchange_on(Conn& c, std::string& wire, bool keep_wire, bool head,
                                      const HttpPoolOptions& options,
                                      SteadyClock::time_point deadline) {
    if (c.tls) return exchange(*c.tls, c, wire, keep_wire, head, options, deadline);
    return exchange(*c.plain, c, wire, keep_wire, head, options, deadline);
}

}  // namespace

struct HttpPool::Impl : std::enable_shared_from_this<HttpPool::Impl> {
    Impl(asio::any_io_executor ex, HttpPoolOptions opts)
        : executor(std::move(ex)),
          options(std::move(opts)),
          resolver(executor),
          tls_context(ssl::context::tls_client) {
        // OpenSSL's read and write buffers (about 34 KB) are released while a connection has
        // nothing to read or write: idle and waiting connections cost no more than their socket.
        SSL_CTX_set_mode(tls_context.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        if (!options.verify_tls) {
            tls_context.set_verify_mode(ssl::verify_none);
            return;
        }
        tls_context.set_verify_mode(ssl::verify_peer);
        error_code ec;
        if (options.ca_file.empty())
            tls_context.set_default_verify_paths(ec);
        else
            tls_context.load_verify_file(options.ca_file, ec);
        if (ec)
            tls_problem = "cannot load the CA certificates" +
                          (options.ca_file.empty() ? std::string() : " of " + options.ca_file) +
                          ": " + ec.message();
    }

    asio::awaitable<HttpResponse> perform(HttpRequest request);

    // The established connection, or the failure that kept it from being made.
    asio::awaitable<HttpResponse> open(Conn& c, const HttpUrl& url,
                                       SteadyClock::time_point deadline);
    asio::awaitable<HttpResponse> lookup(const HttpUrl& url, SteadyClock::time_point deadline,
                                         std::vector<tcp::endpoint>& endpoints);
    HttpResponse failed_exchange(const Exchange& x, const HttpUrl& url,
                                 std::chrono::milliseconds timeout) const;

    std::unique_ptr<Conn> take_idle(const std::string& origin) {
        auto it = idle.find(origin);
        if (it == idle.end()) return nullptr;
        auto& q = it->second;
        const auto now = SteadyClock::now();
        while (!q.empty()) {
            // The most recently used first: the likeliest to be open still.
            auto c = std::move(q.back());
            q.pop_back();
            --idle_count;
            if (now - c->idle_since > options.idle_timeout) {
                idle_count -= q.size();  // the others are older still
                q.clear();
                break;
            }
            if (still_open(*c)) return c;
        }
        idle.erase(it);
        return nullptr;
    }

    void put_idle(std::unique_ptr<Conn> c) {
        if (stopping || options.max_idle_per_origin == 0) return;
        c->lowest().expires_never();
        c->idle_since = SteadyClock::now();
        // A large answer's buffer is not kept for the next small one.
        if (c->buffer.capacity() > 16 * 1024) c->buffer.shrink_to_fit();
        auto& q = idle[c->origin];
        if (q.size() >= options.max_idle_per_origin) {
            q.pop_front();  // the oldest goes
            --idle_count;
        }
        q.push_back(std::move(c));
        ++idle_count;
    }

    void shutdown() {
        if (stopping) return;
        stopping = true;
        idle.clear();
        idle_count = 0;
        for (Conn* c : busy) {
            error_code ec;
            c->lowest().socket().close(ec);
        }
        for (asio::steady_timer* t : lookups) t->cancel();
        resolver.cancel();
    }

    asio::any_io_executor executor;
    HttpPoolOptions options;
    tcp::resolver resolver;
    ssl::context tls_context;
    std::string tls_problem;  // set: no TLS connection can be verified
    std::unordered_map<std::string, std::deque<std::unique_ptr<Conn>>> idle;
    std::size_t idle_count = 0;
    std::unordered_set<Conn*> busy;                   // connections of requests in flight
    std::unordered_set<asio::steady_timer*> lookups;  // name lookups being waited for
    std::size_t opened = 0;
    std::size_t in_flight = 0;
    bool stopping = false;
};

namespace {

// Marks a value as in use for as long as the guard lives.
template <class T>
class Mark {
  public:
    Mark(std::unordered_set<T*>& set, T* value) : set_(set), value_(value) { set_.insert(value_); }
    ~Mark() { set_.erase(value_); }
    Mark(const Mark&) = delete;
    Mark& operator=(const Mark&) = delete;

  private:
    std::unordered_set<T*>& set_;
    T* value_;
};

std::string where(const HttpUrl& url) { return url.host + " port " + url.port; }

}  // namespace

asio::awaitable<HttpResponse> HttpPool::Impl::lookup(const HttpUrl& url,
                                                     SteadyClock::time_point deadline,
                                                     std::vector<tcp::endpoint>& endpoints) {
    error_code literal;
    auto address = asio::ip::make_address(url.host, literal);
    const auto port = static_cast<unsigned short>(std::stoi(url.port));
    if (!literal) {
        endpoints.emplace_back(address, port);
        co_return HttpResponse{};
    }
    // getaddrinfo runs on Asio's resolver thread and cannot be cancelled: the request waits for
    // it no longer than its deadline, and a late answer is dropped.
    struct Pending {
        explicit Pending(const asio::any_io_executor& ex) : wake(ex) {}
        asio::steady_timer wake;
        error_code ec;
        tcp::resolver::results_type results;
        bool done = false;
    };
    auto pending = std::make_shared<Pending>(executor);
    pending->wake.expires_at(deadline);
    resolver.async_resolve(url.host, url.port,
                           [pending](const error_code& ec, tcp::resolver::results_type results) {
                               pending->ec = ec;
                               pending->results = std::move(results);
                               pending->done = true;
                               pending->wake.cancel();
                           });
    {
        Mark<asio::steady_timer> waiting(lookups, &pending->wake);
        co_await pending->wake.async_wait(kTuple);
    }
    if (stopping) co_return failure(HttpResponse::Error::other, "client shut down");
    if (!pending->done)
        co_return failure(HttpResponse::Error::timeout,
                          "name lookup of " + url.host + " did not finish within the deadline");
    if (pending->ec || pending->results.empty())
        co_return failure(HttpResponse::Error::connect,
                          "cannot resolve host " + url.host + ": " + pending->ec.message());
    for (const auto& r : pending->results) endpoints.push_back(r.endpoint());
    co_return HttpResponse{};
}

asio::awaitable<HttpResponse> HttpPool::Impl::open(Conn& c, const HttpUrl& url,
                                                   SteadyClock::time_point deadline) {
    std::vector<tcp::endpoint> endpoints;
    HttpResponse looked_up = co_await lookup(url, deadline, endpoints);
    if (looked_up.error != HttpResponse::Error::none) co_return looked_up;
    auto& tcp_stream = c.lowest();
    tcp_stream.expires_at(deadline);
    auto [cec, endpoint] = co_await tcp_stream.async_connect(endpoints, kTuple);
    (void)endpoint;
    if (stopping) co_return failure(HttpResponse::Error::other, "client shut down");
    if (cec == beast::error::timeout)
        co_return failure(HttpResponse::Error::timeout,
                          "connect to " + where(url) + ": no connection within the deadline");
    if (cec)
        co_return failure(HttpResponse::Error::connect,
                          "connect to " + where(url) + ": " + cec.message());
    ++opened;
    error_code ignored;
    tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
    tcp_stream.socket().set_option(asio::socket_base::keep_alive(true), ignored);
    if (!c.tls) co_return HttpResponse{};

    auto& tls = *c.tls;
    error_code not_address;
    (void)asio::ip::make_address(url.host, not_address);
    // SNI names a host, never an address (RFC 6066 section 3).
    if (not_address) SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str());
    if (options.verify_tls) tls.set_verify_callback(ssl::host_name_verification(url.host));
    tcp_stream.expires_at(deadline);
    auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, kTuple);
    if (stopping) co_return failure(HttpResponse::Error::other, "client shut down");
    if (hec == beast::error::timeout)
        co_return failure(HttpResponse::Error::timeout,
                          "TLS handshake with " + where(url) + ": not done within the deadline");
    if (hec) {
        std::string text = "TLS handshake with " + where(url) + ": " + hec.message();
        const long verified = SSL_get_verify_result(tls.native_handle());
        if (verified != X509_V_OK)
            text += " (" + std::string(X509_verify_cert_error_string(verified)) + ")";
        co_return failure(HttpResponse::Error::tls, std::move(text));
    }
    co_return HttpResponse{};
}

HttpResponse HttpPool::Impl::failed_exchange(const Exchange& x, const HttpUrl& url,
                                             std::chrono::milliseconds timeout) const {
    using Error = HttpResponse::Error;
    if (stopping) return failure(Error::other, "client shut down");
    const error_code& ec = x.ec;
    if (ec == beast::error::timeout)
        return failure(Error::timeout, (x.writing ? "sending the request to " : "no answer from ") +
                                           where(url) + " within " +
                                           std::to_string(timeout.count()) + " ms");
    if (ec == http::error::body_limit)
        return failure(Error::other, "response body larger than " +
                                         std::to_string(options.max_response_bytes) + " bytes");
    if (ec == http::error::header_limit)
        return failure(Error::other, "response header larger than " +
                                         std::to_string(options.max_header_bytes) + " bytes");
    if (closed_by_peer(ec))
        return failure(Error::other, where(url) + " closed the connection " +
                                         (x.answer_started ? "in the middle of its answer"
                                          : x.writing      ? "while the request was sent"
                                                           : "before answering") +
                                         " (" + ec.message() + ")");
    if (ec.category() == asio::error::get_ssl_category())
        return failure(Error::tls, "TLS with " + where(url) + ": " + ec.message());
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return failure(Error::other,
                       "invalid HTTP answer from " + where(url) + ": " + ec.message());
    return failure(Error::other, where(url) + ": " + ec.message());
}

asio::awaitable<HttpResponse> HttpPool::Impl::perform(HttpRequest request) {
    auto self = shared_from_this();  // the pool's state outlives the HttpPool while this runs
    const auto timeout = std::max(request.timeout, std::chrono::milliseconds(1));
    const auto deadline = SteadyClock::now() + timeout;
    if (stopping) co_return failure(HttpResponse::Error::other, "client shut down");
    std::string why;
    auto url = parse_http_url(request.url, why);
    if (!url) co_return failure(HttpResponse::Error::other, why);
    if (url->tls && !tls_problem.empty()) co_return failure(HttpResponse::Error::tls, tls_problem);
    auto wire = serialize_request(request, *url, options.user_agent, why);
    if (!wire) co_return failure(HttpResponse::Error::other, why);
    const bool head = request.method == "HEAD";
    const bool may_repeat = idempotent(request.method);
    // The body is in `wire` now: not kept twice while the answer is awaited.
    request = HttpRequest{};
    const std::string origin = url->origin();
    ++in_flight;
    struct Done {
        std::size_t& n;
        ~Done() { --n; }
    } done{in_flight};

    for (int pass = 0;; ++pass) {
        std::unique_ptr<Conn> conn = pass == 0 ? take_idle(origin) : nullptr;
        const bool reused = conn != nullptr;
        if (!conn) {
            conn = url->tls ? std::make_unique<Conn>(executor, tls_context)
                            : std::make_unique<Conn>(executor);
            conn->origin = origin;
        }
        Mark<Conn> in_use(busy, conn.get());
        if (!reused) {
            HttpResponse opened_conn = co_await open(*conn, *url, deadline);
            if (opened_conn.error != HttpResponse::Error::none) co_return opened_conn;
        }
        // Sent again only when it may be repeated, or did not leave (see below).
        Exchange x = co_await exchange_on(*conn, *wire, may_repeat, head, options, deadline);
        if (!x.ec && !stopping) {
            // Bytes after the answer would be read as the next request's answer: such a
            // connection is not reused.
            if (x.keep_alive && conn->buffer.size() == 0) put_idle(std::move(conn));
            co_return std::move(x.response);
        }
        // A kept-alive connection the server had closed meanwhile: sent again on a new one when
        // the request cannot have reached the server, or may be repeated and got no answer.
        const bool nothing_sent = x.writing && x.written == 0;
        const bool unanswered = !x.writing && !x.answer_started;
        if (reused && pass == 0 && !stopping && closed_by_peer(x.ec) &&
            (nothing_sent || (unanswered && may_repeat)) && SteadyClock::now() < deadline)
            continue;
        co_return failed_exchange(x, *url, timeout);
    }
}

HttpPool::HttpPool(asio::any_io_executor executor, HttpPoolOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpPool::~HttpPool() { impl_->shutdown(); }

asio::awaitable<HttpResponse> HttpPool::perform(HttpRequest request) {
    // Not a coroutine itself: one frame less per request in flight.
    return impl_->perform(std::move(request));
}

std::size_t HttpPool::connections_opened() const { return impl_->opened; }
std::size_t HttpPool::idle() const { return impl_->idle_count; }
std::size_t HttpPool::in_flight() const { return impl_->in_flight; }

}  // namespace tinbao
