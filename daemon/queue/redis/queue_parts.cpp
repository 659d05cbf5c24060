#include "daemon/queue/redis/queue_parts.hpp"

#include <cstdlib>
#include <utility>

#include "daemon/queue/redis/scripts.hpp"

namespace tinbao::queue::redis_detail {

const redis::Script kIngest(lua::ingest);
const redis::Script kClaim(std::string(lua::shared) + lua::claim);
const redis::Script kCommit(std::string(lua::notices) + lua::commit);
const redis::Script kTakeDue(lua::take_due);
const redis::Script kDeadJobs(lua::dead_jobs);
const redis::Script kDiscardDead(lua::discard_dead);
const redis::Script kReport(std::string(lua::notices) + lua::report);
const redis::Script kWaiting(std::string(lua::shared) + lua::waiting);
const redis::Script kUnlock(lua::unlock);
const redis::Script kCallbacks(std::string(lua::notices) + lua::callbacks);

std::vector<WaitingNotice> waiting_from(const redis::Reply& flat) {
    std::vector<WaitingNotice> out;
    auto& e = flat.elements;
    for (size_t i = 0; i + 2 < e.size(); i += 3) {
        WaitingNotice w;
        w.message_id = e[i].str;
        w.created_ms = std::strtoll(e[i + 1].str.c_str(), nullptr, 10);
        w.next_attempt_ms = static_cast<int64_t>(std::strtod(e[i + 2].str.c_str(), nullptr));
        out.push_back(std::move(w));
    }
    return out;
}

bool stream_id_less(const std::string& a, const std::string& b) {
    auto split_id = [](const std::string& s) {
        auto dash = s.find('-');
        return std::pair<long long, long long>(
            std::strtoll(s.c_str(), nullptr, 10),
            dash == std::string::npos ? 0 : std::strtoll(s.c_str() + dash + 1, nullptr, 10));
    };
    return split_id(a) < split_id(b);
}

redis::Options options_for(const QueueSettings& s, std::string name) {
    redis::Options o;
    o.host = s.redis.host;
    o.port = s.redis.port;
    o.username = s.redis.username;
    o.password = s.redis.password;
    o.db = s.redis.db;
    o.command_timeout = s.redis.command_timeout;
    o.name = std::move(name);
    for (auto& a : s.redis.sentinels) o.sentinels.push_back({a.host, a.port});
    o.master_name = s.redis.master_name;
    o.sentinel_password = s.redis.sentinel_password;
    return o;
}

void collect_entries(const redis::Reply& list, std::vector<Entry>& out) {
    for (auto& e : list.elements) {
        if (e.type != redis::Reply::Type::array || e.elements.size() < 2) continue;
        Entry entry;
        entry.id = e.elements[0].str;
        // A stream id is "<ms>-<seq>": the time Redis added the entry.
        entry.created_ms = std::strtoll(entry.id.c_str(), nullptr, 10);
        entry.source = "stream";
        auto& fields = e.elements[1];
        for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
            if (fields.elements[i].str == "event") entry.payload = fields.elements[i + 1].str;
            if (fields.elements[i].str == "src") entry.source = fields.elements[i + 1].str;
        }
        // A deleted entry still pending shows with nil fields: nothing to deliver, but it must be
        // acknowledged; an empty payload is rejected by the pipeline as invalid.
        out.push_back(std::move(entry));
    }
}

}  // namespace tinbao::queue::redis_detail
