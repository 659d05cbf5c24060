// RedisQueue's lookups (events, messages, dossiers, gauges), dead letters and the StateStore;
// the lifecycle and the write paths are in redis_queue.cpp.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <map>
#include <unordered_map>

#include "common/encoding.hpp"
#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/redis/batcher.hpp"
#include "daemon/queue/redis/queue_parts.hpp"
#include "daemon/queue/redis/redis_queue.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

using redis_detail::collect_entries;
using redis_detail::kClaim;
using redis_detail::kCommit;
using redis_detail::kDeadJobs;
using redis_detail::kDiscardDead;
using redis_detail::kGroup;
using redis_detail::kIngest;
using redis_detail::kReport;
using redis_detail::kTakeDue;
using redis_detail::kUnlock;
using redis_detail::kWaiting;
using redis_detail::options_for;
using redis_detail::stream_id_less;
using redis_detail::waiting_from;

asio::awaitable<Result<json::value>> RedisQueue::dead_letters(const DeadLetterQuery& q) {
    // Newest first; filtered here by reason, reading at most a few thousand.
    redis::Args range{"ZREVRANGE", prefix_ + ":dlq", "0", std::to_string(limits::kDeadLetters - 1)};
    auto r = co_await cmd_.command(std::move(range));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<std::string> ids;
    for (auto& e : r.reply.elements) ids.push_back(e.str);
    auto list = co_await fetch_messages(std::move(ids));
    if (!list) co_return unavailable();
    json::array filtered;
    for (auto& v : *list) {
        if (filtered.size() >= q.limit) break;
        if (!q.reason.empty()) {
            auto* le = v.as_object().if_contains("last_error");
            auto* rs = le && le->is_object() ? le->as_object().if_contains("reason") : nullptr;
            if (!rs || !rs->is_string() || rs->as_string() != q.reason) continue;
        }
        filtered.push_back(v);
    }
    co_return json::value(json::object{{"dead_letters", std::move(filtered)}});
}

asio::awaitable<Result<std::vector<Job>>> RedisQueue::dead_jobs(const std::vector<std::string>& ids,
                                                                const std::string& reason) {
    std::vector<std::string> chosen = ids;
    if (chosen.empty() && !reason.empty()) {
        DeadLetterQuery q;
        q.reason = reason;
        q.limit = limits::kDeadLetters;
        auto found = co_await dead_letters(q);
        if (!found) co_return found.error();
        for (auto& v : found->as_object()["dead_letters"].as_array())
            chosen.emplace_back(v.as_object()["id"].as_string());
    }
    std::vector<Job> out;
    if (chosen.empty()) co_return out;
    std::vector<std::string> keys{prefix_ + ":dlq"};
    std::vector<std::string> args{prefix_ + ":"};
    args.insert(args.end(), chosen.begin(), chosen.end());
    auto r = co_await kDeadJobs.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    auto& e = r.reply.elements;
    for (size_t i = 0; i + 1 < e.size(); i += 2) {
        Job j;
        j.message_id = e[i].str;
        j.payload = e[i + 1].str;
        out.push_back(std::move(j));
    }
    co_return out;
}

asio::awaitable<Result<std::vector<std::string>>> RedisQueue::discard_dead(
    const std::vector<std::string>& ids) {
    std::vector<std::string> out;
    if (ids.empty()) co_return out;
    std::vector<std::string> keys{prefix_ + ":dlq"};
    std::vector<std::string> args{prefix_ + ":"};
    args.insert(args.end(), ids.begin(), ids.end());
    auto r = co_await kDiscardDead.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    for (auto& e : r.reply.elements) out.push_back(e.str);
    co_return out;
}

asio::awaitable<Result<int>> RedisQueue::heartbeat_instances() {
    auto now = now_ms();
    std::vector<redis::Args> cmds{
        {"ZADD", prefix_ + ":instances", std::to_string(now), consumer_},
        {"ZREMRANGEBYSCORE", prefix_ + ":instances", "-inf", std::to_string(now - 10000)},
        {"ZCARD", prefix_ + ":instances"}};
    auto rs = co_await cmd_.pipeline(std::move(cmds));
    auto& last = rs.back();
    if (!last.ok || last.reply.type != redis::Reply::Type::integer) co_return unavailable();
    co_return std::max<int>(1, static_cast<int>(last.reply.integer));
}

