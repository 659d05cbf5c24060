#include "providers/http_generic/http_generic.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/encoding.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/xml.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

using adapter::clean;
using adapter::parse_retry_after;
using adapter::permanent;
using adapter::retryable;
using adapter::transport_failure;

constexpr std::size_t kRawResponseMax = 4096;

enum class Escape { json, form, url, text, xml };

enum class Field { to, text, message_id, unicode, segments, event_id, dossier_code };

constexpr std::pair<std::string_view, Field> kFields[] = {
    {"to", Field::to},
    {"text", Field::text},
    {"message_id", Field::message_id},
    {"unicode", Field::unicode},
    {"segments", Field::segments},
    {"event_id", Field::event_id},
    {"dossier_code", Field::dossier_code},
};

// A parsed template: literal text and placeholders, in order.
struct Piece {
    std::string literal;
    std::optional<Field> field;
};
using Template = std::vector<Piece>;

// Parses `{{ name }}` placeholders; returns the error text when a name is unknown or a
// placeholder is not closed.
std::optional<std::string> parse_template(std::string_view s, Template& out) {
    while (!s.empty()) {
        auto open = s.find("{{");
        if (open == std::string_view::npos) {
            out.push_back({std::string(s), std::nullopt});
            break;
        }
        if (open > 0) out.push_back({std::string(s.substr(0, open)), std::nullopt});
        auto close = s.find("}}", open + 2);
        if (close == std::string_view::npos) return "a '{{' without '}}'";
        std::string_view name = s.substr(open + 2, close - open - 2);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
        auto it = std::find_if(std::begin(kFields), std::end(kFields),
                               [&](const auto& f) { return f.first == name; });
        if (it == std::end(kFields))
            return "unknown placeholder {{ " + std::string(name) +
                   " }}; known: to, text, message_id, unicode, segments, event_id, dossier_code";
        out.push_back({{}, it->second});
        s.remove_prefix(close + 2);
    }
    return std::nullopt;
}

std::string field_value(Field f, const OutboundMessage& m) {
    switch (f) {
        case Field::to:
            return m.to;
        case Field::text:
            return m.text;
        case Field::message_id:
            return m.id;
        case Field::unicode:
            return m.unicode ? "1" : "0";
        case Field::segments:
            return std::to_string(m.segments);
        case Field::event_id:
            return m.event_id;
        case Field::dossier_code:
            return m.dossier_code;
    }
    return {};
}

std::string render(const Template& t, const OutboundMessage& m, Escape escape) {
    std::string out;
    for (const auto& p : t) {
        if (!p.field) {
            out += p.literal;
            continue;
        }
        std::string v = field_value(*p.field, m);
        switch (escape) {
            case Escape::json:
                append_json_escaped(out, v);
                break;
            case Escape::form:
                out += percent_encode(v, true);
                break;
            case Escape::url:
                out += percent_encode(v, false);
                break;
            case Escape::text:
                out += v;
                break;
            case Escape::xml:
                xml::append_escaped(out, v);
                break;
        }
    }
    return out;
}

struct HttpGenericConfig {
    Template url;
    std::string method = "POST";
    std::vector<std::pair<std::string, std::string>> headers;
    Template body;
    Escape body_escape = Escape::text;
    std::vector<int> success_status;      // empty: any 2xx
    std::vector<std::string> json_field;  // dotted path, split
    std::string xml_element;              // local name of the element holding the result
    std::string equals;
    std::string body_contains;
    std::vector<int> permanent_status = {400, 401, 403, 404, 422};
    std::vector<std::string> permanent_values;
    std::vector<std::string> message_id_field;
};

std::vector<std::string> split_path(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        auto dot = s.find('.');
        out.emplace_back(s.substr(0, dot));
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    return out;
}

// The scalar at a dotted path ("data.id", "messages.0.id") as text; nullopt when absent.
std::optional<std::string> lookup(const json::value& root, const std::vector<std::string>& path) {
    const json::value* v = &root;
    for (const auto& key : path) {
        if (v->is_object()) {
            v = v->get_object().if_contains(key);
        } else if (v->is_array()) {
            std::size_t i = 0;
            auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), i);
            if (ec != std::errc() || p != key.data() + key.size() || i >= v->get_array().size())
                return std::nullopt;
            v = &v->get_array()[i];
        } else {
            return std::nullopt;
        }
        if (!v) return std::nullopt;
    }
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_bool()) return v->get_bool() ? "true" : "false";
    if (v->is_null()) return std::nullopt;
    if (v->is_number()) return json::serialize(*v);
    return std::nullopt;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

