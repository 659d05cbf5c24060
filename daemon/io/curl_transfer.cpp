#include "daemon/io/curl_transfer.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>
#include <utility>

namespace tinbao::curl {

namespace {

HttpResponse::Error classify(CURLcode rc) {
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            return HttpResponse::Error::timeout;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return HttpResponse::Error::connect;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_USE_SSL_FAILED:
            return HttpResponse::Error::tls;
        default:
            return HttpResponse::Error::other;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * count;
    if (t->response.body.size() + len > t->max_body) {
        t->too_large = true;
        return 0;  // anything but `len` makes libcurl abort the transfer
    }
    t->response.body.append(data, len);
    return len;
}

size_t on_mail_read(char* buffer, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t room = size * count;
    size_t left = t->mail.message.size() - t->mail_sent;
    size_t n = std::min(room, left);
    if (n > 0) std::memcpy(buffer, t->mail.message.data() + t->mail_sent, n);
    t->mail_sent += n;
    return n;
}

MailResult::Error classify_mail(CURLcode rc, long reply_code) {
    switch (classify(rc)) {
        case HttpResponse::Error::timeout:
            return MailResult::Error::timeout;
        case HttpResponse::Error::connect:
            return MailResult::Error::connect;
        case HttpResponse::Error::tls:
            return MailResult::Error::tls;
        default:
            break;
    }
    if (rc == CURLE_LOGIN_DENIED) return MailResult::Error::login;
    // libcurl ends the transfer with a send/weird-reply error when the server refuses a
    // command; the reply code tells the refusal apart from a broken connection.
    if (reply_code >= 400) return MailResult::Error::rejected;
    return MailResult::Error::other;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * count;
    std::string_view line(data, len);
    // A new status line starts a new header block (1xx interim answers come first).
    if (line.starts_with("HTTP/")) {
        t->response.headers.clear();
        return len;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return len;
    std::string name(trim(line.substr(0, colon)));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    t->response.headers.emplace_back(std::move(name), std::string(trim(line.substr(colon + 1))));
    return len;
}

}  // namespace

std::string configure_mail(Transfer& t, const CurlMultiOptions& options) {
    const MailRequest& m = t.mail;
    bool smtps = m.url.starts_with("smtps://");
    if (!smtps && !m.url.starts_with("smtp://")) return "mail URL must be smtp:// or smtps://";
    if (m.recipients.empty()) return "no recipient";
    for (const auto& a : m.recipients)
        if (a.empty() || has_line_break(a)) return "invalid recipient address";
    if (has_line_break(m.mail_from)) return "invalid sender address";
    t.easy = curl_easy_init();
    if (!t.easy) return "curl_easy_init failed";
    CURL* e = t.easy;
    curl_easy_setopt(e, CURLOPT_URL, m.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long timeout_ms = std::max<long>(1, static_cast<long>(m.timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!smtps)
        curl_easy_setopt(
            e, CURLOPT_USE_SSL,
            m.require_tls ? static_cast<long>(CURLUSESSL_ALL) : static_cast<long>(CURLUSESSL_TRY));
    bool verify = m.verify_tls && options.verify_tls;
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
    if (!m.username.empty()) {
        curl_easy_setopt(e, CURLOPT_USERNAME, m.username.c_str());
        curl_easy_setopt(e, CURLOPT_PASSWORD, m.password.c_str());
    }
    std::string from = "<" + m.mail_from + ">";
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from.c_str());  // libcurl copies the string
    for (const auto& a : m.recipients) {
        std::string rcpt = "<" + a + ">";
        curl_slist* next = curl_slist_append(t.recipients, rcpt.c_str());
        if (!next) return "out of memory";
        t.recipients = next;
    }
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t.recipients);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &on_mail_read);
    curl_easy_setopt(e, CURLOPT_READDATA, &t);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(m.message.size()));
    return {};
}

std::string configure_http(Transfer& t, const CurlMultiOptions& options) {
    t.easy = curl_easy_init();
    if (!t.easy) return "curl_easy_init failed";
    CURL* e = t.easy;
    const HttpRequest& r = t.request;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long timeout_ms = std::max<long>(1, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    // An empty proxy string disables the proxy environment variables too.
    curl_easy_setopt(e, CURLOPT_PROXY, options.proxy.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    if (!options.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());

    if (r.method == "GET") {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (r.method.empty() || has_line_break(r.method) || r.method.find(' ') != std::string::npos)
            return "invalid HTTP method";
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
        if (r.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }

    bool has_expect = false;
    for (const auto& [name, value] : r.headers) {
        if (name.empty() || has_line_break(name) || has_line_break(value) ||
            name.find(':') != std::string::npos)
            return "invalid header '" + name + "'";
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower == "expect") has_expect = true;
        // "Name;" is libcurl's way of sending a header with an empty value.
        std::string line = value.empty() ? name + ";" : name + ": " + value;
        curl_slist* next = curl_slist_append(t.headers, line.c_str());
        if (!next) return "out of memory";
        t.headers = next;
    }
    // Small JSON bodies gain nothing from "Expect: 100-continue" but a round trip.
    if (!has_expect) {
        curl_slist* next = curl_slist_append(t.headers, "Expect:");
        if (!next) return "out of memory";
        t.headers = next;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
    return {};
}

MailResult mail_result(Transfer& t, CURLcode rc) {
    MailResult result;
    long reply = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &reply);
    result.reply_code = static_cast<int>(reply);
    if (rc != CURLE_OK) {
        result.error = classify_mail(rc, reply);
        result.error_text = t.error_buffer[0] ? t.error_buffer : curl_easy_strerror(rc);
    }
    return result;
}

HttpResponse http_result(Transfer& t, CURLcode rc) {
    HttpResponse resp = std::move(t.response);
    if (t.too_large) {
        resp.error = HttpResponse::Error::other;
        resp.error_text = "response body larger than " + std::to_string(t.max_body) + " bytes";
    } else if (rc != CURLE_OK) {
        resp.error = classify(rc);
        resp.error_text = t.error_buffer[0] ? t.error_buffer : curl_easy_strerror(rc);
    } else {
        long status = 0;
        curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
        resp.status = static_cast<int>(status);
    }
    if (resp.error != HttpResponse::Error::none) {
        resp.status = 0;
        resp.body.clear();
        resp.headers.clear();
    }
    return resp;
}

}  // namespace tinbao::curl
