// The SMTP email adapter: type `smtp`, channel email.
//
// Builds the RFC 5322 message itself (providers/smtp/mime.hpp) and hands it to the shared
// MailClient (libcurl on the daemon's multi handle). Keys: url (required; `smtp://host:port`
// uses STARTTLS when the server offers it, `smtps://` is implicit TLS), username and password
// (both or neither), from (required; "Display Name <address>" or an address), reply_to,
// tls_verify (default true), require_tls (default false: smtp:// fails unless STARTTLS works).
// Reply codes: 5xx permanent (550/551/553 no_contact, 552/554 rejected_content, 53x
// auth_failed), 4xx retryable, connection problems and timeouts retryable.
//
// Threading: send() runs on the daemon's io_context through the MailClient.
#pragma once

#include <memory>

#include "providers/mail_client.hpp"
#include "providers/provider.hpp"

namespace tinbao {

std::unique_ptr<ProviderFactory> make_smtp_factory();

// How a MailClient outcome maps to a SendResult. Exposed for tests.
SendResult classify_smtp_result(const MailResult& result);

}  // namespace tinbao
