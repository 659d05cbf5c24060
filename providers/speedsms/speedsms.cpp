#include "providers/speedsms/speedsms.hpp"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/time.hpp"
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

constexpr std::size_t kMinTokenLength = 16;

struct SpeedSmsConfig {
    std::string base_url = "https://api.speedsms.vn";  // without a trailing '/'
    std::string access_token;
    std::string sender;
    int64_t sms_type = 3;
    std::string callback_token;  // the webhook URL's ?token=; empty: no webhook taken
    std::chrono::milliseconds inbound_window{std::chrono::hours(1)};
};

const std::string* query_value(const CallbackRequest& r, std::string_view name) {
    for (const auto& [k, v] : r.query)
        if (k == name) return &v;
    return nullptr;
}

// Length-prefixed, so that no two different field lists hash alike.
void add_field(std::string& key, std::string_view v) {
    key += std::to_string(v.size());
    key += ':';
    key.append(v);
}

// A time SpeedSMS may give: Unix seconds or milliseconds, as a number or digits; 0 otherwise.
int64_t unix_ms(const std::string& t) {
    int64_t n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || p != t.data() + t.size() || n <= 0) return 0;
    return n < 100'000'000'000 ? n * 1000 : n;
}

InboundMessage incoming_message(const json::object& o, const std::string& provider, int64_t now,
                                std::chrono::milliseconds window) {
    InboundMessage m;
    m.provider = provider;
    m.channel = Channel::sms;
    const std::string phone = clean(scalar_text(o.if_contains("phone")), 32);
    m.from = phone;
    if (m.from.size() > 1 && m.from[0] == '0') m.from = "84" + m.from.substr(1);
    if (!m.from.empty() && m.from[0] == '+') m.from = m.from.substr(1);
    m.to = clean(scalar_text(o.if_contains("to")), 32);
    if (auto* c = o.if_contains("content"); c && c->is_string()) m.text = c->get_string();
    for (const char* key : {"smsId", "sms_id", "id"}) {
        m.provider_message_id = clean(scalar_text(o.if_contains(key)), 100);
        if (!m.provider_message_id.empty()) break;
    }
    const std::string time = clean(scalar_text(o.if_contains("time")), 64);
    const int64_t at = unix_ms(time);
    m.received_ms = at > 0 ? at : now;
    if (m.provider_message_id.empty() && window.count() > 0) {
        std::string key;
        add_field(key, phone);
        add_field(key, m.to);
        add_field(key, m.text);
        add_field(key, time);
        m.dedupe_key = "speedsms:" + hex_encode(sha256(key));
        m.dedupe_window = window;
    }
    return m;
}

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
        body = json::object();  // not kept while the answer is awaited
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify_speedsms_reply(response, msg.to);
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

    // SpeedSMS's webhook (docs/providers/speedsms.md): a citizen's SMS goes to the daemon, which
    // queues it before this answer leaves; reports are answered and not applied.
    std::optional<CallbackResult> handle_callback(const CallbackRequest& request) override {
        if (config_.callback_token.empty()) return std::nullopt;
        CallbackResult result;
        const std::string* token = query_value(request, "token");
        if (!token || !constant_time_equal(*token, config_.callback_token)) {
            result.status = 403;
            result.body = R"({"error":{"code":"forbidden","message":"bad callback token"}})";
            return result;
        }
        SpeedSmsWebhook hook =
            parse_speedsms_webhook(request.body, name(), now_ms(), config_.inbound_window);
        if (hook.kind == SpeedSmsWebhook::Kind::invalid) {
            result.status = 400;
            json::object err{{"code", "invalid_body"}, {"message", hook.error}};
            result.body = json::serialize(json::object{{"error", std::move(err)}});
            return result;
        }
        result.inbound = std::move(hook.messages);
        return result;
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
        if (auto v = cfg.string("callback_token")) {
            c.callback_token = *v;
            if (c.callback_token.size() < kMinTokenLength)
                cfg.error("callback_token", "must be at least 16 characters");
        }
        if (auto v = cfg.duration("inbound_dedupe_window")) {
            if (*v > std::chrono::hours(24 * 7))
                cfg.error("inbound_dedupe_window", "at most 7d");
            else
                c.inbound_window = *v;
        }
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

SpeedSmsWebhook parse_speedsms_webhook(std::string_view body, const std::string& provider,
                                       int64_t now, std::chrono::milliseconds window) {
    SpeedSmsWebhook out;
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec) {
        out.error = "the body is not JSON (" + std::to_string(body.size()) + " bytes)";
        return out;
    }
    // One document, or a list of them.
    std::vector<const json::object*> docs;
    if (doc.is_object()) {
        docs.push_back(&doc.get_object());
    } else if (doc.is_array()) {
        for (const auto& v : doc.get_array()) {
            if (!v.is_object()) {
                out.error = "a list element is not a JSON object";
                return out;
            }
            docs.push_back(&v.get_object());
        }
    }
    if (docs.empty()) {
        out.error = "the body is neither a JSON object nor a list of them";
        return out;
    }
    out.kind = SpeedSmsWebhook::Kind::other;
    for (const json::object* o : docs) {
        std::string type = clean(scalar_text(o->if_contains("type")), 32);
        for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (type == "incoming") {
            auto* content = o->if_contains("content");
            if (!content || !content->is_string()) {
                out = SpeedSmsWebhook{};
                out.error = "an incoming message without a content string";
                return out;
            }
            out.messages.push_back(incoming_message(*o, provider, now, window));
            out.kind = SpeedSmsWebhook::Kind::incoming;
        } else if (type == "report" && out.kind == SpeedSmsWebhook::Kind::other) {
            out.kind = SpeedSmsWebhook::Kind::report;
        }
    }
    return out;
}

std::unique_ptr<ProviderFactory> make_speedsms_factory() {
    return std::make_unique<SpeedSmsFactory>();
}

}  // namespace tinbao
