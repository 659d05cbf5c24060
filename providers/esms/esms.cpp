#include "providers/esms/esms.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "providers/reasons.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

constexpr std::string_view kSendPath = "/MainService.svc/json/SendMultipleMessage_V4_post_json/";

struct EsmsConfig {
    std::string base_url;  // without a trailing '/'
    std::string api_key;
    std::string secret_key;
    std::string brandname;
    std::string sms_type = "2";
    bool sandbox = false;
    std::string callback_url;
};

SendResult retryable(std::string_view reason, std::string detail) {
    return SendResult::fail(FailureClass::retryable, std::string(reason), std::move(detail));
}

SendResult permanent(std::string_view reason, std::string detail) {
    return SendResult::fail(FailureClass::permanent, std::string(reason), std::move(detail));
}

// Provider text goes into records and logs: keep it short and printable.
std::string clean(std::string_view s, std::size_t max = 200) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) break;
        out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    }
    return out;
}

// Retry-After as delta-seconds; an HTTP date or garbage gives nothing.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view v) {
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 0) return std::nullopt;
    return std::chrono::seconds(n);
}

// A JSON value that eSMS documents as a string but may send as a number.
std::string scalar_text(const json::value* v) {
    if (!v) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    return {};
}

SendResult classify_code(const std::string& code, const std::string& message,
                         const std::string& smsid) {
    std::string detail = "CodeResult " + code;
    if (!message.empty()) detail += ": " + message;
    int n = -1;
    std::from_chars(code.data(), code.data() + code.size(), n);
    switch (n) {
        case 100:
            return SendResult::success(smsid, detail);
        case 124:
            // RequestId is our message id: an earlier attempt was accepted (CONTRACT §5).
            return SendResult::success(smsid, detail + " (duplicate RequestId: already sent)");
        case 99:
            return permanent(reason::kBlocked, detail);
        case 101:
            return permanent(reason::kAuthFailed, detail);
        case 102:  // no price list for the account
        case 104:  // brandname missing or inactive
        case 107:  // advertising type needs 30 or more numbers: sms_type is wrong
        case 140:  // caller's IP not whitelisted
        case 177:  // brandname not registered with the recipient's carrier
            return permanent(reason::kConfigError, detail);
        case 103:
            return retryable(reason::kQuotaExceeded, detail);
        case 108:
            return permanent(reason::kInvalidPhone, detail);
        case 110:
            return permanent(reason::kRejectedContent, detail);
        case 146:
            return permanent(reason::kTemplateNotRegistered, detail);
        // 105 (message not found), 120 (too many numbers) and the Zalo codes 204/789/790/791/799
        // are documented for other eSMS calls; a single CSKH send should never see them, so they
        // are unknown answers here.
        default:
            return retryable(reason::kProviderError, detail);
    }
}

class EsmsProvider final : public Provider {
  public:
    EsmsProvider(ProviderSettings settings, EsmsConfig config, HttpClient* http)
        : Provider(std::move(settings)), config_(std::move(config)), http_(http) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "esms sends sms only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");

        // eSMS documents every field as a string.
        json::object body;
        body["ApiKey"] = config_.api_key;
        body["SecretKey"] = config_.secret_key;
        body["Phone"] = msg.to;
        body["Content"] = msg.text;
        body["Brandname"] = config_.brandname;
        body["SmsType"] = config_.sms_type;
        body["IsUnicode"] = msg.unicode ? "1" : "0";
        body["Sandbox"] = config_.sandbox ? "1" : "0";
        body["RequestId"] = msg.id;
        if (!config_.callback_url.empty()) body["CallbackUrl"] = config_.callback_url;

        HttpRequest request;
        request.method = "POST";
        request.url = config_.base_url + std::string(kSendPath);
        request.headers = {{"Content-Type", "application/json; charset=utf-8"},
                           {"Accept", "application/json"}};
        request.body = json::serialize(body);
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        co_return classify_esms_reply(response);
    }

  private:
    EsmsConfig config_;
    HttpClient* http_;
};

