#include "daemon/http/server.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <array>
#include <cctype>
#include <ctime>
#include <exception>
#include <list>
#include <optional>
#include <system_error>
#include <type_traits>

namespace tinbao::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTok = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kDrainLimit = 1 << 20;
constexpr std::chrono::milliseconds kDrainTime{2000};

struct Connection {
    beast::tcp_stream* stream;
    bool idle;
    std::chrono::steady_clock::time_point idle_since;
    asio::ip::address address;
    bool closing = false;  // chosen to make room, not yet gone
};

std::string http_date() {
    static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed",
                                                      "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                  kDays[static_cast<std::size_t>(tm.tm_wday)], tm.tm_mday,
                  kMonths[static_cast<std::size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    return buf;
}

std::string error_body(std::string_view code, std::string_view message) {
    boost::json::object err{{"code", code}, {"message", message}};
    return boost::json::serialize(boost::json::object{{"error", std::move(err)}});
}

bool is_http_error(const beast::error_code& ec) {
    return &ec.category() == &bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

struct Server::State {
    State(asio::io_context& io_, ServerOptions options_, Handler handler_, Admit admit_)
        : io(io_),
          options(std::move(options_)),
          handler(std::move(handler_)),
          admit(std::move(admit_)),
          acceptor(io_) {}

    asio::io_context& io;
    ServerOptions options;
    Handler handler;
    Admit admit;
    tcp::acceptor acceptor;
    uint16_t port = 0;
    bool stopping = false;
    std::list<Connection> connections;  // list: stable iterators for the sessions' guards
    std::map<asio::ip::address, std::size_t> per_address;
};

namespace {

using StatePtr = std::shared_ptr<Server::State>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

beast::tcp_stream& lowest(beast::tcp_stream& s) { return s; }
beast::tcp_stream& lowest(TlsStream& s) { return s.next_layer(); }

bhttp::response<bhttp::string_body> make_response(Response&& res, unsigned version,
                                                  bool keep_alive, bool head) {
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(res.status), version};
    out.set(bhttp::field::server, "tinbao");
    out.set(bhttp::field::date, http_date());
    out.set(bhttp::field::content_type, res.content_type);
    for (auto& [name, value] : res.headers) out.insert(name, value);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (head) out.body().clear();  // Content-Length stays that of the full response
    return out;
}

// Closes the way a client can still read what we wrote: our side first, then what the client
// keeps sending is read and thrown away (bounded, never kept), so the close does not reset the
// connection and discard our response before the client read it.
template <class Stream>
asio::awaitable<void> lingering_close(Stream& stream) {
    beast::error_code ec;
    auto& tcp_stream = lowest(stream);
    if constexpr (std::is_same_v<Stream, TlsStream>) {
        tcp_stream.expires_after(kDrainTime);
        auto [sec] = co_await stream.async_shutdown(kTok);
        (void)sec;
    }
    tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
        tcp_stream.expires_after(kDrainTime);
        std::array<char, 8192> sink;
        std::size_t drained = 0;
        while (drained < kDrainLimit) {
            auto [rec, n] = co_await tcp_stream.async_read_some(asio::buffer(sink), kTok);
            if (rec) break;
            drained += n;
        }
    }
    tcp_stream.socket().close(ec);
}

template <class Stream>
asio::awaitable<void> send_and_close(Stream& stream, unsigned version, Response r,
                                     std::chrono::milliseconds write_timeout) {
    auto out = make_response(std::move(r), version == 0 ? 11 : version, false, false);
    lowest(stream).expires_after(write_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream, out, kTok);
    if (!ec) co_await lingering_close(stream);
}

template <class Stream>
asio::awaitable<void> send_error_and_close(Stream& stream, unsigned version, int status,
                                           std::string_view code, std::string_view message,
                                           std::chrono::milliseconds write_timeout) {
    Response r;
    r.status = status;
    r.body = error_body(code, message);
    co_await send_and_close(stream, version, std::move(r), write_timeout);
}

// Fills `req` from the parsed header. False when the target is not an origin-form URL.
bool build_request(const bhttp::request_header<>& msg, Request& req) {
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto url = boost::urls::parse_origin_form(req.target);
    if (!url) return false;
    req.path = url->path();
    for (auto seg : url->segments()) req.segments.push_back(seg);
    for (auto param : url->params()) req.query.emplace_back(param.key, param.value);
    for (const auto& field : msg) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
        if (!inserted) {
            it->second += ", ";
            it->second += field.value();
        }
    }
    return true;
}

