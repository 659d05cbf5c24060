#include "daemon/http/tls.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>

namespace tinbao::http {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's intermediate configuration, TLS 1.2 part (TLS 1.3's suites are all AEAD already):
// https://wiki.mozilla.org/Security/Server_Side_TLS
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

bool pem_or_file(const std::string& value, std::string& out, std::string& error) {
    if (value.find("-----BEGIN ") != std::string::npos) {
        out = value;
        return true;
    }
    std::ifstream in(value, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
        error = "cannot read " + value;
        return false;
    }
    out = text.str();
    return true;
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const TlsSettings& tls, bool ask_client_cert,
                                               std::string& error) {
    std::string cert, key, ca;
    if (!pem_or_file(tls.cert, cert, error) || !pem_or_file(tls.key, key, error)) return nullptr;
    if (!tls.client_ca.empty() && !pem_or_file(tls.client_ca, ca, error)) return nullptr;
    try {
        auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
        ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                         ssl::context::no_compression);
        SSL_CTX* native = ctx->native_handle();
        SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
        SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
        if (SSL_CTX_set_cipher_list(native, kCiphers12) != 1) {
            error = "the cipher list is not supported by this OpenSSL";
            return nullptr;
        }
        ctx->use_certificate_chain(boost::asio::buffer(cert));
        ctx->use_private_key(boost::asio::buffer(key), ssl::context::pem);
        if (SSL_CTX_check_private_key(native) != 1) {
            error = "the key does not match the certificate";
            return nullptr;
        }
        if (!ca.empty()) {
            ctx->add_certificate_authority(boost::asio::buffer(ca));
            // A client certificate that does not chain to the CA fails the handshake; none at
            // all is fine here, the API decides which clients need one.
            ctx->set_verify_mode(ssl::verify_peer);
        } else if (ask_client_cert) {
            // Pinned by fingerprint per client (the API checks it): any certificate is taken
            // in the handshake, self-signed ones included.
            ctx->set_verify_mode(ssl::verify_peer);
            ctx->set_verify_callback([](bool, ssl::verify_context&) { return true; });
        }
        // Needed for session resumption when client certificates are asked for.
        static const unsigned char kSessionContext[] = "tinbao";
        SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
        return ctx;
    } catch (const std::exception& e) {
        error = std::string("TLS certificate or key: ") + e.what();
        return nullptr;
    }
}

}  // namespace tinbao::http
