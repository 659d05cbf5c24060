#include "daemon/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <ctime>
#include <exception>
#include <list>
#include <system_error>

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
    State(asio::io_context& io_, ServerOptions options_, Handler handler_)
        : io(io_), options(std::move(options_)), handler(std::move(handler_)), acceptor(io_) {}

    asio::io_context& io;
    ServerOptions options;
    Handler handler;
    tcp::acceptor acceptor;
    uint16_t port = 0;
    bool stopping = false;
    std::list<Connection> connections;  // list: stable iterators for the sessions' guards
};

namespace {

using StatePtr = std::shared_ptr<Server::State>;

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
// keeps sending is read and thrown away (bounded), so the close does not reset the connection
// and discard our response before the client read it.
asio::awaitable<void> lingering_close(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
        stream.expires_after(kDrainTime);
        std::array<char, 8192> sink;
        std::size_t drained = 0;
        while (drained < kDrainLimit) {
            auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kTok);
            if (rec) break;
            drained += n;
        }
    }
    stream.socket().close(ec);
}

asio::awaitable<void> send_error_and_close(beast::tcp_stream& stream, unsigned version, int status,
                                           std::string_view code, std::string_view message,
                                           std::chrono::milliseconds write_timeout) {
    Response r;
    r.status = status;
    r.body = error_body(code, message);
    auto out = make_response(std::move(r), version == 0 ? 11 : version, false, false);
    stream.expires_after(write_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream, out, kTok);
    if (!ec) co_await lingering_close(stream);
}

// Fills `req` from the parsed message. False when the target is not an origin-form URL.
bool build_request(bhttp::request<bhttp::string_body>& msg, Request& req) {
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
    req.body = std::move(msg.body());
    return true;
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

asio::awaitable<void> run_session(StatePtr st, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto self = st->connections.insert(st->connections.end(), Connection{&stream, true});
    struct Guard {
        Server::State* st;
        std::list<Connection>::iterator it;
        ~Guard() { st->connections.erase(it); }
    } guard{st.get(), self};

    beast::error_code ec;
    auto endpoint = stream.socket().remote_endpoint(ec);
    const std::string remote =
        ec ? std::string("?")
           : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    const ServerOptions& opt = st->options;
    beast::flat_buffer buffer;

    for (;;) {
        self->idle = true;
        if (st->stopping) break;
        if (buffer.size() == 0) {
            // Waiting for the first byte of the next request: the idle deadline.
            stream.expires_after(opt.idle_timeout);
            auto [rec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTok);
            if (rec) break;
            buffer.commit(n);
        }
        self->idle = false;

        stream.expires_after(opt.read_timeout);
        bhttp::request_parser<bhttp::string_body> parser;
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
        if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
            bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
            auto [cec, cn] = co_await bhttp::async_write(stream, cont, kTok);
            if (cec) break;
        }
        if (!parser.is_done()) {
            auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTok);
            if (bec == bhttp::error::body_limit) {
                co_await send_error_and_close(
                    stream, header.version(), 413, "payload_too_large",
                    "request body larger than " + std::to_string(opt.max_body_bytes) + " bytes",
                    opt.read_timeout);
                co_return;
            }
            if (bec) {
                if (is_http_error(bec) && bec != bhttp::error::partial_message) {
                    co_await send_error_and_close(stream, header.version(), 400, "bad_request",
                                                  "malformed HTTP request body", opt.read_timeout);
                    co_return;
                }
                break;
            }
        }

        auto msg = parser.release();
        const unsigned version = msg.version();
        const bool head = msg.method() == bhttp::verb::head;
        bool keep_alive = msg.keep_alive();
        Request req;
        req.remote = remote;
        if (!build_request(msg, req)) {
            co_await send_error_and_close(stream, version, 400, "bad_request",
                                          "request target is not a valid path", opt.read_timeout);
            co_return;
        }

        Response res = co_await call_handler(st, req);
        keep_alive = keep_alive && !st->stopping;
        auto out = make_response(std::move(res), version, keep_alive, head);
        stream.expires_after(opt.read_timeout);
        auto [wec, wn] = co_await bhttp::async_write(stream, out, kTok);
        if (wec) break;
        if (!keep_alive) {
            co_await lingering_close(stream);
            co_return;
        }
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
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
        if (st->connections.size() >= st->options.max_connections) {
            spdlog::debug("http: connection refused, {} open", st->connections.size());
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(st->io, run_session(st, std::move(socket)), log_exception);
    }
}

}  // namespace

Server::Server(asio::io_context& io, ServerOptions options, Handler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

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

}  // namespace tinbao::http