asio::awaitable<Queue::Gauges> RedisQueue::gauges() {
    Gauges g;
    g.held_back = static_cast<int64_t>(held_back_);
    // A leased job's score is its lease's end (take_due.lua): the lowest score is the earliest
    // due time of a job nobody holds.
    std::vector<redis::Args> cmds{{"XLEN", stream_},
                                  {"ZCARD", prefix_ + ":sched"},
                                  {"ZCARD", prefix_ + ":dlq"},
                                  {"ZRANGE", prefix_ + ":sched", "0", "0", "WITHSCORES"}};
    auto rs = co_await cmd_.pipeline(std::move(cmds));
    auto val = [](const redis::Result& r) -> int64_t {
        return r.ok && r.reply.type == redis::Reply::Type::integer ? r.reply.integer : -1;
    };
    g.backlog = val(rs[0]);
    g.scheduled = val(rs[1]);
    g.dead = val(rs[2]);
    auto& first = rs[3];
    if (first.ok && first.reply.type == redis::Reply::Type::array) {
        g.oldest_due_ms = 0;
        if (first.reply.elements.size() == 2) {
            char* end = nullptr;
            const std::string& score = first.reply.elements[1].str;
            double due = std::strtod(score.c_str(), &end);
            if (end != score.c_str())
                g.oldest_due_ms = std::max<int64_t>(0, now_ms() - static_cast<int64_t>(due));
        }
    }
    co_return g;
}

asio::awaitable<Result<json::value>> RedisQueue::event_record(const std::string& event_id) {
    redis::Args cmd4{"HGETALL", key("ev", event_id)};
    auto r = co_await cmd_.command(std::move(cmd4));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    if (r.reply.elements.empty()) co_return fail(Errc::not_found);
    json::object rec;
    rec["event_id"] = event_id;
    // The event's messages: the "s:<id>" fields, in the order they were written, after those
    // of `msgs` (the list an earlier version kept; now only an empty one for a skipped event).
    std::vector<std::string> ids;
    bool processed = false;  // the event's messages are known (else it waits to be processed)
    std::unordered_map<std::string, std::string> states;  // "s:<id>" fields
    std::vector<std::string> from_states;
    for (size_t i = 0; i + 1 < r.reply.elements.size(); i += 2) {
        auto& f = r.reply.elements[i].str;
        auto& v = r.reply.elements[i + 1].str;
        if (f == "dossier_code" || f == "status") rec[f] = v;
        if (f.rfind("s:", 0) == 0) {
            from_states.push_back(f.substr(2));
            states[from_states.back()] = v;
            processed = true;
        }
        if (f == "msgs") {
            ids = split_nonempty(v, ',');
            processed = true;
        }
        if (f == "created_at" || f == "updated_at") {
            try {
                rec[f] = rfc3339_utc(std::stoll(v));
            } catch (...) {
            }
        }
    }
    for (auto& id : from_states)
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    std::optional<json::array> list = co_await fetch_messages(ids);
    if (!list) co_return unavailable();
    // The event's state from its messages' states: those in the hash, else the record's (a
    // message written before the hash kept its state); a message with neither is left out.
    for (auto& m : *list) {
        auto& o = m.as_object();
        auto* id = o.if_contains("id");
        auto* st = o.if_contains("state");
        if (id && id->is_string() && st && st->is_string())
            states.try_emplace(std::string(id->as_string()), std::string(st->as_string()));
    }
    std::vector<std::string_view> known;
    for (auto& id : ids)
        if (auto it = states.find(id); it != states.end()) known.push_back(it->second);
    rec["state"] = processed ? event_state(known) : state::kAccepted;
    rec["messages"] = std::move(*list);
    co_return json::value(std::move(rec));
}

asio::awaitable<std::optional<json::array>> RedisQueue::fetch_messages(
    std::vector<std::string> ids) {
    json::array list;
    if (ids.empty()) co_return list;
    redis::Args mget{"MGET"};
    for (auto& id : ids) mget.push_back(key("msg", id));
    auto m = co_await cmd_.command(std::move(mget));
    if (!m.ok || m.reply.is_error()) co_return std::nullopt;
    for (auto& e : m.reply.elements) {
        if (e.is_nil()) continue;  // expired since
        boost::system::error_code ec;
        auto v = json::parse(e.str, ec);
        if (!ec) list.push_back(std::move(v));
    }
    co_return list;
}

asio::awaitable<Result<json::value>> RedisQueue::message_record(const std::string& message_id) {
    redis::Args cmd5{"GET", key("msg", message_id)};
    auto r = co_await cmd_.command(std::move(cmd5));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    if (r.reply.is_nil()) co_return fail(Errc::not_found);
    boost::system::error_code ec;
    json::value v = json::parse(r.reply.str, ec);
    if (ec) co_return unavailable();
    co_return v;
}

