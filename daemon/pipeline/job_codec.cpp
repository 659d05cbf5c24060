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
    return job;
}

SavedJob restarted(SavedJob job, int64_t now_ms) {
    job.provider_index = 0;
    job.provider_attempts = 0;
    job.epoch_ms = now_ms;
    return job;
}

}  // namespace tinbao
