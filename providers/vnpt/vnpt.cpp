#include "providers/vnpt/vnpt.hpp"

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

constexpr std::size_t kRawResponseMax = 4096;

struct VnptConfig {
    std::string url;
    std::string api_user;
    std::string api_pass;
    std::string username;
    std::string agent_id;
    std::string label_id;
    std::string contract_type_id;
    std::string contract_id;
    std::string is_telco_sub = "0";
    std::string data_coding_gsm7 = "0";
    std::string data_coding_ucs2 = "8";
    std::vector<std::pair<std::string, std::string>> error_reasons;  // ERROR code -> reason
    std::vector<ParamTemplate> templates;
};

// The reasons an operator may give a VNPT error code, and whether each fails for good.
struct KnownReason {
    std::string_view name;
    bool permanent;
};
constexpr KnownReason kReasons[] = {
    {reason::kInvalidPhone, true},
    {reason::kAuthFailed, true},
    {reason::kRejectedContent, true},
    {reason::kTemplateNotRegistered, true},
    {reason::kTooLong, true},
    {reason::kConfigError, true},
    {reason::kBlocked, true},
    {reason::kThrottled, false},
    {reason::kProviderUnavailable, false},
    {reason::kQuotaExceeded, false},
    {reason::kProviderError, false},
};

const KnownReason* find_reason(std::string_view name) {
    for (auto& r : kReasons)
        if (r.name == name) return &r;
    return nullptr;
}

bool all_digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The highest `{N}` of a wording, or -1 when a brace is not a place ("{x}", "{ 1}", "{}").
int highest_place(std::string_view wording) {
    int highest = 0;
    for (std::size_t i = 0; i < wording.size(); ++i) {
        if (wording[i] != '{') continue;
        std::size_t j = i + 1;
        int n = 0;
        while (j < wording.size() && j - i <= 4 && wording[j] >= '0' && wording[j] <= '9')
            n = n * 10 + (wording[j++] - '0');
        if (j == i + 1 || j >= wording.size() || wording[j] != '}' || n == 0) return -1;
        highest = std::max(highest, n);
        i = j;
    }
    return highest;
}

class VnptProvider final : public Provider {
  public:
    VnptProvider(ProviderSettings settings, VnptConfig config, HttpClient* http)
        : Provider(std::move(settings)), config_(std::move(config)), http_(http) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::sms)
            co_return permanent(reason::kConfigError, "vnpt sends sms only");
        const ProviderParams& form = msg.provider_params;
        if (form.template_id.empty())
            co_return permanent(reason::kTemplateNotRegistered,
                                "no VNPT template was planned for this message");
        if (!http_) co_return retryable(reason::kProviderUnavailable, "no HTTP client");

        // Every public client sends every value as a string; so does this one.
        json::array params;
        for (std::size_t i = 0; i < form.values.size(); ++i)
            params.push_back(
                json::object{{"NUM", std::to_string(i + 1)}, {"CONTENT", form.values[i]}});
        json::object rqst;
        rqst["name"] = "send_sms_list";
        rqst["REQID"] = msg.id;
        rqst["LABELID"] = msg.sender.empty() ? config_.label_id : msg.sender;
        rqst["CONTRACTTYPEID"] = config_.contract_type_id;
        rqst["CONTRACTID"] = config_.contract_id;
        rqst["TEMPLATEID"] = form.template_id;
        rqst["PARAMS"] = std::move(params);
        rqst["SCHEDULETIME"] = "";
        rqst["MOBILELIST"] = msg.to;
        rqst["ISTELCOSUB"] = config_.is_telco_sub;
        rqst["AGENTID"] = config_.agent_id;
        rqst["APIUSER"] = config_.api_user;
        rqst["APIPASS"] = config_.api_pass;
        rqst["USERNAME"] = config_.username;
        rqst["DATACODING"] = form.unicode ? config_.data_coding_ucs2 : config_.data_coding_gsm7;

        HttpRequest request;
        request.method = "POST";
        request.url = config_.url;
        request.headers = {{"Content-Type", "application/json; charset=utf-8"},
                           {"Accept", "application/json"}};
        request.body = json::serialize(json::object{{"RQST", std::move(rqst)}});
        request.timeout = settings().timeout;
        HttpResponse response = co_await http_->perform(std::move(request));
        SendResult result = classify_vnpt_reply(response, config_.error_reasons);
        result.raw_response = response.error == HttpResponse::Error::none
                                  ? response.body.substr(0, kRawResponseMax)
                                  : clean(response.error_text);
        co_return result;
    }

    std::vector<ParamTemplate> param_templates() const override { return config_.templates; }

  private:
    VnptConfig config_;
    HttpClient* http_;
};

class VnptFactory final : public adapter::FactoryKit<VnptConfig> {
  public:
    VnptFactory() : FactoryKit("vnpt", {Channel::sms}) {}

