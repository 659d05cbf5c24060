#include "providers/smpp/conn.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tinbao::smpp::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

std::unique_ptr<ssl::context> make_tls_context(const std::string& ca_file, std::string& error) {
    try {
        auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
        ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
        if (ca_file.empty())
            ctx->set_default_verify_paths();
        else
            ctx->load_verify_file(ca_file);
        ctx->set_verify_mode(ssl::verify_peer);
        return ctx;
    } catch (const std::exception& e) {
        error = e.what();
        if (!ca_file.empty()) error = "tls_ca_file " + ca_file + ": " + error;
        return nullptr;
    }
}

asio::awaitable<std::string> connect(ConnPtr conn, const std::string& host, uint16_t port,
                                     milliseconds timeout) {
    const auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
    auto ex = conn->socket.get_executor();
    auto resolver = std::make_shared<tcp::resolver>(ex);
    auto guard = std::make_shared<asio::steady_timer>(ex, timeout);
    auto timed_out = std::make_shared<bool>(false);
    guard->async_wait([resolver, conn, timed_out](boost::system::error_code ec) {
        if (ec) return;
        *timed_out = true;
        resolver->cancel();
        boost::system::error_code ignored;
        conn->socket.close(ignored);
    });
    auto [rec, endpoints] =
        co_await resolver->async_resolve(host, std::to_string(port), tuple_awaitable);
    if (rec) {
        guard->cancel();
        co_return "cannot resolve " + host + ": " + (*timed_out ? "timed out" : rec.message());
    }
    auto [cec, ep] = co_await asio::async_connect(conn->socket, endpoints, tuple_awaitable);
    if (cec) {
        guard->cancel();
        co_return "cannot connect to " + host + ":" + std::to_string(port) + ": " +
            (*timed_out ? "timed out after " + ms_text(timeout) : cec.message());
    }
    (void)ep;
    boost::system::error_code ignored;
    conn->socket.set_option(tcp::no_delay(true), ignored);
    if (conn->tls) {
        SSL_set_tlsext_host_name(conn->tls->native_handle(), host.c_str());
        conn->tls->set_verify_callback(ssl::host_name_verification(host));
        auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, tuple_awaitable);
        if (hec) {
            guard->cancel();
            std::string why = *timed_out ? "timed out" : hec.message();
            long verify = SSL_get_verify_result(conn->tls->native_handle());
            if (!*timed_out && verify != X509_V_OK)
                why = "the SMSC's certificate is not trusted: " +
                      std::string(X509_verify_cert_error_string(verify)) +
                      " (check tls_ca_file and the certificate's host name)";
            co_return "TLS with " + host + ":" + std::to_string(port) + " failed: " + why;
        }
    }
    guard->cancel();
    co_return std::string();
}

}  // namespace tinbao::smpp::detail
