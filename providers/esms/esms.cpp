#include "providers/esms/esms.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/crypto.hpp"
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

constexpr std::string_view kSendPath = "/MainService.svc/json/SendMultipleMessage_V4_post_json/";

struct EsmsConfig {
    std::string base_url;  // without a trailing '/'
    std::string api_key;
    std::string secret_key;
    std::string brandname;
    std::string sms_type = "2";
    bool sandbox = false;
    std::string callback_url;    // sent as CallbackUrl; carries the token when there is one
    std::string callback_token;  // what a delivery report must carry as ?token=
};

constexpr std::size_t kRawResponseMax = 4096;
constexpr std::size_t kMinTokenLength = 16;

const std::string* query_value(const CallbackRequest& r, std::string_view name) {
    for (const auto& [k, v] : r.query)
        if (k == name) return &v;
    return nullptr;
}

// A count or status from the query; -1 when absent or not a number.
long query_number(const CallbackRequest& r, std::string_view name) {
    const std::string* v = query_value(r, name);
    if (!v) return -1;
    long n = -1;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size()) return -1;
    return n;
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
            // RequestId is our message id: an earlier attempt was accepted (a resend is not a new
            // message).
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

        HttpRequest request = request_for(msg);
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify_esms_reply(response);
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

    // eSMS calls back with GET when a message reaches a final state (docs/providers/esms.md), and
    // retries on timeouts: answering is quick, and repeating an update is harmless.
    std::optional<CallbackResult> handle_callback(const CallbackRequest& request) override {
        CallbackResult result;
        const std::string* token = query_value(request, "token");
        if (config_.callback_token.empty() || !token ||
            !constant_time_equal(*token, config_.callback_token)) {
            result.status = 403;
            result.body = R"({"error":{"code":"forbidden","message":"bad callback token"}})";
            return result;
        }
        const std::string* request_id = query_value(request, "RequestId");
        const std::string* smsid = query_value(request, "SMSID");
        long status = query_number(request, "SendStatus");
        long success = query_number(request, "SendSuccess");
        long failed = query_number(request, "SendFailed");
        if (!request_id || request_id->empty()) return result;  // nothing of ours to update

        DeliveryUpdate u;
        u.message_id = clean(*request_id, 100);
        if (smsid) u.provider_message_id = clean(*smsid, 100);
        u.detail = "SendStatus " + std::to_string(status) + ", SendSuccess " +
                   std::to_string(success) + ", SendFailed " + std::to_string(failed);
        if (status == 5 && success >= 1) {
            u.state = "delivered";
        } else if (status == 4) {
            u.state = "failed";
            u.reason = std::string(reason::kRejectedContent);
            u.detail = "rejected by eSMS review (" + u.detail + ")";
        } else if (status == 5 && failed >= 1) {
            u.state = "failed";
            u.reason = std::string(reason::kProviderError);
            u.detail = "not delivered (" + u.detail + ")";
        } else {
            return result;  // 1 pending approval, 2 waiting, 7 sent: not final yet
        }
        u.dedupe_key =
            "esms:" + u.provider_message_id + ":" + u.message_id + ":" + std::to_string(status);
        result.updates.push_back(std::move(u));
        return result;
    }

  private:
    // Built outside the coroutine: its JSON document is gone before the answer is awaited.
    HttpRequest request_for(const OutboundMessage& msg) const {
        // eSMS documents every field as a string.
        json::object body;
        body["ApiKey"] = config_.api_key;
        body["SecretKey"] = config_.secret_key;
        body["Phone"] = msg.to;
        body["Content"] = msg.text;
        body["Brandname"] = msg.sender.empty() ? config_.brandname : msg.sender;
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
        return request;
    }

    EsmsConfig config_;
    HttpClient* http_;
};

class EsmsFactory final : public adapter::FactoryKit<EsmsConfig> {
  public:
    EsmsFactory() : FactoryKit("esms", {Channel::sms}) {}

  protected:
    EsmsConfig read(const ProviderSettings& settings, ConfigView& cfg,
                    const ProviderContext& ctx) const override {
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
        if (auto v = cfg.string("callback_token")) {
            c.callback_token = *v;
            if (c.callback_token.size() < kMinTokenLength)
                cfg.error("callback_token", "must be at least 16 characters");
        }
        if (c.callback_url.empty() && !ctx.public_base_url.empty()) {
            // Delivery reports change message states: without a token anyone could send them.
            if (c.callback_token.empty()) {
                cfg.error("callback_token",
                          "required when http.public_base_url is set: eSMS delivery reports "
                          "must carry it");
            } else {
                std::string base = ctx.public_base_url;
                while (!base.empty() && base.back() == '/') base.pop_back();
                c.callback_url = base + "/v1/callbacks/" + percent_encode(settings.name);
            }
        }
        if (!c.callback_url.empty() && !c.callback_token.empty()) {
            c.callback_url += c.callback_url.find('?') == std::string::npos ? "?" : "&";
            c.callback_url += "token=" + percent_encode(c.callback_token);
        }
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, EsmsConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<EsmsProvider>(settings, std::move(c), ctx.http);
    }
};

}  // namespace

SendResult classify_esms_reply(const HttpResponse& response) {
    if (auto failed = transport_failure(response)) return *failed;
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