// The request's transfer codings (RFC 9112 section 6): empty, or "chunked" alone. Anything else
// is refused: a coding we do not decode would leave the body in the connection, where it would
// be read as the next request (request smuggling). 0: fine; else the status to answer.
int check_transfer_encoding(const bhttp::request_header<>& h) {
    auto [first, last] = h.equal_range(bhttp::field::transfer_encoding);
    if (first == last) return 0;
    std::vector<std::string> codings;
    for (auto it = first; it != last; ++it)
        for (auto c : bhttp::token_list{it->value()}) codings.emplace_back(c);
    if (codings.empty()) return 400;
    if (!beast::iequals(codings.back(), "chunked")) return 400;  // length unknowable
    return codings.size() == 1 ? 0 : 501;                        // gzip, chunked: not decoded
}

// Reads until the end of the next request's header, so the raw bytes can be checked before
// Beast parses them. Beast unfolds obsolete line folding (a header line starting with a space
// or tab); RFC 9112 section 5.2 lets a server reject it, which closes a door to requests that
// proxies and tinbao would read differently. 0: header complete and clean; else the status.
template <class Stream>
asio::awaitable<int> read_raw_header(Stream& stream, beast::flat_buffer& buffer, std::size_t limit,
                                     beast::error_code& ec) {
    for (;;) {
        auto data = buffer.data();
        std::string_view text(static_cast<const char*>(data.data()), data.size());
        auto end = text.find("\r\n\r\n");
        std::string_view header = end == std::string_view::npos ? text : text.substr(0, end + 2);
        for (std::size_t at = header.find('\n'); at != std::string_view::npos;
             at = header.find('\n', at + 1))
            if (at + 1 < header.size() && (header[at + 1] == ' ' || header[at + 1] == '\t'))
                co_return 400;
        if (end != std::string_view::npos) co_return 0;
        if (text.size() > limit) co_return 431;
        auto [rec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTok);
        if (rec) {
            ec = rec;
            co_return 0;
        }
        buffer.commit(n);
    }
}

std::string peer_certificate_sha256(TlsStream& stream) {
    X509* cert = SSL_get1_peer_certificate(stream.native_handle());
    if (cert == nullptr) return {};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    std::string out;
    if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned i = 0; i < len; ++i) {
            out += kHex[md[i] >> 4];
            out += kHex[md[i] & 15];
        }
    }
    X509_free(cert);
    return out;
}

asio::awaitable<Response> call_handler(const StatePtr& st, Request& req) {
    std::string failure;
    try {
        Response res = co_await st->handler(req);
        co_return res;
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "unknown exception";
    }
    // The body is never logged: it may hold personal data.
    spdlog::error("http: handler failed on {} {}: {}", req.method, req.path, failure);
    Response r;
    r.status = 500;
    r.body = error_body("internal_error", "internal error");
    co_return r;
}

