// The parts of the HTTP client that are text only: splitting a URL and writing a request's head.
#include <algorithm>
#include <cctype>
#include <string>

#include "daemon/io/http_pool.hpp"

namespace tinbao {

namespace {

// RFC 9110 section 5.6.2: the characters of a method or a field name.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                      std::string_view::npos;
    });
}

bool has_control(std::string_view s) {
    // Tab is allowed in a field value; every other control character would end or bend the line.
    return std::any_of(s.begin(), s.end(),
                       [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.size() <= 5 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& why) {
    auto sep = url.find("://");
    if (sep == std::string_view::npos) {
        why = "not an absolute URL";
        return std::nullopt;
    }
    HttpUrl u;
    const std::string scheme = ascii_lower(url.substr(0, sep));
    if (scheme == "https") {
        u.tls = true;
    } else if (scheme != "http") {
        why = "unsupported URL scheme '" + scheme + "' (http or https)";
        return std::nullopt;
    }
    std::string_view rest = url.substr(sep + 3);
    auto end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
    if (authority.find('@') != std::string_view::npos) {
        why = "user information in the URL is not supported";
        return std::nullopt;
    }
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "unterminated IPv6 address in the URL";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) {
            why = "invalid authority in the URL";
            return std::nullopt;
        }
        if (!after.empty()) port = after.substr(1);
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || has_control(host) || host.find(' ') != std::string_view::npos) {
        why = "no valid host in the URL";
        return std::nullopt;
    }
    if (!port.empty()) {
        if (!all_digits(port) || std::stoi(std::string(port)) < 1 ||
            std::stoi(std::string(port)) > 65535) {
            why = "invalid port in the URL";
            return std::nullopt;
        }
    }
    u.host = std::string(host);
    u.port = port.empty() ? (u.tls ? "443" : "80") : std::string(port);
    u.authority = std::string(authority);
    if (path.empty() || path.starts_with('?'))
        u.target = "/" + std::string(path);
    else
        u.target = std::string(path);
    if (std::any_of(u.target.begin(), u.target.end(),
                    [](unsigned char c) { return c <= 0x20 || c == 0x7f; })) {
        why = "invalid character in the URL's path or query";
        return std::nullopt;
    }
    return u;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::optional<std::string> serialize_request(const HttpRequest& request, const HttpUrl& url,
                                             std::string_view user_agent, std::string& why) {
    const std::string& method = request.method;
    if (!is_token(method)) {
        why = "invalid HTTP method";
        return std::nullopt;
    }
    bool has_host = false;
    bool has_agent = false;
    std::size_t size = method.size() + url.target.size() + url.authority.size() +
                       user_agent.size() + request.body.size() + 80;
    for (const auto& [name, value] : request.headers) {
        if (!is_token(name) || has_control(value)) {
            why = "invalid header '" + name + "'";
            return std::nullopt;
        }
        const std::string l = ascii_lower(name);
        has_host = has_host || l == "host";
        has_agent = has_agent || l == "user-agent";
        size += name.size() + value.size() + 4;
    }
    // GET and HEAD carry no body (as libcurl sent them); every other method says its length.
    const bool bodyless = method == "GET" || method == "HEAD";
    std::string out;
    out.reserve(size);
    out.append(method).append(" ").append(url.target).append(" HTTP/1.1\r\n");
    if (!has_host) out.append("Host: ").append(url.authority).append("\r\n");
    if (!has_agent && !user_agent.empty())
        out.append("User-Agent: ").append(user_agent).append("\r\n");
    for (const auto& [name, value] : request.headers) {
        // The framing is the client's own: a caller's length, encoding or connection header
        // would contradict it. "Expect: 100-continue" is not supported (and for the small
        // bodies of providers only adds a round trip).
        const std::string l = ascii_lower(name);
        if (l == "content-length" || l == "transfer-encoding" || l == "connection" || l == "expect")
            continue;
        out.append(name).append(": ").append(value).append("\r\n");
    }
    if (!bodyless)
        out.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
    out.append("\r\n");
    if (!bodyless) out.append(request.body);
    return out;
}

}  // namespace tinbao
