#include "daemon/ctl_client.hpp"

#include <curl/curl.h>

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tinbao::ctl {
namespace {

namespace json = boost::json;

size_t collect(char* p, size_t size, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
}

// A token as given: surrounding white space (the newline an editor or `echo` leaves) removed.
std::string trimmed(std::string s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.back())) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && space(s[i])) ++i;
    return s.substr(i);
}

TokenResult from_file(const std::string& path, const std::string& from) {
    TokenResult r;
    r.from = from;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        r.error = from + ": cannot read " + path;
        return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    r.token = trimmed(ss.str());
    if (r.token.empty())
        r.error = from + ": " + path + " is empty";
    else
        r.found = true;
    return r;
}

}  // namespace

TokenResult read_token(const TokenSource& src) {
    if (src.flag) {
        TokenResult r{true, trimmed(*src.flag), {}, "--token"};
        if (r.token.empty()) {
            r.found = false;
            r.error = "--token is empty (an unset variable?)";
        }
        return r;
    }
    if (src.flag_file) return from_file(*src.flag_file, "--token-file");
    if (const char* f = std::getenv("TINBAO_TOKEN_FILE")) {
        if (!*f) return TokenResult{false, {}, "TINBAO_TOKEN_FILE is set but empty", {}};
        return from_file(f, "TINBAO_TOKEN_FILE");
    }
    if (const char* t = std::getenv("TINBAO_TOKEN")) {
        TokenResult r{true, trimmed(t), {}, "TINBAO_TOKEN"};
        if (r.token.empty()) {
            r.found = false;
            r.error = "TINBAO_TOKEN is set but empty";
        }
        return r;
    }
    return {};
}

std::string Answer::error_text() const {
    if (!transport_error.empty()) return transport_error;
    std::string out = std::to_string(status);
    if (json && json->is_object()) {
        if (auto* e = json->as_object().if_contains("error"); e && e->is_object()) {
            auto& o = e->as_object();
            if (auto* c = o.if_contains("code"); c && c->is_string())
                out += " " + std::string(c->as_string());
            if (auto* m = o.if_contains("message"); m && m->is_string())
                out += ": " + std::string(m->as_string());
            return out;
        }
    }
    return out + " " + body.substr(0, 200);
}

Answer call(const Api& api, const std::string& method, const std::string& path,
            const std::string& body) {
    Answer a;
    CURL* c = curl_easy_init();
    if (!c) {
        a.transport_error = "cannot start libcurl";
        return a;
    }
    std::string target = api.url + path;
    struct curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + api.token;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, target.c_str());
    // Only the daemon's API: no redirects, no other schemes.
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    if (!api.cacert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, api.cacert.c_str());
    if (!api.cert.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, api.cert.c_str());
    if (!api.key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, api.key.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    auto rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        a.status = 0;
        a.transport_error = api.url + ": " + curl_easy_strerror(rc);
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
            a.transport_error += " (give the listener's CA with --cacert FILE)";
        return a;
    }
    boost::system::error_code ec;
    auto v = json::parse(a.body, ec);
    if (!ec) a.json = std::move(v);
    return a;
}

std::string escape(const std::string& s) {
    CURL* c = curl_easy_init();
    char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
    std::string out = e ? e : "";
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

}  // namespace tinbao::ctl