template <class Stream>
asio::awaitable<void> serve_connection(StatePtr st, Stream& stream,
                                       std::list<Connection>::iterator self,
                                       const std::string& remote, std::string peer_cert) {
    const ServerOptions& opt = st->options;
    beast::flat_buffer buffer;
    const auto born = std::chrono::steady_clock::now();
    std::size_t served = 0;
    auto& tcp_stream = lowest(stream);

    for (;;) {
        self->idle = true;
        self->idle_since = std::chrono::steady_clock::now();
        if (st->stopping) break;
        if (buffer.size() == 0) {
            // Waiting for the first byte of the next request: the idle deadline.
            tcp_stream.expires_after(opt.idle_timeout);
            auto [rec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTok);
            if (rec) break;
            buffer.commit(n);
        }
        self->idle = false;

        tcp_stream.expires_after(opt.read_timeout);
        beast::error_code rec;
        int raw = co_await read_raw_header(stream, buffer, opt.max_header_bytes, rec);
        if (rec) break;
        if (raw == 431) {
            co_await send_error_and_close(stream, 11, 431, "headers_too_large",
                                          "request headers too large", opt.read_timeout);
            co_return;
        }
        if (raw != 0) {
            co_await send_error_and_close(stream, 11, 400, "bad_request",
                                          "obsolete line folding in a header", opt.read_timeout);
            co_return;
        }
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
        parser.body_limit(opt.max_body_bytes);
        auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, kTok);
        if (hec == bhttp::error::body_limit) {
            co_await send_error_and_close(
                stream, parser.get().version(), 413, "payload_too_large",
                "request body larger than " + std::to_string(opt.max_body_bytes) + " bytes",
                opt.read_timeout);
            co_return;
        }
        if (hec == bhttp::error::header_limit) {
            co_await send_error_and_close(stream, 11, 431, "headers_too_large",
                                          "request headers too large", opt.read_timeout);
            co_return;
        }
        if (hec) {
            if (is_http_error(hec) && hec != bhttp::error::end_of_stream &&
                hec != bhttp::error::partial_message) {
                spdlog::debug("http: malformed request from {}: {}", remote, hec.message());
                co_await send_error_and_close(stream, 11, 400, "bad_request",
                                              "malformed HTTP request", opt.read_timeout);
                co_return;
            }
            break;
        }

        auto& header = parser.get();
        const unsigned version = header.version();
        if (int te = check_transfer_encoding(header); te != 0) {
            co_await send_error_and_close(
                stream, version, te, te == 501 ? "not_implemented" : "bad_request",
                "Transfer-Encoding other than chunked is not accepted", opt.read_timeout);
            co_return;
        }
        Request req;
        req.remote = remote;
        req.tls = std::is_same_v<Stream, TlsStream>;
        req.peer_cert_sha256 = peer_cert;
        if (!build_request(header, req)) {
            co_await send_error_and_close(stream, version, 400, "bad_request",
                                          "request target is not a valid path", opt.read_timeout);
            co_return;
        }
        if (st->admit) {
            req.admitted = true;
            if (auto refused = st->admit(req)) {
                // Without reading the body: closed when one follows.
                if (parser.is_done()) {
                    bool keep = header.keep_alive() && !st->stopping;
                    auto out = make_response(std::move(*refused), version, keep,
                                             header.method() == bhttp::verb::head);
                    tcp_stream.expires_after(opt.read_timeout);
                    auto [wec, wn] = co_await bhttp::async_write(stream, out, kTok);
                    if (wec) break;
                    if (keep) continue;
                    co_await lingering_close(stream);
                    co_return;
                }
                co_await send_and_close(stream, version, std::move(*refused), opt.read_timeout);
                co_return;
            }
        }
        if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
            bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
            auto [cec, cn] = co_await bhttp::async_write(stream, cont, kTok);
            if (cec) break;
        }
        if (!parser.is_done()) {
            auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTok);
            if (bec == bhttp::error::body_limit) {
                co_await send_error_and_close(
                    stream, version, 413, "payload_too_large",
                    "request body larger than " + std::to_string(opt.max_body_bytes) + " bytes",
                    opt.read_timeout);
                co_return;
            }
            if (bec) {
                if (is_http_error(bec) && bec != bhttp::error::partial_message) {
                    co_await send_error_and_close(stream, version, 400, "bad_request",
                                                  "malformed HTTP request body", opt.read_timeout);
                    co_return;
                }
                break;
            }
        }

        auto msg = parser.release();
        const bool head = msg.method() == bhttp::verb::head;
        ++served;
        bool keep_alive = msg.keep_alive() && served < opt.max_requests_per_connection &&
                          std::chrono::steady_clock::now() - born < opt.keepalive_lifetime;
        req.body = std::move(msg.body());

        Response res = co_await call_handler(st, req);
        keep_alive = keep_alive && !st->stopping;
        auto out = make_response(std::move(res), version, keep_alive, head);
        tcp_stream.expires_after(opt.read_timeout);
        auto [wec, wn] = co_await bhttp::async_write(stream, out, kTok);
        if (wec) break;
        if (!keep_alive) {
            co_await lingering_close(stream);
            co_return;
        }
    }
    beast::error_code ec;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp_stream.socket().close(ec);
}

asio::awaitable<void> run_session(StatePtr st, tcp::socket socket,
                                  std::shared_ptr<asio::ssl::context> tls) {
    beast::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    const asio::ip::address address = ec ? asio::ip::address() : endpoint.address();
    const std::string remote =
        ec ? std::string("?") : address.to_string() + ":" + std::to_string(endpoint.port());
    beast::tcp_stream plain(std::move(socket));
    std::optional<TlsStream> secure;
    if (tls) secure.emplace(std::move(plain), *tls);
    beast::tcp_stream& tcp_stream = secure ? secure->next_layer() : plain;

    auto self =
        st->connections.insert(st->connections.end(), Connection{&tcp_stream, true, {}, address});
    ++st->per_address[address];
    struct Guard {
        Server::State* st;
        std::list<Connection>::iterator it;
        ~Guard() {
            auto a = st->per_address.find(it->address);
            if (a != st->per_address.end() && --a->second == 0) st->per_address.erase(a);
            st->connections.erase(it);
        }
    } guard{st.get(), self};

    if (!secure) {
        co_await serve_connection(st, plain, self, remote, {});
        co_return;
    }
    self->idle = false;
    tcp_stream.expires_after(st->options.read_timeout);
    auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::server, kTok);
    if (hec) {
        spdlog::debug("http: TLS handshake with {} failed: {}", remote, hec.message());
        tcp_stream.socket().close(ec);
        co_return;
    }
    co_await serve_connection(st, *secure, self, remote, peer_certificate_sha256(*secure));
}

