#include "providers/viettel/viettel.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/xml.hpp"

namespace tinbao {

namespace {

using adapter::clean;
using adapter::is_http_url;
using adapter::parse_retry_after;
using adapter::permanent;
using adapter::retryable;
using adapter::transport_failure;

constexpr std::size_t kRawResponseMax = 4096;
constexpr std::string_view kNamespace = "http://impl.bulkSms.ws/";

enum class RequestIdMode { numeric, message_id };

struct ViettelConfig {
    std::string url;
    std::string user;
    std::string password;
    std::string cp_code;
    std::string service_id;
    std::string command_code = "bulksms";
    std::string ampersand_replacement = "va";
    RequestIdMode request_id = RequestIdMode::numeric;
};

bool contains_nocase(std::string_view hay, std::string_view needle) {
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
    return it != hay.end();
}

// What each check the gateway names in return/message means for the message. First match wins:
// the specific texts come before the general ones. Sources: docs/providers/viettel.md.
struct KnownMessage {
    std::string_view text;
    enum class Outcome { sent, retry, fail } outcome;
    std::string_view reason;
};
constexpr KnownMessage kKnown[] = {
    // Missing fields are tinbao's configuration (the keys are required), not the account.
    {"NULL_OR_BLANK", KnownMessage::Outcome::fail, reason::kConfigError},
    {"WRONG_INFORMATION_AUTHENTICATE", KnownMessage::Outcome::fail, reason::kAuthFailed},
    {"CP_CODE_NOT_FOUND", KnownMessage::Outcome::fail, reason::kAuthFailed},
    {"IP_INVALID", KnownMessage::Outcome::fail, reason::kAuthFailed},
    {"Authenticate", KnownMessage::Outcome::fail, reason::kAuthFailed},
    {"REQUEST_ID_NOT_NUMBER", KnownMessage::Outcome::fail, reason::kConfigError},
    {"UserID_NOT_EQUAL_ReceiverID", KnownMessage::Outcome::fail, reason::kConfigError},
    {"Check UserID", KnownMessage::Outcome::fail, reason::kInvalidPhone},
    {"Check ReceiverID", KnownMessage::Outcome::fail, reason::kInvalidPhone},
    {"Unable to check telco", KnownMessage::Outcome::fail, reason::kInvalidPhone},
    {"Length of ReceiverID", KnownMessage::Outcome::fail, reason::kInvalidPhone},
    // The same message to the same number already queued: an earlier attempt got through.
    {"DUPLICATE MESSAGE", KnownMessage::Outcome::sent, {}},
    {"ALIAS_INVALID", KnownMessage::Outcome::fail, reason::kConfigError},
    {"Check ServiceID", KnownMessage::Outcome::fail, reason::kConfigError},
    {"Check CommandCode", KnownMessage::Outcome::fail, reason::kConfigError},
    {"MAXLENGTH_LIMIT", KnownMessage::Outcome::fail, reason::kTooLong},
    {"CONTENT_NOT_MATCH_TEMPLATE", KnownMessage::Outcome::fail, reason::kTemplateNotRegistered},
    {"Check template", KnownMessage::Outcome::fail, reason::kTemplateNotRegistered},
    {"Check Content", KnownMessage::Outcome::fail, reason::kRejectedContent},
    // "Check information error": the gateway's general failure.
};

SendResult classify_result(const std::string& result, const std::string& message) {
    std::string detail = "result " + clean(result, 16);
    if (!message.empty()) detail += ": " + clean(message);
    if (result == "1") return SendResult::success({}, detail);
    for (const auto& k : kKnown) {
        if (!contains_nocase(message, k.text)) continue;
        switch (k.outcome) {
            case KnownMessage::Outcome::sent:
                return SendResult::success({}, detail + " (already queued: an earlier attempt)");
            case KnownMessage::Outcome::fail:
                return permanent(k.reason, detail);
            case KnownMessage::Outcome::retry:
                return retryable(k.reason, detail);
        }
    }
    return retryable(reason::kProviderError, detail);
}

void element(std::string& out, std::string_view name, std::string_view value) {
    out += '<';
    out += name;
    out += '>';
    xml::append_escaped(out, value);
    out += "</";
    out += name;
    out += '>';
}

class ViettelProvider final : public Provider {
  public:
    ViettelProvider(ProviderSettings settings, ViettelConfig config, HttpClient* http)
        : Provider(std::move(settings)), config_(std::move(config)), http_(http) {}

    std::string sms_text(std::string_view text) const override {
        std::string out;
        out.reserve(text.size());
        for (char c : text) {
            if (c == '&')
                out += config_.ampersand_replacement;
            else
                out += c;
        }
        return out;
    }

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "viettel sends sms only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");
        const std::string request_id = config_.request_id == RequestIdMode::numeric
                                           ? viettel_numeric_request_id(msg.id)
                                           : msg.id;

        HttpRequest request;
        request.method = "POST";
        request.url = config_.url;
        request.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                           {"SOAPAction", "\"\""},
                           {"Accept", "text/xml"}};
        request.body = envelope(msg, request_id);
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify_viettel_reply(response);
        result.detail += " [RequestID " + request_id + "]";
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

