// A listener's TLS context from its settings: TLS 1.2 and 1.3 only, forward-secret AEAD cipher
// suites (Mozilla's "intermediate" list for 1.2), the certificate chain and key from PEM text or
// files, and client certificates asked for when the listener has a client CA or some API client
// must present one.
//
// Threading: built on any thread; a built context is shared by the connections accepted with it
// and is not changed afterwards (a reload builds a new one).
#pragma once

#include <memory>
#include <string>

#include "daemon/config/config.hpp"

namespace boost::asio::ssl {
class context;
}

namespace tinbao::http {

// nullptr with `error` set when the files cannot be read or do not make a key pair.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const TlsSettings& tls,
                                                            bool ask_client_cert,
                                                            std::string& error);

}  // namespace tinbao::http
