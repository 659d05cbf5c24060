// What changes on reload, as the pipeline uses it: the config, the templates, and each provider
// with its limits and its circuit breaker.
//
// Threading: one io_context thread. Ownership: the Processor holds the current Runtime by
// shared_ptr; work in progress keeps the Runtime it started with, so a reload never pulls a
// provider from under a send.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/pipeline/breaker.hpp"
#include "daemon/pipeline/limiter.hpp"
#include "daemon/render/registered.hpp"
#include "daemon/render/template.hpp"
#include "providers/provider.hpp"

namespace tinbao {

// A template-based provider's registered template of one status, compiled (Provider::
// param_templates()).
struct CompiledParamTemplate {
    std::string template_id;
    std::vector<tpl::Template> params;  // in order
    std::string wording;                // `{1}`... for the parameters; may be empty
};

// The form each template-based provider of a channel gets for one message, by provider name.
using ProviderParamsMap = std::map<std::string, ProviderParams, std::less<>>;

// A provider with its limits and its circuit breaker.
struct ProviderSlot {
    std::unique_ptr<Provider> provider;
    std::unique_ptr<Limiter> limiter;
    CircuitBreaker breaker;
    sms::RegisteredTemplates registered;  // SMS: the wording registered for the brandname
    // Template-based providers: their template of each status (by canonical status).
    bool template_based = false;
    std::map<std::string, CompiledParamTemplate, std::less<>> param_templates;
    // Messages waiting for the outcome of the breaker's half-open probe (see attempt.cpp).
    std::vector<std::shared_ptr<boost::asio::steady_timer>> probe_waiters;
};

// The SMS as this provider will send it: the adapter's own rewriting (Provider::sms_text), then
// the provider's forbidden characters replaced, the encoding and segments recounted.
// `reason` is set (template_not_registered) when it matches none of the registered wording.
// A template-based provider gets its form from `params` (the text is the one they produce, when
// known); without one, or with one that says why not, the provider cannot send the message.
struct ProviderText {
    OutboundMessage message;
    std::string reason;
    std::string detail;
};
ProviderText for_provider(const ProviderSlot& slot, const OutboundMessage& msg,
                          const ProviderParamsMap& params = {});

// Everything that changes on reload.
struct Runtime {
    std::shared_ptr<const Config> config;
    std::shared_ptr<const tpl::TemplateSet> templates;
    // templates/reminders/<name>.yaml, one per reminder rule (null when there are none).
    std::shared_ptr<const tpl::TemplateSet> reminder_templates;
    // Agencies' own templates (agencies[].templates), by agency code: a status found there is
    // worded by it for that agency's events instead of `templates`.
    std::map<std::string, std::shared_ptr<const tpl::TemplateSet>, std::less<>> agency_templates;
    std::vector<std::shared_ptr<ProviderSlot>> providers;  // in config order

    std::vector<std::shared_ptr<ProviderSlot>> for_channel(Channel c) const;
    // The template of a status for an agency's event: the agency's own, else the shared one.
    const tpl::StatusTemplates* template_for(std::string_view agency,
                                             std::string_view status) const;
    // Requests the providers may have outstanding at once: the sum of their max_in_flight,
    // an unlimited one counted as 1000.
    std::size_t in_flight_capacity() const;
};

}  // namespace tinbao
