// libFuzzer target for the API's authentication headers (daemon/http/auth.cpp): Authorization,
// X-Tinbao-Timestamp, X-Tinbao-Signature (version 1 and 2) and X-Tinbao-Nonce, with the
// method, target and body they sign. Header values, method, target and body come from the input.
//
// Besides crashes and sanitizer reports, it checks what a bug would break:
//   - a refusal is a 401 with an error body; a request with no known token is never let through;
//   - a client that must present a certificate is never let through without it;
//   - when the input asks for it, the request is signed correctly (version 1 or 2, with the
//     current time): it must then be accepted, and the same request with its body, target or
//     method changed by one byte must be refused;
//   - a version 2 request that is accepted has a nonce key, naming its client.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json/parse.hpp>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "common/crypto.hpp"
#include "daemon/config/config.hpp"
#include "daemon/http/auth.hpp"

namespace {

using namespace tinbao;
using namespace tinbao::http;

// A broken expectation names itself before aborting.
#define check(ok)                                                                         \
    do {                                                                                  \
        if (!(ok)) {                                                                      \
            std::fprintf(stderr, "signature_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #ok); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

const Config& config() {
    static const Config cfg = [] {
        Config c;
        ApiClient plain;
        plain.name = "plain";
        plain.token = "plain-token-0123456789abcdef";
        ApiClient v1;
        v1.name = "v1";
        v1.token = "v1-token-0123456789abcdef";
        v1.hmac_secret = "v1-secret";
        ApiClient v2;
        v2.name = "v2";
        v2.token = "v2-token-0123456789abcdef";
        v2.hmac_secret = "v2-secret";
        v2.signature_version = 2;
        ApiClient pinned;
        pinned.name = "pinned";
        pinned.token = "pinned-token-0123456789abcdef";
        pinned.client_cert_sha256 = {std::string(64, 'a')};
        c.http.clients = {plain, v1, v2, pinned};
        return c;
    }();
    return cfg;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool refused_properly(const Response& r) {
    if (r.status != 401) return false;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    return !ec && v.is_object() && v.as_object().contains("error");
}

// identify() and, when it lets the request through, verify_signature(): nullptr when refused.
const ApiClient* admit(const Request& req) {
    auto who = identify(config(), req);
    if (auto* refused = std::get_if<Response>(&who)) {
        check(refused_properly(*refused));
        return nullptr;
    }
    const ApiClient* client = std::get<const ApiClient*>(who);
    check(client != nullptr);
    if (auto denied = verify_signature(*client, req)) {
        check(refused_properly(*denied));
        return nullptr;
    }
    return client;
}

void sign(Request& req, const ApiClient& client, bool v2) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string ts = std::to_string(now);
    req.headers["x-tinbao-timestamp"] = ts;
    if (v2) {
        std::string& nonce = req.headers["x-tinbao-nonce"];
        if (nonce.size() < 16 || nonce.size() > 128) nonce = "nonce-0123456789abcdef";
        for (char& c : nonce)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = 'n';
        req.headers["x-tinbao-signature"] =
            "v2=" + hmac_sha256_hex(client.hmac_secret,
                                    signing_text_v2(req.method, req.target, ts, nonce, req.body));
    } else {
        req.headers["x-tinbao-signature"] =
            "sha256=" + hmac_sha256_hex(client.hmac_secret, ts + "." + req.body);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const auto& clients = config().http.clients;
    Request req;
    static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE"};
    req.method = in.ConsumeBool() ? std::string(kMethods[in.ConsumeIntegralInRange<int>(0, 3)])
                                  : in.ConsumeRandomLengthString(8);
    req.target = in.ConsumeRandomLengthString(200);
    // Authorization: a configured token (as a client sends it, or mangled), or arbitrary bytes.
    const int who = in.ConsumeIntegralInRange<int>(0, static_cast<int>(clients.size()));
    std::string authorization = in.ConsumeRandomLengthString(80);
    if (who < static_cast<int>(clients.size()) && in.ConsumeBool())
        authorization = "Bearer " + clients[who].token + authorization.substr(0, 2);
    else if (who < static_cast<int>(clients.size()))
        authorization = "Bearer " + clients[who].token;
    req.headers["authorization"] = authorization;
    for (const char* name : {"x-tinbao-timestamp", "x-tinbao-signature", "x-tinbao-nonce"})
        if (in.ConsumeBool()) req.headers[name] = in.ConsumeRandomLengthString(140);
    if (in.ConsumeBool()) req.peer_cert_sha256 = in.ConsumeRandomLengthString(70);
    const bool sign_it = in.ConsumeBool();
    const bool v2 = in.ConsumeBool();
    req.body = in.ConsumeRemainingBytesAsString();

    // The client the header names, read independently of auth.cpp: "Bearer" in any case, one
    // space, the token exactly, spaces and tabs around either ignored.
    const ApiClient* client = nullptr;
    const std::string_view value = trim(authorization);
    if (value.size() > 7 && lower(value.substr(0, 7)) == "bearer ")
        for (const auto& c : clients)
            if (trim(value.substr(7)) == c.token) client = &c;
    if (sign_it && client != nullptr && !client->hmac_secret.empty())
        sign(req, *client, v2 || client->signature_version == 2);

    const ApiClient* admitted = admit(req);
    if (admitted == nullptr) {
        // A correctly signed request by a client that needs nothing else is never refused.
        check(!(sign_it && client != nullptr && !client->hmac_secret.empty()));
        return 0;
    }
    // Let through: only with a configured token, exactly as configured (nothing appended).
    check(client == admitted);
    if (!admitted->client_cert_sha256.empty())
        check(req.peer_cert_sha256 == admitted->client_cert_sha256.front());
    if (admitted->hmac_secret.empty()) {
        check(nonce_key(*admitted, req).empty());
        return 0;
    }
    const bool was_v2 = req.header("x-tinbao-signature").starts_with("v2=");
    if (was_v2) {
        std::string key = nonce_key(*admitted, req);
        check(key.find(":" + admitted->name + ":") != std::string::npos);
    }
    // Signed: changing the body, the target (v2) or the method (v2) breaks the signature.
    Request changed = req;
    changed.body += 'x';
    check(admit(changed) == nullptr);
    if (was_v2) {
        changed = req;
        changed.target += 'x';
        check(admit(changed) == nullptr);
        changed = req;
        changed.method += 'x';
        check(admit(changed) == nullptr);
    }
    return 0;
}