bool contains(const std::vector<int>& list, int v) {
    return std::find(list.begin(), list.end(), v) != list.end();
}

class HttpGenericProvider final : public Provider {
  public:
    HttpGenericProvider(ProviderSettings settings, HttpGenericConfig config, HttpClient* http)
        : Provider(std::move(settings)), config_(std::move(config)), http_(http) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "http sends sms only");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");

        HttpRequest request;
        request.method = config_.method;
        request.url = render(config_.url, msg, Escape::url);
        request.headers = config_.headers;
        if (config_.method != "GET") request.body = render(config_.body, msg, config_.body_escape);
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify(response);
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

  private:
    SendResult classify(const HttpResponse& response) const {
        if (auto failed = transport_failure(response)) return *failed;
        const int status = response.status;
        const std::string http = "HTTP " + std::to_string(status);
        bool status_ok = config_.success_status.empty() ? status >= 200 && status < 300
                                                        : contains(config_.success_status, status);
        if (!status_ok) {
            if (status == 429) {
                auto r = retryable(reason::kThrottled, http);
                r.retry_after = parse_retry_after(response.header("retry-after"));
                return r;
            }
            if (contains(config_.permanent_status, status)) {
                if (status == 401 || status == 403) return permanent(reason::kAuthFailed, http);
                if (status == 404) return permanent(reason::kConfigError, http);
                return permanent(reason::kRejectedContent, http);
            }
            if (status >= 500) {
                auto r = retryable(reason::kProviderUnavailable, http);
                r.retry_after = parse_retry_after(response.header("retry-after"));
                return r;
            }
            return retryable(reason::kProviderError, http);
        }

        if (!config_.xml_element.empty()) {
            auto value = xml::element_text(response.body, config_.xml_element);
            std::string trimmed = value ? trim(*value) : std::string();
            std::string shown = value ? clean(trimmed, 64) : "(absent)";
            if (!value || trimmed != config_.equals) {
                std::string detail = http + ": element " + config_.xml_element + " = " + shown;
                if (value &&
                    std::find(config_.permanent_values.begin(), config_.permanent_values.end(),
                              trimmed) != config_.permanent_values.end())
                    return permanent(reason::kRejectedContent, detail);
                return retryable(reason::kProviderError, detail);
            }
        }
        std::optional<json::value> reply;
        if (!config_.json_field.empty() || !config_.message_id_field.empty()) {
            boost::system::error_code ec;
            json::value v = json::parse(response.body, ec);
            if (!ec) reply = std::move(v);
        }
        if (!config_.body_contains.empty() &&
            response.body.find(config_.body_contains) == std::string::npos)
            return retryable(reason::kProviderError,
                             http + ": the answer does not contain the success text");
        if (!config_.json_field.empty()) {
            if (!reply) return retryable(reason::kProviderError, http + ": the answer is not JSON");
            auto value = lookup(*reply, config_.json_field);
            std::string shown = value ? clean(*value, 64) : "(absent)";
            if (!value || *value != config_.equals) {
                std::string detail = http + ": field " + field_name() + " = " + shown;
                if (value &&
                    std::find(config_.permanent_values.begin(), config_.permanent_values.end(),
                              *value) != config_.permanent_values.end())
                    return permanent(reason::kRejectedContent, detail);
                return retryable(reason::kProviderError, detail);
            }
        }
        std::string id;
        if (reply && !config_.message_id_field.empty())
            id = clean(lookup(*reply, config_.message_id_field).value_or(""), 100);
        return SendResult::success(std::move(id), http);
    }

    std::string field_name() const {
        std::string out;
        for (const auto& k : config_.json_field) out += (out.empty() ? "" : ".") + k;
        return out;
    }

    HttpGenericConfig config_;
    HttpClient* http_;
};

std::optional<std::vector<int>> status_list(ConfigView& cfg, std::string_view key) {
    auto v = cfg.string_list(key);
    if (!v) return std::nullopt;
    std::vector<int> out;
    for (const auto& s : *v) {
        int n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc() || p != s.data() + s.size() || n < 100 || n > 599) {
            cfg.error(key, "'" + s + "' is not an HTTP status (100-599)");
            return std::nullopt;
        }
        out.push_back(n);
    }
    return out;
}