void log_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        spdlog::error("http: connection ended by exception: {}", x.what());
    } catch (...) {
        spdlog::error("http: connection ended by unknown exception");
    }
}

// At max_connections the connection idle the longest makes room: otherwise whoever holds
// enough idle keep-alive connections (no token needed for /healthz) locks every client out.
bool make_room(Server::State& st) {
    Connection* oldest = nullptr;
    for (auto& c : st.connections)
        if (c.idle && !c.closing && (oldest == nullptr || c.idle_since < oldest->idle_since))
            oldest = &c;
    if (oldest == nullptr) return false;
    oldest->closing = true;
    oldest->stream->cancel();
    return true;
}

asio::awaitable<void> accept_loop(StatePtr st) {
    for (;;) {
        auto [ec, socket] = co_await st->acceptor.async_accept(kTok);
        if (st->stopping || !st->acceptor.is_open()) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            spdlog::warn("http: accept failed: {}", ec.message());
            // Out of descriptors and the like: back off instead of spinning on the error.
            asio::steady_timer pause(st->io, std::chrono::milliseconds(100));
            co_await pause.async_wait(kTok);
            continue;
        }
        beast::error_code ignored;
        const auto& opt = st->options;
        auto peer = socket.remote_endpoint(ignored);
        if (opt.max_connections_per_address != 0 && !ignored) {
            auto it = st->per_address.find(peer.address());
            if (it != st->per_address.end() && it->second >= opt.max_connections_per_address) {
                spdlog::debug("http: connection from {} refused, {} open from it",
                              peer.address().to_string(), it->second);
                socket.close(ignored);
                continue;
            }
        }
        std::size_t closing = 0;
        for (auto& c : st->connections) closing += c.closing ? 1 : 0;
        if (st->connections.size() - closing >= opt.max_connections && !make_room(*st)) {
            spdlog::debug("http: connection refused, {} open", st->connections.size());
            socket.close(ignored);
            continue;
        }
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(st->io, run_session(st, std::move(socket), opt.tls), log_exception);
    }
}

}  // namespace

Server::Server(asio::io_context& io, ServerOptions options, Handler handler, Admit admit)
    : state_(
          std::make_shared<State>(io, std::move(options), std::move(handler), std::move(admit))) {}

Server::~Server() { stop(); }

void Server::start() {
    auto& st = *state_;
    beast::error_code ec;
    tcp::endpoint endpoint;
    auto address = asio::ip::make_address(st.options.host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(address, st.options.port);
    } else {
        // A host name: resolved once, at startup.
        tcp::resolver resolver(st.io);
        auto results = resolver.resolve(st.options.host, std::to_string(st.options.port), ec);
        if (ec || results.empty())
            throw std::system_error(ec, "cannot resolve listen address " + st.options.host);
        endpoint = *results.begin();
    }
    const std::string what = "cannot listen on " + st.options.host + ":" +
                             std::to_string(st.options.port);
    st.acceptor.open(endpoint.protocol(), ec);
    if (ec) throw std::system_error(ec, what);
    st.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    st.acceptor.bind(endpoint, ec);
    if (ec) throw std::system_error(ec, what);
    st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, what);
    st.port = st.acceptor.local_endpoint().port();
    st.stopping = false;
    asio::co_spawn(st.io, accept_loop(state_), log_exception);
}

uint16_t Server::port() const { return state_->port; }

void Server::stop() {
    auto& st = *state_;
    if (st.stopping) return;
    st.stopping = true;
    beast::error_code ec;
    st.acceptor.close(ec);
    // Connections between requests close now; the others after the response in progress.
    for (auto& c : st.connections)
        if (c.idle) c.stream->cancel();
}

std::size_t Server::open_connections() const { return state_->connections.size(); }

void Server::set_tls(std::shared_ptr<asio::ssl::context> tls) {
    state_->options.tls = std::move(tls);
}

bool Server::is_tls() const { return state_->options.tls != nullptr; }

}  // namespace tinbao::http