  private:
    std::string envelope(const OutboundMessage& msg, const std::string& request_id) const {
        std::string b;
        b.reserve(700 + msg.text.size());
        b += R"(<?xml version="1.0" encoding="UTF-8"?>)";
        b += R"(<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" )";
        b += R"(xmlns:impl=")";
        b += kNamespace;
        b += R"("><soapenv:Header/><soapenv:Body><impl:wsCpMt>)";
        element(b, "User", config_.user);
        element(b, "Password", config_.password);
        element(b, "CPCode", config_.cp_code);
        element(b, "RequestID", request_id);
        element(b, "UserID", msg.to);
        element(b, "ReceiverID", msg.to);
        element(b, "ServiceID", msg.sender.empty() ? config_.service_id : msg.sender);
        element(b, "CommandCode", config_.command_code);
        element(b, "Content", msg.text);
        element(b, "ContentType", msg.unicode ? "1" : "0");
        b += "</impl:wsCpMt></soapenv:Body></soapenv:Envelope>";
        return b;
    }

    ViettelConfig config_;
    HttpClient* http_;
};

class ViettelFactory final : public adapter::FactoryKit<ViettelConfig> {
  public:
    ViettelFactory() : FactoryKit("viettel", {Channel::sms}) {}

  protected:
    ViettelConfig read(const ProviderSettings&, ConfigView& cfg,
                       const ProviderContext&) const override {
        ViettelConfig c;
        if (auto v = cfg.string("url", true)) {
            c.url = *v;
            if (!is_http_url(c.url))
                cfg.error("url",
                          "must be an http:// or https:// URL (the CcApi endpoint, e.g. "
                          "http://host:8998/bulkapi)");
        }
        auto required = [&](std::string_view key, std::string& into) {
            if (auto v = cfg.string(key, true)) {
                into = *v;
                if (into.empty()) cfg.error(key, "must not be empty");
            }
        };
        required("user", c.user);
        required("password", c.password);
        required("cp_code", c.cp_code);
        required("service_id", c.service_id);
        if (auto v = cfg.string("command_code")) {
            c.command_code = *v;
            if (c.command_code.empty()) cfg.error("command_code", "must not be empty");
        }
        if (auto v = cfg.string("ampersand_replacement")) {
            c.ampersand_replacement = *v;
            if (c.ampersand_replacement.find('&') != std::string::npos)
                cfg.error("ampersand_replacement", "must not contain '&'");
            else if (std::any_of(c.ampersand_replacement.begin(), c.ampersand_replacement.end(),
                                 [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
                cfg.error("ampersand_replacement", "must not contain control characters");
        }
        if (auto v = cfg.string("request_id")) {
            if (*v == "numeric")
                c.request_id = RequestIdMode::numeric;
            else if (*v == "message_id")
                c.request_id = RequestIdMode::message_id;
            else
                cfg.error("request_id", "must be numeric or message_id");
        }
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, ViettelConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<ViettelProvider>(settings, std::move(c), ctx.http);
    }
};

}  // namespace

std::string viettel_numeric_request_id(std::string_view message_id) {
    // FNV-1a, 64 bits, folded to 9 decimal digits.
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : message_id) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return std::to_string(h % 1000000000ull);
}

SendResult classify_viettel_reply(const HttpResponse& response) {
    if (auto failed = transport_failure(response)) return *failed;
    const int status = response.status;
    const std::string http = "HTTP " + std::to_string(status);
    // A SOAP 1.1 fault comes with HTTP 500; its faultcode says whose fault it is.
    if (auto fault = xml::element_text(response.body, "faultstring")) {
        std::string code = xml::element_text(response.body, "faultcode").value_or("");
        std::string detail = http + ": SOAP fault " + clean(code, 64) + ": " + clean(*fault);
        auto colon = code.rfind(':');
        std::string_view local = colon == std::string::npos
                                     ? std::string_view(code)
                                     : std::string_view(code).substr(colon + 1);
        if (local.starts_with("Client")) return permanent(reason::kConfigError, detail);
        return retryable(reason::kProviderUnavailable, detail);
    }
    if (status == 429) {
        auto r = retryable(reason::kThrottled, http);
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    if (status == 401 || status == 403) return permanent(reason::kAuthFailed, http);
    if (status == 404) return permanent(reason::kConfigError, http + ": no CcApi at this url");
    if (status >= 500) {
        auto r = retryable(reason::kProviderUnavailable, http);
        r.retry_after = parse_retry_after(response.header("retry-after"));
        return r;
    }
    auto result = xml::element_text(response.body, "result");
    if (status < 200 || status >= 300 || !result) {
        return retryable(reason::kProviderError, http + ": reply without return/result (" +
                                                     std::to_string(response.body.size()) +
                                                     " bytes)");
    }
    std::string trimmed = *result;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
        trimmed.pop_back();
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
        trimmed.erase(trimmed.begin());
    return classify_result(trimmed, xml::element_text(response.body, "message").value_or(""));
}

std::unique_ptr<ProviderFactory> make_viettel_factory() {
    return std::make_unique<ViettelFactory>();
}

}  // namespace tinbao