asio::awaitable<Result<json::value>> RedisQueue::dossier_messages(const std::string& dossier_code) {
    redis::Args cmd6{"ZREVRANGE", key("dossier", dossier_code), "0",
                     std::to_string(limits::kDossierMessages - 1)};
    auto r = co_await cmd_.command(std::move(cmd6));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<std::string> ids;
    for (auto& e : r.reply.elements) ids.push_back(e.str);
    std::optional<json::array> list = co_await fetch_messages(std::move(ids));
    if (!list) co_return unavailable();
    co_return json::value(
        json::object{{"dossier_code", dossier_code}, {"messages", std::move(*list)}});
}

// Feedback: the record under "fb:<id>", its id in the dossier's sorted set "dossier-fb:<code>"
// (scored by submitted_at), and its call-backs: one script (callbacks.lua, `feedback`), so a
// crash keeps all of them or none.
asio::awaitable<Result<bool>> RedisQueue::add_feedback(const FeedbackRecord& feedback,
                                                       const std::vector<Notice>& notices) {
    auto st = status_stream_args();
    std::vector<std::string> args{"feedback",
                                  prefix_ + ":",
                                  std::to_string(now_ms()),
                                  std::to_string(settings_.dedupe_ttl.count()),
                                  st[0],
                                  st[1],
                                  st[2],
                                  key("fb", feedback.id),
                                  key("dossier-fb", feedback.dossier_code),
                                  std::to_string(feedback.submitted_at_ms),
                                  feedback.id,
                                  json::serialize(feedback.to_json()),
                                  record_ttl(),
                                  std::to_string(notices.size())};
    redis_detail::append_notices(args, notices);
    auto r = co_await redis_detail::kCallbacks.run(cmd_, {}, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    co_return r.reply.integer == 1;
}

asio::awaitable<Result<json::value>> RedisQueue::dossier_feedback(const std::string& dossier_code) {
    redis::Args range{"ZREVRANGE", key("dossier-fb", dossier_code), "0",
                      std::to_string(limits::kDossierFeedback - 1)};
    auto r = co_await cmd_.command(std::move(range));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    json::array list;
    if (!r.reply.elements.empty()) {
        redis::Args mget{"MGET"};
        for (auto& e : r.reply.elements) mget.push_back(key("fb", e.str));
        auto m = co_await cmd_.command(std::move(mget));
        if (!m.ok || m.reply.is_error()) co_return unavailable();
        for (auto& e : m.reply.elements) {
            if (e.is_nil()) continue;  // expired, or its write did not finish
            boost::system::error_code ec;
            auto v = json::parse(e.str, ec);
            if (!ec) list.push_back(std::move(v));
        }
    }
    co_return json::value(
        json::object{{"dossier_code", dossier_code}, {"feedback", std::move(list)}});
}

namespace {
// `s` matched literally by a SCAN pattern.
std::string glob_escaped(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}
}  // namespace

asio::awaitable<Result<UsageScan>> RedisQueue::scan_usage(const UsageQuery& q, UsageVisitor visit) {
    // Records have no index by time (none is written per message): the report walks every
    // record key with SCAN, a bounded batch at a time so other commands interleave, and reads
    // each batch with one MGET. Its cost grows with the records kept (queue.retention).
    UsageScan out;
    const std::string pattern = glob_escaped(prefix_ + ":msg:") + "*";
    std::string cursor = "0";
    do {
        redis::Args scan{"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        auto r = co_await cmd_.command(std::move(scan));
        if (!r.ok || r.reply.is_error() || r.reply.elements.size() != 2) co_return unavailable();
        cursor = r.reply.elements[0].str;
        redis::Args mget{"MGET"};
        for (auto& k : r.reply.elements[1].elements) mget.push_back(k.str);
        if (mget.size() == 1) continue;
        auto got = co_await cmd_.command(std::move(mget));
        if (!got.ok || got.reply.is_error()) co_return unavailable();
        for (auto& v : got.reply.elements) {
            if (v.is_nil()) continue;  // expired between SCAN and MGET
            auto rec = MessageRecord::from_json(v.str);
            if (!rec || rec->created_at_ms < q.from_ms || rec->created_at_ms >= q.to_ms) continue;
            if (out.records == q.limit) {
                out.truncated = true;
                co_return out;
            }
            visit(*rec);
            ++out.records;
        }
    } while (cursor != "0");
    co_return out;
}

asio::awaitable<Result<std::vector<Spend>>> RedisQueue::month_spend(const std::string& month) {
    redis::Args cmd{"HGETALL", key("spend", month)};
    auto r = co_await cmd_.command(std::move(cmd));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::map<std::string, Spend> by_agency;
    auto& e = r.reply.elements;
    for (size_t i = 0; i + 1 < e.size(); i += 2) {
        const std::string& field = e[i].str;  // "<agency>:dong" or "<agency>:segments"
        auto colon = field.rfind(':');
        if (colon == std::string::npos) continue;
        std::string agency = field.substr(0, colon), what = field.substr(colon + 1);
        Spend& sp = by_agency[agency];
        sp.month = month;
        sp.agency = agency;
        int64_t n = std::strtoll(e[i + 1].str.c_str(), nullptr, 10);
        (what == "dong" ? sp.dong : sp.segments) = n;
    }
    std::vector<Spend> out;
    for (auto& [agency, sp] : by_agency) out.push_back(std::move(sp));
    co_return out;
}

asio::awaitable<Result<json::value>> RedisQueue::pending_reminders(std::size_t limit) {
    // The schedule holds every job (retries, quiet hours) by due time; reminders are picked out
    // by their id, a page at a time, soonest first. An operator's lookup, not a hot path.
    constexpr int64_t kPage = 1000;
    std::vector<std::pair<int64_t, std::string>> due;  // score (due, or a lease's end), id
    for (int64_t start = 0; due.size() < limit; start += kPage) {
        redis::Args range{"ZRANGE", prefix_ + ":sched", std::to_string(start),
                          std::to_string(start + kPage - 1), "WITHSCORES"};
        auto r = co_await cmd_.command(std::move(range));
        if (!r.ok || r.reply.is_error()) co_return unavailable();
        auto& e = r.reply.elements;
        for (std::size_t i = 0; i + 1 < e.size() && due.size() < limit; i += 2)
            if (is_reminder_id(e[i].str))
                due.emplace_back(std::strtoll(e[i + 1].str.c_str(), nullptr, 10), e[i].str);
        if (static_cast<int64_t>(e.size()) < 2 * kPage) break;
    }
    std::vector<std::string> ids;
    for (auto& [score, id] : due) ids.push_back(id);
    auto list = co_await fetch_messages(std::move(ids));
    if (!list) co_return unavailable();
    co_return json::value(json::object{{"reminders", std::move(*list)}});
}

asio::awaitable<StoreRead> RedisQueue::get(std::string k) {
    StoreRead out;
    redis::Args cmd{"GET", prefix_ + ":state:" + k};
    auto r = co_await cmd_.command(std::move(cmd));
    if (!r.ok || r.reply.is_error()) co_return out;
    out.ok = true;
    if (!r.reply.is_nil()) out.value = r.reply.str;
    co_return out;
}

asio::awaitable<bool> RedisQueue::put(std::string k, std::string value) {
    redis::Args cmd{"SET", prefix_ + ":state:" + k, std::move(value)};
    auto r = co_await cmd_.command(std::move(cmd));
    co_return r.ok && !r.reply.is_error();
}

asio::awaitable<bool> RedisQueue::put_for(std::string k, std::string value,
                                          std::chrono::milliseconds ttl) {
    redis::Args cmd{"SET", prefix_ + ":state:" + k, std::move(value), "PX",
                    std::to_string(std::max<int64_t>(ttl.count(), 1))};
    auto r = co_await cmd_.command(std::move(cmd));
    co_return r.ok && !r.reply.is_error();
}

asio::awaitable<bool> RedisQueue::try_lock(std::string k, std::chrono::milliseconds ttl) {
    redis::Args cmd{"SET", prefix_ + ":lock:" + k,     consumer_, "NX",
                    "PX",  std::to_string(ttl.count())};
    auto r = co_await cmd_.command(std::move(cmd));
    co_return r.ok&& r.reply.type == redis::Reply::Type::status;
}

asio::awaitable<void> RedisQueue::unlock(std::string k) {
    std::vector<std::string> keys{prefix_ + ":lock:" + k};
    std::vector<std::string> args{consumer_};
    co_await kUnlock.run(cmd_, keys, args);
}

asio::awaitable<Result<int64_t>> RedisQueue::dossier_blocked_until(const std::string& dossier_code,
                                                                   int64_t created_ms,
                                                                   const std::string& message_id) {
    std::vector<std::string> keys;
    std::vector<std::string> args{prefix_ + ":", dossier_code};
    auto r = co_await kWaiting.run(cmd_, keys, args);
    if (!r.ok || r.reply.type != redis::Reply::Type::array) co_return unavailable();
    co_return tinbao::dossier_blocked_until(waiting_from(r.reply), created_ms, message_id);
}

asio::awaitable<Result<bool>> RedisQueue::dossier_has_newer(const std::string& dossier_code,
                                                            const std::string& entry_id) {
    redis::Args cmd{"GET", key("dlast", dossier_code)};
    auto r = co_await cmd_.command(std::move(cmd));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    if (r.reply.is_nil()) co_return false;
    co_return stream_id_less(entry_id, r.reply.str);
}

}  // namespace tinbao::queue
