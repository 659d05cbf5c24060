// tinbaoctl's side of the daemon's HTTP API: where the API is (http or https, with a CA file and
// a client certificate for a listener that asks for one), the token (from a file or the
// environment; never required on the command line), and one blocking request at a time.
//
// For the command-line tool only: blocking libcurl calls, one thread.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>

namespace tinbao::ctl {

struct Api {
    std::string url;  // "http://127.0.0.1:8080" or "https://..."; no trailing '/'
    std::string token;
    std::string cacert;  // a CA bundle to check the listener's certificate with (https)
    std::string cert;    // a client certificate (PEM) for a listener that asks for one
    std::string key;     // its key (PEM)
};

// Where the token comes from, in order: --token (warned: it shows in `ps`), --token-file,
// $TINBAO_TOKEN_FILE, $TINBAO_TOKEN. A source that is given but empty is an error, never an
// empty token sent; no source at all leaves `found` false (the caller may then take the
// config's first client's token).
struct TokenSource {
    std::optional<std::string> flag;       // --token
    std::optional<std::string> flag_file;  // --token-file
};
struct TokenResult {
    bool found = false;
    std::string token;
    std::string error;  // non-empty: say it and exit 2
    std::string from;   // where it came from, for messages
};
TokenResult read_token(const TokenSource& src);

struct Answer {
    long status = 0;  // HTTP status; 0 when there was no answer
    std::string body;
    std::optional<boost::json::value> json;  // the body, when it is JSON
    std::string transport_error;             // non-empty when there was no answer
    bool ok() const { return status >= 200 && status < 300; }
    // The API's error text ("404 not_found: no such event"), or the transport's.
    std::string error_text() const;
};

// One request; `body` is sent for POST. Times out after 30 s.
Answer call(const Api& api, const std::string& method, const std::string& path,
            const std::string& body = {});

// Percent-encodes a path segment or query value.
std::string escape(const std::string& s);

}  // namespace tinbao::ctl
