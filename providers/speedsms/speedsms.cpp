#include "providers/speedsms/speedsms.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/encoding.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

using adapter::clean;
using adapter::is_http_url;
using adapter::parse_retry_after;
using adapter::permanent;
using adapter::retryable;
using adapter::scalar_text;
using adapter::transport_failure;

constexpr std::string_view kSendPath = "/index.php/sms/send";
constexpr std::size_t kRawResponseMax = 4096;

struct SpeedSmsConfig {
    std::string base_url = "https://api.speedsms.vn";  // without a trailing '/'
    std::string access_token;
    std::string sender;
    int64_t sms_type = 3;
};

std::string basic_auth(const std::string& user, const std::string& password) {
    return "Basic " + base64_encode(user + ":" + password);
}

bool lists_number(const json::value* list, const std::string& to) {
    if (!list || !list->is_array()) return false;
    for (const auto& v : list->get_array())
        if (scalar_text(&v) == to) return true;
    return false;
}

SendResult classify_error_code(const std::string& code, const std::string& detail) {
    int n = -1;
    std::from_chars(code.data(), code.data() + code.size(), n);
    switch (n) {
        case 7:    // caller's IP locked
        case 9:    // account not allowed to use the API
        case 101:  // invalid or missing parameters: sender or sms_type wrong
            return permanent(reason::kConfigError, detail);
        case 8:  // account blocked
            return permanent(reason::kAuthFailed, detail);
        case 105:
            return permanent(reason::kInvalidPhone, detail);
        case 110:  // content encoding not supported
            return permanent(reason::kRejectedContent, detail);
        case 113:
            return permanent(reason::kTooLong, detail);
        case 300:
            return retryable(reason::kQuotaExceeded, detail);
        case 500:
            return retryable(reason::kProviderUnavailable, detail);
        default:
            return retryable(reason::kProviderError, detail);
    }
}

class SpeedSmsProvider final : public Provider {
  public:
    SpeedSmsProvider(ProviderSettings settings, SpeedSmsConfig config, HttpClient* http)
        : Provider(std::move(settings)), config_(std::move(config)), http_(http) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "speedsms sends sms only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");

        json::object body;
        body["to"] = json::array{json::string(msg.to)};
        body["content"] = msg.text;
        body["sms_type"] = config_.sms_type;
        if (const auto& sender = msg.sender.empty() ? config_.sender : msg.sender; !sender.empty())
            body["sender"] = sender;

        HttpRequest request;
        request.method = "POST";
        request.url = config_.base_url + std::string(kSendPath);
        request.headers = {{"Content-Type", "application/json; charset=utf-8"},
                           {"Accept", "application/json"},
                           {"Authorization", basic_auth(config_.access_token, "x")}};
        request.body = json::serialize(body);
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify_speedsms_reply(response, msg.to);
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

  private:
    SpeedSmsConfig config_;
    HttpClient* http_;
};

class SpeedSmsFactory final : public adapter::FactoryKit<SpeedSmsConfig> {
  public:
    SpeedSmsFactory() : FactoryKit("speedsms", {Channel::sms}) {}

  protected:
    SpeedSmsConfig read(const ProviderSettings&, ConfigView& cfg,
                        const ProviderContext&) const override {
        SpeedSmsConfig c;
        if (auto v = cfg.string("base_url")) {
            c.base_url = *v;
            while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
            // Operators copy the documented base "https://api.speedsms.vn/index.php/".
            if (c.base_url.ends_with("/index.php")) c.base_url.resize(c.base_url.size() - 10);
            if (!is_http_url(c.base_url))
                cfg.error("base_url", "must be an http:// or https:// URL");
        }
        if (auto v = cfg.string("access_token", true)) {
            c.access_token = *v;
            if (c.access_token.empty()) cfg.error("access_token", "must not be empty");
        }
        if (auto v = cfg.integer("sms_type", 1, 8)) c.sms_type = *v;
        if (auto v = cfg.string("sender")) c.sender = *v;
        if ((c.sms_type == 3 || c.sms_type == 5) && c.sender.empty())
            cfg.error("sender", "required for sms_type " + std::to_string(c.sms_type) +
                                    " (3: the brandname, 5: the app gateway's device)");
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, SpeedSmsConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<SpeedSmsProvider>(settings, std::move(c), ctx.http);
    }
};

}  // namespace

SendResult classify_speedsms_reply(const HttpResponse& response, const std::string& to) {
    if (auto failed = transport_failure(response)) return *failed;
    const int status = response.status;
    const std::string http = "HTTP " + std::to_string(status);
    if (status == 429) {
        auto r = retryable(reason::kThrottled, http);
        r.retry_after = parse_retry_after(response.header("x-rate-limit-reset"));
        if (!r.retry_after) r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    if (status == 401 || status == 403) return permanent(reason::kAuthFailed, http);
    if (status >= 500) {
        auto r = retryable(reason::kProviderUnavailable, http);
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }

    boost::system::error_code ec;
    json::value reply = json::parse(response.body, ec);
    const json::object* obj = (!ec && reply.is_object()) ? &reply.get_object() : nullptr;
    if (!obj)
        return retryable(reason::kProviderError, http + ": reply is not a JSON object (" +
                                                     std::to_string(response.body.size()) +
                                                     " bytes)");
    std::string state = clean(scalar_text(obj->if_contains("status")), 32);
    std::string code = clean(scalar_text(obj->if_contains("code")), 16);
    std::string message = clean(scalar_text(obj->if_contains("message")));
    std::string detail = "status " + (state.empty() ? "?" : state) + ", code " +
                         (code.empty() ? "?" : code) + (message.empty() ? "" : ": " + message);
    const json::value* data = obj->if_contains("data");
    const json::object* data_obj = data && data->is_object() ? &data->get_object() : nullptr;

    if (state == "success" && code == "00") {
        if (data_obj && lists_number(data_obj->if_contains("invalidPhone"), to))
            return permanent(reason::kInvalidPhone, detail + " (number listed as invalid)");
        std::string tran = data_obj ? clean(scalar_text(data_obj->if_contains("tranId")), 64) : "";
        return SendResult::success(tran, detail);
    }
    if (state == "error" && !code.empty()) return classify_error_code(code, detail);
    return retryable(reason::kProviderError, http + ": " + detail);
}

std::unique_ptr<ProviderFactory> make_speedsms_factory() {
    return std::make_unique<SpeedSmsFactory>();
}

}  // namespace tinbao
