// One libcurl transfer on an easy handle, the part of the HTTP and mail clients that knows
// libcurl's options and answers but nothing of the multi handle or Asio (curl_multi.cpp drives
// the transfers): the Transfer record, configuring it for an HTTP request or an SMTP message,
// and reading its result once libcurl is done with it.
//
// Threading: a Transfer belongs to the thread of the multi handle that runs it.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>

#include "daemon/io/curl_multi.hpp"

namespace tinbao::curl {

// The waiting operation's completion handler, type-erased (move-only). The implementation
// (curl_multi.cpp) posts the answer to the handler's own executor, never runs it inline.
template <typename R>
class Completion {
  public:
    virtual ~Completion() = default;
    virtual void complete(R result) = 0;
};

using Handler = std::unique_ptr<Completion<HttpResponse>>;
using MailHandler = std::unique_ptr<Completion<MailResult>>;

// One transfer: the easy handle, the request it sends (the body must outlive the transfer) and
// the answer being collected.
struct Transfer {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpRequest request;
    HttpResponse response;
    std::size_t max_body = 0;
    bool too_large = false;
    char error_buffer[CURL_ERROR_SIZE] = {};
    Handler handler;  // set for HTTP transfers

    // SMTP transfers: the message is uploaded from `mail.message` through on_mail_read.
    MailHandler mail_handler;  // set for SMTP transfers
    MailRequest mail;
    std::size_t mail_sent = 0;
    curl_slist* recipients = nullptr;

    ~Transfer() {
        if (headers) curl_slist_free_all(headers);
        if (recipients) curl_slist_free_all(recipients);
        if (easy) curl_easy_cleanup(easy);
    }
};

// Create and configure `t.easy` for the request in `t.request` (or the message in `t.mail`).
// Return an empty string, or why it cannot be sent.
std::string configure_http(Transfer& t, const CurlMultiOptions& options);
std::string configure_mail(Transfer& t, const CurlMultiOptions& options);

// The answer of a transfer libcurl finished with `rc`.
HttpResponse http_result(Transfer& t, CURLcode rc);
MailResult mail_result(Transfer& t, CURLcode rc);

}  // namespace tinbao::curl
