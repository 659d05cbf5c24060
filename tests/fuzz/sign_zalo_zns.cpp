// Signs a fuzzed Zalo webhook the way Zalo does, so that the driver reaches what lies behind the
// signature check: X-ZEvent-Signature: mac=<hex SHA-256 of app_id + body + timestamp + secret>
// (providers/zalo_zns/zalo_webhook.cpp; docs/providers/zalo_zns.md). When the body is a JSON
// object its "timestamp" is set to now first, so that the replay window lets it through too.
// The app id and secret are those of the fuzz config (tests/fuzz/CMakeLists.txt).
#include <boost/json.hpp>

#include <chrono>
#include <string>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "providers/adapter_util.hpp"
#include "providers/provider.hpp"

void tinbao_fuzz_sign(tinbao::CallbackRequest& request) {
    namespace json = boost::json;
    boost::system::error_code ec;
    json::value v = json::parse(request.body, ec);
    std::string timestamp;
    if (!ec && v.is_object()) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        v.as_object()["timestamp"] = std::to_string(now);
        request.body = json::serialize(v);
        timestamp = tinbao::adapter::scalar_text(v.as_object().if_contains("timestamp"));
    }
    const std::string mac = tinbao::hex_encode(
        tinbao::sha256("a" + request.body + timestamp + "fuzz-token-0123456789"));
    request.headers.emplace_back("x-zevent-signature", "mac=" + mac);
}
