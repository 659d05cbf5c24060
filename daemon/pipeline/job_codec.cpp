#include "daemon/pipeline/job_codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace json = boost::json;

namespace tinbao {

std::string encode_job(const SavedJob& job) {
    json::array chans;
    for (auto c : job.channels) chans.push_back(json::value(to_string(c)));
    json::object o{{"event", job.event},
                   {"entry", job.entry_id},
                   {"channel", to_string(job.channel)},
                   {"mode", job.mode == Route::Mode::all ? "all" : "fallback"},
                   {"channels", std::move(chans)},
                   {"provider", job.provider_index},
                   {"provider_attempts", job.provider_attempts},
                   {"epoch", job.epoch_ms},
                   {"accepted", job.accepted_ms}};
    if (!job.provider_params.empty()) {
        json::object forms;
        for (auto& [name, p] : job.provider_params) {
            json::array values;
            for (auto& v : p.values) values.push_back(json::value(v));
            json::object f{{"template_id", p.template_id},
                           {"params", std::move(values)},
                           {"unicode", p.unicode}};
            if (!p.text.empty()) f["text"] = p.text;
            if (!p.reason.empty()) {
                f["reason"] = p.reason;
                f["detail"] = p.detail;
            }
            forms[name] = std::move(f);
        }
        o["provider_params"] = std::move(forms);
    }
    if (!job.reminder.empty())
        o["reminder"] = json::object{
            {"rule", job.reminder}, {"occurrence", job.occurrence}, {"due", job.reminder_due_ms}};
    return json::serialize(o);
}

std::optional<SavedJob> decode_job(std::string_view text) {
    boost::system::error_code ec;
    auto jv = json::parse(text, ec);
    if (ec || !jv.is_object()) return std::nullopt;
    auto& j = jv.as_object();
    auto str = [&](std::string_view k) {
        auto* v = j.if_contains(k);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto num = [&](std::string_view k) -> int64_t {
        auto* v = j.if_contains(k);
        return v && v->is_int64() ? v->as_int64() : 0;
    };
    auto channel = channel_from_string(str("channel"));
    if (!channel) return std::nullopt;
    SavedJob job;
    job.event = str("event");
    job.entry_id = str("entry");
    job.channel = *channel;
    job.mode = str("mode") == "all" ? Route::Mode::all : Route::Mode::fallback;
    if (auto* cs = j.if_contains("channels"); cs && cs->is_array())
        for (auto& cv : cs->as_array())
            if (cv.is_string())
                if (auto ch = channel_from_string(cv.as_string())) job.channels.push_back(*ch);
    job.provider_index = static_cast<int>(num("provider"));
    job.provider_attempts = static_cast<int>(num("provider_attempts"));
    job.epoch_ms = num("epoch");
    job.accepted_ms = num("accepted");
    if (auto* forms = j.if_contains("provider_params"); forms && forms->is_object()) {
        for (auto& [name, fv] : forms->as_object()) {
            if (!fv.is_object()) continue;
            auto& f = fv.as_object();
            auto text_of = [&](std::string_view k) {
                auto* v = f.if_contains(k);
                return v && v->is_string() ? std::string(v->as_string()) : std::string();
            };
            ProviderParams p;
            p.template_id = text_of("template_id");
            if (auto* vs = f.if_contains("params"); vs && vs->is_array())
                for (auto& v : vs->as_array())
                    if (v.is_string()) p.values.emplace_back(v.as_string());
            if (auto* u = f.if_contains("unicode"); u && u->is_bool()) p.unicode = u->as_bool();
            p.text = text_of("text");
            p.reason = text_of("reason");
            p.detail = text_of("detail");
            job.provider_params.emplace(std::string(name), std::move(p));
        }
    }
    if (auto* rv = j.if_contains("reminder"); rv && rv->is_object()) {
        auto& r = rv->as_object();
        auto* rule = r.if_contains("rule");
        auto* occurrence = r.if_contains("occurrence");
        auto* due = r.if_contains("due");
        if (rule && rule->is_string()) job.reminder = std::string(rule->as_string());
        if (occurrence && occurrence->is_int64())
            job.occurrence = static_cast<int>(occurrence->as_int64());
        if (due && due->is_int64()) job.reminder_due_ms = due->as_int64();
    }
    return job;
}

SavedJob restarted(SavedJob job, int64_t now_ms) {
    job.provider_index = 0;
    job.provider_attempts = 0;
    job.epoch_ms = now_ms;
    return job;
}

}  // namespace tinbao
