#include "daemon/pipeline/planner.hpp"

#include <algorithm>

#include "common/redact.hpp"
#include "common/time.hpp"
#include "daemon/render/phone.hpp"
#include "daemon/render/sms_text.hpp"
#include "providers/reasons.hpp"

namespace json = boost::json;

namespace tinbao {

bool has_contact(const Event& ev, Channel c) {
    switch (c) {
        case Channel::sms:
            return !ev.phone.empty();
        case Channel::zalo:
            return !ev.phone.empty() || !ev.zalo_user_id.empty();
        case Channel::email:
            return !ev.email.empty();
    }
    return false;
}

namespace {

const Route* find_route(const Config& cfg, std::string_view status) {
    for (auto& r : cfg.routes)
        for (auto& s : r.statuses)
            if (s == status) return &r;
    return nullptr;
}

json::value render_context(const Event& ev) {
    json::value ctx = ev.json;
    if (ctx.is_object()) ctx.as_object()["status_label"] = tpl::status_label(ev.status);
    return ctx;
}

sms::UnicodePolicy policy_of(const SmsSettings& s) {
    switch (s.unicode) {
        case SmsSettings::Unicode::never:
            return sms::UnicodePolicy::never;
        case SmsSettings::Unicode::always:
            return sms::UnicodePolicy::always;
        default:
            return sms::UnicodePolicy::auto_;
    }
}

void fail_preflight(PlannedMessage& m, std::string_view reason, std::string detail) {
    m.preflight_reason = reason;
    m.preflight_detail = std::move(detail);
}

// Renders a template, or records why not.
std::optional<std::string> render_part(PlannedMessage& m, const tpl::Template& t,
                                       const json::value& ctx, bool html = false) {
    tpl::RenderOptions opts;
    opts.html_escape = html;
    auto r = t.render(ctx, opts);
    if (auto* err = std::get_if<tpl::Error>(&r)) {
        fail_preflight(m, reason::kTemplateError, err->str());
        return std::nullopt;
    }
    return std::get<std::string>(std::move(r));
}

// A template-based provider's form of the message: its template of the status, the parameters
// rendered from the event and made one line; for SMS, the policy decides the encoding over the
// whole text (the wording with the values when it is known, else the values) and, when it
// removes diacritics, removes them from the values too.
ProviderParams plan_params(const Runtime& rt, const ProviderSlot& slot, const Event& ev,
                           const json::value& ctx, Channel channel) {
    ProviderParams p;
    const std::string& name = slot.provider->name();
    auto it = slot.param_templates.find(ev.status);
    if (it == slot.param_templates.end()) {
        p.reason = reason::kTemplateNotRegistered;
        p.detail = "provider " + name + " has no template for status " + ev.status;
        return p;
    }
    const CompiledParamTemplate& t = it->second;
    p.template_id = t.template_id;
    for (auto& part : t.params) {
        auto r = part.render(ctx);
        if (auto* err = std::get_if<tpl::Error>(&r)) {
            p.reason = reason::kTemplateError;
            p.detail = err->str();
            return p;
        }
        p.values.push_back(one_line(std::get<std::string>(r)));
    }
    if (channel != Channel::sms) return p;
    std::string whole;
    if (!t.wording.empty()) {
        whole = fill_wording(t.wording, p.values);
    } else {
        for (auto& v : p.values) whole += (whole.empty() ? "" : " ") + v;
    }
    auto planned = sms::plan(whole, policy_of(rt.config->sms), rt.config->sms.max_segments);
    if (!planned.plan) {
        p.reason = reason::kTooLong;
        p.detail = "the text of provider " + name + "'s template " + t.template_id + ": " +
                   std::to_string(planned.attempted.segments) + " segments, more than " +
                   "sms.max_segments " + std::to_string(rt.config->sms.max_segments);
        return p;
    }
    p.unicode = planned.plan->count.encoding == sms::Encoding::ucs2;
    if (planned.plan->unaccented)
        for (auto& v : p.values) v = sms::unaccent(v);
    if (!t.wording.empty()) p.text = planned.plan->text;
    return p;
}

// Each SMS provider's view of the message: the text it would send when it differs (its own
// rewriting, its forbidden characters), and why it would pass the message over.
json::array provider_previews(const Runtime& rt, const OutboundMessage& msg,
                              const ProviderParamsMap& params) {
    json::array out;
    for (auto& slot : rt.for_channel(Channel::sms)) {
        auto text = for_provider(*slot, msg, params);
        json::object p;
        p["provider"] = slot->provider->name();
        if (text.message.text != msg.text) {
            auto enc = text.message.unicode ? sms::Encoding::ucs2 : sms::Encoding::gsm7;
            auto count = sms::count(text.message.text, enc);
            p["text"] = text.message.text;
            p["encoding"] = sms::to_string(enc);
            p["characters"] = count.characters;
            p["segments"] = count.segments;
        }
        if (!text.reason.empty())
            p["error"] = json::object{{"reason", text.reason}, {"detail", text.detail}};
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

std::string fill_wording(std::string_view wording, const std::vector<std::string>& values) {
    std::string out;
    std::size_t i = 0;
    while (i < wording.size()) {
        if (wording[i] == '{') {
            std::size_t j = i + 1;
            std::size_t n = 0;
            while (j < wording.size() && j - i <= 4 && wording[j] >= '0' && wording[j] <= '9')
                n = n * 10 + static_cast<std::size_t>(wording[j++] - '0');
            if (j > i + 1 && j < wording.size() && wording[j] == '}' && n >= 1 &&
                n <= values.size()) {
                out += values[n - 1];
                i = j + 1;
                continue;
            }
        }
        out.push_back(wording[i++]);
    }
    return out;
}

PlannedMessage plan_message(const Runtime& rt, const Event& ev, const std::string& entry_id,
                            Channel channel, int64_t now) {
    // An agency's own wording of the status when it has one, else the shared template.
    const tpl::StatusTemplates* t =
        rt.template_for(rt.config->agency_label(ev.agency_code), ev.status);
    return plan_with(rt, ev, message_id(ev.event_id, entry_id, to_string(channel)), channel, now, t,
                     "status " + ev.status, true);
}

PlannedMessage plan_with(const Runtime& rt, const Event& ev, std::string id, Channel channel,
                         int64_t now, const tpl::StatusTemplates* t, const std::string& what,
                         bool provider_forms) {
    PlannedMessage m;
    auto& rec = m.record;
    rec.id = std::move(id);
    rec.event_id = ev.event_id;
    rec.dossier_code = ev.dossier_code;
    rec.channel = std::string(to_string(channel));
    rec.created_at_ms = rec.updated_at_ms = now;
    rec.event_at_ms = now;  // the attempt knows when the event was queued
    rec.agency = rt.config->agency_label(ev.agency_code);
    rec.procedure = ev.procedure_code;
    auto& out = m.outbound;
    out.id = rec.id;
    out.event_id = ev.event_id;
    out.dossier_code = ev.dossier_code;
    out.channel = channel;

    auto missing_part = [&] {
        fail_preflight(m, reason::kTemplateError,
                       "no " + rec.channel + " part in the template of " + what);
    };
    auto ctx = render_context(ev);

    switch (channel) {
        case Channel::sms: {
            rec.to = ev.phone;
            auto number = phone::normalize_mobile(ev.phone);
            if (!number) {
                fail_preflight(m, reason::kInvalidPhone,
                               "not a Vietnamese mobile number: " + mask_phone(ev.phone));
                return m;
            }
            rec.to = out.to = *number;
            rec.telco = std::string(phone::telco_of(*number));
            if (!t || !t->sms) return missing_part(), m;
            auto text = render_part(m, *t->sms, ctx);
            if (!text) return m;
            auto p = sms::plan(*text, policy_of(rt.config->sms), rt.config->sms.max_segments);
            if (!p.plan) {
                fail_preflight(m, reason::kTooLong,
                               std::to_string(p.attempted.segments) + " segments (" +
                                   std::string(sms::to_string(p.attempted.encoding)) +
                                   "), more than sms.max_segments " +
                                   std::to_string(rt.config->sms.max_segments));
                rec.body = *text;
                return m;
            }
            rec.body = out.text = p.plan->text;
            rec.encoding = std::string(sms::to_string(p.plan->count.encoding));
            rec.segments = out.segments = p.plan->count.segments;
            out.unicode = p.plan->count.encoding == sms::Encoding::ucs2;
            break;
        }
        case Channel::zalo: {
            if (!ev.phone.empty()) {
                auto number = phone::normalize_mobile(ev.phone);
                if (!number) {
                    rec.to = ev.phone;
                    fail_preflight(m, reason::kInvalidPhone,
                                   "not a Vietnamese mobile number: " + mask_phone(ev.phone));
                    return m;
                }
                rec.to = out.to = *number;
            } else {
                rec.to = out.to = ev.zalo_user_id;
            }
            if (!t || !t->zalo) return missing_part(), m;
            rec.template_id = out.template_id = t->zalo->template_id;
            for (auto& [name, part] : t->zalo->params) {
                auto v = render_part(m, part, ctx);
                if (!v) return m;
                out.params.emplace_back(name, std::move(*v));
            }
            break;
        }
        case Channel::email: {
            rec.to = out.to = ev.email;
            if (ev.email.find('@') == std::string::npos) {
                fail_preflight(m, reason::kNoContact, "not an email address");
                return m;
            }
            if (!t || !t->email) return missing_part(), m;
            auto subject = render_part(m, t->email->subject, ctx);
            if (!subject) return m;
            auto text = render_part(m, t->email->text, ctx);
            if (!text) return m;
            if (t->email->html) {
                auto html = render_part(m, *t->email->html, ctx, true);
                if (!html) return m;
                out.html = std::move(*html);
            }
            rec.subject = out.subject = std::move(*subject);
            rec.body = out.text = std::move(*text);
            break;
        }
    }
    if (!provider_forms) return m;
    for (auto& slot : rt.for_channel(channel))
        if (slot->template_based)
            m.provider_params.emplace(slot->provider->name(),
                                      plan_params(rt, *slot, ev, ctx, channel));
    return m;
}

Plan plan_event(const Runtime& rt, const Event& ev, const std::string& entry_id, int64_t now) {
    Plan plan;
    auto* route = find_route(*rt.config, ev.status);
    if (!route) return plan;
    plan.routed = true;
    plan.mode = route->mode;
    if (!ev.channels.empty()) {
        // The event's own list, limited to channels the config can deliver.
        for (auto& name : ev.channels) {
            auto c = channel_from_string(name);
            if (c && !rt.for_channel(*c).empty()) plan.channels.push_back(*c);
        }
    } else {
        plan.channels = route->channels;
    }
    for (auto c : plan.channels) {
        if (!has_contact(ev, c)) {
            if (plan.mode == Route::Mode::all) {
                PlannedMessage m = plan_message(rt, ev, entry_id, c, now);
                m.preflight_reason.clear();
                m.record.state = state::kSkipped;
                m.record.last_error_reason = reason::kNoContact;
                m.record.last_error_detail = "the applicant has no address for this channel";
                plan.messages.push_back(std::move(m));
            }
            continue;
        }
        plan.messages.push_back(plan_message(rt, ev, entry_id, c, now));
        if (plan.mode == Route::Mode::fallback) break;
    }
    if (plan.messages.empty() && !plan.channels.empty()) {
        // Fallback with no contact on any channel: one skipped message says why.
        PlannedMessage m = plan_message(rt, ev, entry_id, plan.channels.front(), now);
        m.preflight_reason.clear();
        m.record.state = state::kSkipped;
        m.record.last_error_reason = reason::kNoContact;
        m.record.last_error_detail = "the applicant has no address for any routed channel";
        plan.messages.push_back(std::move(m));
    }
    return plan;
}

json::value preview(const Runtime& rt, const Event& ev) {
    json::object out;
    out["event_id"] = ev.event_id;
    out["status"] = ev.status;
    auto plan = plan_event(rt, ev, "preview");
    out["routed"] = plan.routed;
    json::array msgs;
    // A preview shows every routed channel, not just the first of a fallback route.
    for (auto c : plan.channels) {
        auto m = plan_message(rt, ev, "preview", c);
        json::object o;
        o["channel"] = to_string(c);
        o["to"] = m.record.to;
        if (!m.preflight_reason.empty())
            o["error"] =
                json::object{{"reason", m.preflight_reason}, {"detail", m.preflight_detail}};
        if (c == Channel::sms) {
            o["text"] = m.outbound.text.empty() ? m.record.body : m.outbound.text;
            if (!m.record.encoding.empty()) {
                auto count = sms::count(m.outbound.text, m.outbound.unicode ? sms::Encoding::ucs2
                                                                            : sms::Encoding::gsm7);
                o["encoding"] = m.record.encoding;
                o["characters"] = count.characters;
                o["segments"] = count.segments;
                if (m.outbound.unicode) {
                    o["ucs2_because"] = json::object{{"character", count.first_non_gsm},
                                                     {"index", count.first_non_gsm_index}};
                }
                o["providers"] = provider_previews(rt, m.outbound, m.provider_params);
            }
        } else if (c == Channel::email) {
            o["subject"] = m.outbound.subject;
            o["text"] = m.outbound.text;
            if (!m.outbound.html.empty()) o["html"] = m.outbound.html;
        } else {
            o["template_id"] = m.outbound.template_id;
            json::object params;
            for (auto& [k, v] : m.outbound.params) params[k] = v;
            o["params"] = std::move(params);
        }
        if (!m.provider_params.empty()) {
            // Template-based providers: what each would send, and what it produces.
            json::array forms;
            for (auto& [name, p] : m.provider_params) {
                json::object f{{"provider", name}};
                if (!p.reason.empty()) {
                    f["error"] = json::object{{"reason", p.reason}, {"detail", p.detail}};
                } else {
                    f["template_id"] = p.template_id;
                    json::array values;
                    for (auto& v : p.values) values.push_back(json::value(v));
                    f["params"] = std::move(values);
                    if (c == Channel::sms) f["encoding"] = p.unicode ? "ucs2" : "gsm7";
                    f["text"] = p.text.empty() ? json::value(nullptr) : json::value(p.text);
                }
                forms.push_back(std::move(f));
            }
            o["provider_templates"] = std::move(forms);
        }
        msgs.push_back(std::move(o));
    }
    out["messages"] = std::move(msgs);
    return out;
}
std::optional<int64_t> quiet_until(const Config& cfg, Channel channel, int64_t now) {
    constexpr int64_t kMinute = 60000, kDay = 1440;
    const int64_t local_minute = local_minute_of_day(now);
    const int64_t minute_start = now - now % kMinute;
    std::optional<int64_t> until;
    for (auto& q : cfg.quiet_hours) {
        if (std::find(q.channels.begin(), q.channels.end(), channel) == q.channels.end()) continue;
        bool inside = q.from_minute < q.to_minute
                          ? (local_minute >= q.from_minute && local_minute < q.to_minute)
                          : (local_minute >= q.from_minute || local_minute < q.to_minute);
        if (!inside) continue;
        int64_t minutes_left = (q.to_minute - local_minute + kDay) % kDay;
        int64_t end = minute_start + minutes_left * kMinute;
        until = std::max(until.value_or(0), end);
    }
    return until;
}

}  // namespace tinbao