class HttpGenericFactory final : public adapter::FactoryKit<HttpGenericConfig> {
  public:
    HttpGenericFactory() : FactoryKit("http", {Channel::sms}) {}

  protected:
    HttpGenericConfig read(const ProviderSettings&, ConfigView& cfg,
                           const ProviderContext&) const override {
        HttpGenericConfig c;
        if (auto v = cfg.string("url", true)) {
            if (!v->starts_with("http://") && !v->starts_with("https://"))
                cfg.error("url", "must be an http:// or https:// URL");
            else if (auto problem = parse_template(*v, c.url))
                cfg.error("url", *problem);
        }
        if (auto v = cfg.string("method")) {
            c.method = *v;
            std::transform(c.method.begin(), c.method.end(), c.method.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
            if (c.method != "GET" && c.method != "POST" && c.method != "PUT" && c.method != "PATCH")
                cfg.error("method", "must be GET, POST, PUT or PATCH");
        }
        bool has_content_type = false;
        if (auto v = cfg.string_map("headers")) {
            for (const auto& [name, value] : *v) {
                if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
                    value.find_first_of("\r\n") != std::string::npos) {
                    cfg.error("headers", "invalid header '" + name + "'");
                    continue;
                }
                std::string lower = name;
                std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) {
                    return static_cast<char>(std::tolower(ch));
                });
                if (lower == "content-type") has_content_type = true;
            }
            c.headers = *v;
        }
        std::string body_text;
        if (auto v = cfg.string("body")) {
            body_text = *v;
            if (c.method == "GET") cfg.error("body", "a GET request has no body; use the url");
            if (auto problem = parse_template(body_text, c.body)) cfg.error("body", *problem);
        }
        std::string_view trimmed = body_text;
        while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
            trimmed.remove_prefix(1);
        std::string content_type =
            (!trimmed.empty() && (trimmed.front() == '{' || trimmed.front() == '[')) ? "json"
                                                                                     : "text";
        if (auto v = cfg.string("content_type")) {
            content_type = *v;
            if (content_type != "json" && content_type != "form" && content_type != "text" &&
                content_type != "xml")
                cfg.error("content_type", "must be json, form, text or xml");
        }
        c.body_escape = content_type == "json"   ? Escape::json
                        : content_type == "form" ? Escape::form
                        : content_type == "xml"  ? Escape::xml
                                                 : Escape::text;
        if (!has_content_type && c.method != "GET") {
            const char* header = content_type == "json"   ? "application/json; charset=utf-8"
                                 : content_type == "form" ? "application/x-www-form-urlencoded"
                                 : content_type == "xml"  ? "text/xml; charset=utf-8"
                                                          : "text/plain; charset=utf-8";
            c.headers.emplace_back("Content-Type", header);
        }

        if (cfg.has("success")) {
            ConfigView success = cfg.child("success");
            if (auto v = status_list(success, "status")) c.success_status = *v;
            if (auto v = success.string("json_field")) c.json_field = split_path(*v);
            if (auto v = success.string("xml_element")) {
                c.xml_element = *v;
                if (c.xml_element.empty() ||
                    c.xml_element.find_first_of("<>/ \t\r\n&\"'=") != std::string::npos)
                    success.error("xml_element", "must be an element name such as \"result\"");
                if (!c.json_field.empty())
                    success.error("xml_element", "json_field and xml_element exclude each other");
            }
            if (auto v = success.string("equals")) c.equals = *v;
            if (auto v = success.string("body_contains")) c.body_contains = *v;
            const bool tested = !c.json_field.empty() || !c.xml_element.empty();
            if (tested && !success.has("equals"))
                success.error("equals", "required with json_field or xml_element");
            if (!tested && success.has("equals"))
                success.error("json_field", "json_field or xml_element is required with equals");
            success.finish();
        }
        if (auto v = status_list(cfg, "permanent_status")) c.permanent_status = *v;
        if (auto v = cfg.string_list("permanent_values")) {
            c.permanent_values = *v;
            if (c.json_field.empty() && c.xml_element.empty())
                cfg.error("permanent_values", "needs success.json_field or success.xml_element");
        }
        if (auto v = cfg.string("message_id_field")) c.message_id_field = split_path(*v);
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, HttpGenericConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<HttpGenericProvider>(settings, std::move(c), ctx.http);
    }
};

}  // namespace

std::unique_ptr<ProviderFactory> make_http_generic_factory() {
    return std::make_unique<HttpGenericFactory>();
}

}  // namespace tinbao