bool is_http_url(std::string_view s) {
    return (s.starts_with("http://") && s.size() > 7) ||
           (s.starts_with("https://") && s.size() > 8);
}

class EsmsFactory final : public ProviderFactory {
  public:
    std::string_view type() const override { return "esms"; }
    bool supports(Channel c) const override { return c == Channel::sms; }

    std::unique_ptr<Provider> create(const ProviderSettings& settings, ConfigView& cfg,
                                     const ProviderContext& ctx) const override {
        std::size_t errors_before = cfg.diagnostics().items.size();
        EsmsConfig c;
        if (auto v = cfg.string("base_url", true)) {
            c.base_url = *v;
            while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
            if (!is_http_url(c.base_url))
                cfg.error("base_url", "must be an http:// or https:// URL");
        }
        if (auto v = cfg.string("api_key", true)) c.api_key = *v;
        if (auto v = cfg.string("secret_key", true)) c.secret_key = *v;
        if (auto v = cfg.string("brandname", true)) {
            c.brandname = *v;
            if (c.brandname.empty()) cfg.error("brandname", "must not be empty");
        }
        if (auto v = cfg.string("sms_type")) {
            c.sms_type = *v;
            bool digits = !c.sms_type.empty() &&
                          c.sms_type.find_first_not_of("0123456789") == std::string::npos;
            if (!digits)
                cfg.error("sms_type", "must be an eSMS SmsType number such as \"2\"");
            else if (c.sms_type == "1")
                cfg.error("sms_type",
                          "\"1\" (advertising) needs 30 or more numbers per request and another "
                          "API; use \"2\" (customer care)");
        }
        if (auto v = cfg.boolean("sandbox")) c.sandbox = *v;
        if (auto v = cfg.string("callback_url")) {
            c.callback_url = *v;
            if (!is_http_url(c.callback_url))
                cfg.error("callback_url", "must be an http:// or https:// URL");
        }
        if (!supports(settings.channel)) cfg.error("channel", "type esms serves channel sms only");
        cfg.finish();
        if (cfg.diagnostics().items.size() != errors_before) return nullptr;
        return std::make_unique<EsmsProvider>(settings, std::move(c), ctx.http);
    }
};

}  // namespace

SendResult classify_esms_reply(const HttpResponse& response) {
    using E = HttpResponse::Error;
    switch (response.error) {
        case E::none:
            break;
        case E::timeout:
            return retryable(reason::kTimeout, clean(response.error_text));
        case E::connect:
        case E::tls:
            return retryable(reason::kProviderUnavailable, clean(response.error_text));
        case E::other:
            return retryable(reason::kProviderError, clean(response.error_text));
    }
    const int status = response.status;
    if (status == 429) {
        auto r = retryable(reason::kThrottled, "HTTP 429");
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    if (status >= 500) {
        auto r = retryable(reason::kProviderUnavailable, "HTTP " + std::to_string(status));
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }

    boost::system::error_code ec;
    json::value reply = json::parse(response.body, ec);
    const json::object* obj = (!ec && reply.is_object()) ? &reply.get_object() : nullptr;
    const json::value* code = obj ? obj->if_contains("CodeResult") : nullptr;
    std::string code_text = scalar_text(code);
    if (code_text.empty()) {
        return retryable(reason::kProviderError,
                         "HTTP " + std::to_string(status) + ": reply without CodeResult (" +
                             std::to_string(response.body.size()) + " bytes)");
    }
    return classify_code(clean(code_text, 16), clean(scalar_text(obj->if_contains("ErrorMessage"))),
                         clean(scalar_text(obj->if_contains("SMSID")), 100));
}

std::unique_ptr<ProviderFactory> make_esms_factory() { return std::make_unique<EsmsFactory>(); }

}  // namespace tinbao