  protected:
    VnptConfig read(const ProviderSettings&, ConfigView& cfg,
                    const ProviderContext&) const override {
        VnptConfig c;
        if (auto v = cfg.string("url", true)) {
            c.url = *v;
            if (!is_http_url(c.url)) cfg.error("url", "must be an http:// or https:// URL");
        }
        auto required = [&](std::string_view key, std::string& out) {
            if (auto v = cfg.string(key, true)) {
                out = *v;
                if (out.empty()) cfg.error(key, "must not be empty");
            }
        };
        required("api_user", c.api_user);
        required("api_pass", c.api_pass);
        required("username", c.username);
        required("agent_id", c.agent_id);
        required("label_id", c.label_id);
        required("contract_type_id", c.contract_type_id);
        required("contract_id", c.contract_id);
        if (auto v = cfg.integer("is_telco_sub", 0, 1)) c.is_telco_sub = std::to_string(*v);
        ConfigView coding = cfg.child("data_coding");
        if (auto v = coding.string("gsm7")) c.data_coding_gsm7 = *v;
        if (auto v = coding.string("ucs2")) c.data_coding_ucs2 = *v;
        if (coding.node().IsMap()) coding.finish();
        if (!all_digits(c.data_coding_gsm7)) coding.error("gsm7", "must be a number");
        if (!all_digits(c.data_coding_ucs2)) coding.error("ucs2", "must be a number");
        if (auto map = cfg.string_map("error_reasons")) {
            ConfigView errors = cfg.child("error_reasons");
            for (auto& [code, why] : *map) {
                if (!find_reason(why)) {
                    std::string known;
                    for (auto& r : kReasons)
                        known += (known.empty() ? "" : ", ") + std::string(r.name);
                    errors.error(code, "unknown reason '" + why + "' (known: " + known + ")");
                    continue;
                }
                c.error_reasons.emplace_back(code, why);
            }
        }
        read_templates(cfg, c);
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, VnptConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<VnptProvider>(settings, std::move(c), ctx.http);
    }

  private:
    // templates: { <status>: { id: 3101, params: ["{{ dossier.code }}"], text: "..." } }
    static void read_templates(ConfigView& cfg, VnptConfig& c) {
        ConfigView all = cfg.child("templates", true);
        if (!all.node().IsMap()) return;
        if (all.node().size() == 0) {
            cfg.error("templates", "needs the VNPT template of at least one status");
            return;
        }
        for (auto it = all.node().begin(); it != all.node().end(); ++it) {
            if (!it->first.IsScalar()) {
                cfg.error("templates", "expected statuses as keys");
                continue;
            }
            const std::string status = it->first.Scalar();
            ConfigView one = all.child(status);
            if (!one.node().IsMap()) continue;
            ParamTemplate t;
            t.status = status;
            t.file = cfg.file();
            t.line = it->first.Mark().is_null() ? cfg.line() : it->first.Mark().line + 1;
            if (auto id = one.string("id", true)) {
                t.template_id = *id;
                if (!all_digits(t.template_id))
                    one.error("id",
                              "must be the VNPT template id (digits), got '" + t.template_id + "'");
            }
            one.accept("params");
            YAML::Node params = one.node()["params"];
            if (params && !params.IsNull()) {
                if (!params.IsSequence()) {
                    one.error("params", "expected a list of templates, one per parameter");
                } else {
                    for (std::size_t i = 0; i < params.size(); ++i) {
                        YAML::Node p = params[i];
                        if (!p.IsScalar()) {
                            one.error("params", "parameter " + std::to_string(i + 1) +
                                                    " must be a text (a template)");
                            continue;
                        }
                        ParamTemplate::Source s;
                        s.text = p.Scalar();
                        const YAML::Mark m = p.Mark();
                        s.line = m.is_null() ? one.line() : m.line + 1;
                        // A quoted scalar's text starts after its quote.
                        s.column = m.is_null() ? 1 : m.column + 1 + (p.Tag() == "!" ? 1 : 0);
                        t.params.push_back(std::move(s));
                    }
                }
            }
            if (auto text = one.string("text")) {
                t.wording = *text;
                int highest = highest_place(t.wording);
                if (highest < 0)
                    one.error("text",
                              "a '{' that is not a parameter's place: write {1}, {2}... for "
                              "the parameters");
                else if (static_cast<std::size_t>(highest) > t.params.size())
                    one.error("text", "{" + std::to_string(highest) + "} but only " +
                                          std::to_string(t.params.size()) + " params");
            }
            one.finish();
            c.templates.push_back(std::move(t));
        }
    }
};

}  // namespace

SendResult classify_vnpt_reply(
    const HttpResponse& response,
    const std::vector<std::pair<std::string, std::string>>& error_reasons) {
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
    if (status == 401 || status == 403)
        return permanent(reason::kAuthFailed, "HTTP " + std::to_string(status));
    if (status == 404) return permanent(reason::kConfigError, "HTTP 404: check url");

    boost::system::error_code ec;
    json::value reply = json::parse(response.body, ec);
    const json::object* rply = nullptr;
    if (!ec && reply.is_object())
        if (auto* r = reply.get_object().if_contains("RPLY"); r && r->is_object())
            rply = &r->get_object();
    const std::string code = rply ? clean(scalar_text(rply->if_contains("ERROR")), 16) : "";
    if (code.empty()) {
        return retryable(reason::kProviderError,
                         "HTTP " + std::to_string(status) + ": reply without RPLY.ERROR (" +
                             std::to_string(response.body.size()) + " bytes)");
    }
    std::string detail = "ERROR " + code;
    if (auto desc = clean(scalar_text(rply->if_contains("ERROR_DESC"))); !desc.empty())
        detail += ": " + desc;
    if (code == "0") return SendResult::success("", detail);
    for (auto& [known, why] : error_reasons) {
        if (known != code) continue;
        const KnownReason* r = find_reason(why);
        if (r && r->permanent) return permanent(r->name, detail);
        if (r) return retryable(r->name, detail);
    }
    // The error table is not public: an unknown code is the provider's trouble until an
    // operator says otherwise (error_reasons).
    return retryable(reason::kProviderError, detail);
}

std::unique_ptr<ProviderFactory> make_vnpt_factory() { return std::make_unique<VnptFactory>(); }

}  // namespace tinbao
