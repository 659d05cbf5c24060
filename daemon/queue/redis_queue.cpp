#include "daemon/queue/redis_queue.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <functional>
#include <unordered_map>

#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/redis/scripts.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

namespace {

constexpr const char* kGroup = "tinbao";

Failure unavailable() {
    return fail(Errc::queue_unavailable);
}

// The scripts (daemon/queue/redis/*.lua). Every script that serves many callers at once
// (RedisQueue::Batcher) takes shared arguments first, then each call's arguments, and answers
// one reply per call, in order.
const redis::Script kIngest(lua::ingest);
const redis::Script kClaim(std::string(lua::shared) + lua::claim);
const redis::Script kCommit(lua::commit);
const redis::Script kTakeDue(lua::take_due);
const redis::Script kTakeDead(lua::take_dead);
const redis::Script kReport(lua::report);
const redis::Script kWaiting(std::string(lua::shared) + lua::waiting);
const redis::Script kUnlock(lua::unlock);

// waiting_of's flat list {id, created ms, next attempt ms, ...}.
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

// Stream ids "<ms>-<seq>" in the order Redis gave them.
bool stream_id_less(const std::string& a, const std::string& b) {
    auto split_id = [](const std::string& s) {
        auto dash = s.find('-');
        return std::pair<long long, long long>(
            std::strtoll(s.c_str(), nullptr, 10),
            dash == std::string::npos ? 0 : std::strtoll(s.c_str() + dash + 1, nullptr, 10));
    };
    return split_id(a) < split_id(b);
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        auto pos = s.find(sep, start);
        if (pos == std::string_view::npos) pos = s.size();
        if (pos > start) out.emplace_back(s.substr(start, pos - start));
        start = pos + 1;
    }
    return out;
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
    return o;
}

// Entries of one stream in an XREADGROUP / XAUTOCLAIM reply: [[id, [field, value, ...]], ...].
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

}  // namespace

// Calls of one script from many coroutines, gathered into one script run (group commit): a call
// waits for the end of the current turn of the loop, or for the run in flight to finish, and
// goes out with every call that arrived meanwhile (at most `max_calls`). Under load, batches grow
// by themselves; alone, a call costs one round trip as before.
class RedisQueue::Batcher {
public:
    using Head = std::function<void(redis::Args&)>;
    Batcher(asio::io_context& io, redis::Connection& conn, const redis::Script& script,
            std::string what, std::size_t max_calls, Head head)
        : io_(io),
          conn_(conn),
          script_(script),
          what_(std::move(what)),
          max_calls_(max_calls),
          head_(std::move(head)) {}
    ~Batcher() { *alive_ = false; }
    Batcher(const Batcher&) = delete;
    Batcher& operator=(const Batcher&) = delete;

    // The script's reply for this call; nullopt when the run failed (Redis did not answer, or
    // the script failed for this call: callers retry or answer 503). When the script fails on
    // a batch, its calls are run again one by one, so one bad call fails alone.
    asio::awaitable<std::optional<redis::Reply>> call(redis::Args args) {
        auto init = [this, &args](auto handler) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            waiting_.push_back(
                Call{std::move(args), [h](std::optional<redis::Reply> r) { (*h)(std::move(r)); }});
            schedule();
        };
        std::optional<redis::Reply> r =
            co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(std::optional<redis::Reply>)>(init,
                                                                             asio::use_awaitable);
        co_return r;
    }

private:
    struct Call {
        redis::Args args;
        std::function<void(std::optional<redis::Reply>)> done;
        bool alone = false;  // run in a batch of its own (its batch failed)
    };

    void schedule() {
        if (posted_ || waiting_.empty() || running_ >= kMaxRuns) return;
        posted_ = true;
        asio::post(io_, [this, alive = alive_] {
            if (!*alive) return;
            posted_ = false;
            if (waiting_.empty() || running_ >= kMaxRuns) return;
            ++running_;
            asio::co_spawn(io_, flush(), asio::detached);
        });
    }

    asio::awaitable<void> flush() {
        std::vector<Call> batch;
        std::vector<std::size_t> arg_counts;  // to give each call its arguments back
        redis::Args argv(3);                  // EVALSHA sha1 0
        head_(argv);
        const std::size_t head_size = argv.size();
        while (!waiting_.empty() && batch.size() < max_calls_) {
            auto& c = waiting_.front();
            if (c.alone && !batch.empty()) break;
            arg_counts.push_back(c.args.size());
            for (auto& a : c.args) argv.push_back(std::move(a));
            c.args.clear();
            bool alone = c.alone;
            batch.push_back(std::move(c));
            waiting_.pop_front();
            if (alone) break;
        }
        schedule();  // what is left goes out in the next run
        // The queue may be gone when the answer comes (stopped with a run in flight): after
        // the await, only locals are used until `alive` says otherwise.
        auto alive = alive_;
        asio::io_context& io = io_;
        std::string what = what_;
        redis::Result r = co_await script_.run_argv(conn_, argv);
        bool ok = r.ok && r.reply.type == redis::Reply::Type::array &&
                  r.reply.elements.size() == batch.size();
        if (!ok && r.ok && r.reply.is_error() && batch.size() > 1 && *alive) {
            // The script failed on something in this batch: each call goes again alone, first
            // in line, so that only the call at fault fails.
            spdlog::warn("queue: {} of {} call(s) failed: {}; running them one by one", what,
                         batch.size(), r.reply.str);
            std::size_t at = head_size;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto& c = batch[i];
                c.args.assign(std::make_move_iterator(argv.begin() + at),
                              std::make_move_iterator(argv.begin() + at + arg_counts[i]));
                at += arg_counts[i];
                c.alone = true;
            }
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) waiting_.push_front(std::move(*it));
            --running_;
            schedule();
            co_return;
        }
        if (!ok)
            spdlog::warn("queue: {} of {} call(s) failed: {}", what, batch.size(),
                         !r.ok ? r.error
                               : (r.reply.is_error() ? r.reply.str : "unexpected reply"));
        // The callers resume from a fresh handler, not inside this coroutine.
        asio::post(io, [batch = std::move(batch), reply = std::move(r.reply), ok]() mutable {
            for (size_t i = 0; i < batch.size(); ++i)
                batch[i].done(ok ? std::optional<redis::Reply>(std::move(reply.elements[i]))
                                 : std::nullopt);
        });
        if (!*alive) co_return;
        --running_;
        schedule();
    }

    asio::io_context& io_;
    redis::Connection& conn_;
    const redis::Script& script_;
    std::string what_;
    std::size_t max_calls_;
    Head head_;
    std::deque<Call> waiting_;
    int running_ = 0;
    bool posted_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // Runs in flight at once. One gives the largest batches; two or four measured no faster
    // (bench/README.md): Redis and the CPU are the limits, not the round trip.
    static constexpr int kMaxRuns = 1;
};

RedisQueue::RedisQueue(asio::io_context& io, const QueueSettings& settings, std::string consumer)
    : settings_(settings),
      consumer_(std::move(consumer)),
      prefix_(settings.redis.prefix),
      stream_(settings.redis.prefix + ":events"),
      cmd_(io, options_for(settings, "commands")),
      reader_(io, options_for(settings, "reader")) {
    cmd_.on_state_change([this](bool up) {
        if (!up) group_ok_ = false;
    });
    auto ttl = [this] { return std::to_string(settings_.dedupe_ttl.count()); };
    auto now = [] { return std::to_string(now_ms()); };
    ingest_batch_ = std::make_unique<Batcher>(
        io, cmd_, kIngest, "ingest", limits::kCallsPerScriptRun,
        [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", stream_});
        });
    claim_batch_ = std::make_unique<Batcher>(
        io, cmd_, kClaim, "claim", limits::kCallsPerScriptRun,
        [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", record_ttl()});
        });
    commit_batch_ = std::make_unique<Batcher>(
        io, cmd_, kCommit, "commit", limits::kCallsPerScriptRun,
        [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", record_ttl(), stream_, kGroup});
        });
}

RedisQueue::~RedisQueue() = default;

void RedisQueue::start() {
    cmd_.start();
    reader_.start();
}

void RedisQueue::stop() {
    cmd_.stop();
    reader_.stop();
}

bool RedisQueue::ready() const {
    return cmd_.ready();
}

std::string RedisQueue::describe() const {
    return "redis " + settings_.redis.host + ":" + std::to_string(settings_.redis.port) + "/" +
           std::to_string(settings_.redis.db) + " prefix " + prefix_ + " consumer " + consumer_;
}

std::string RedisQueue::record_ttl() const {
    // Message records hold personal data: kept for `retention` when set. The event key is the
    // idempotency key and keeps dedupe_ttl.
    auto ttl = settings_.retention.count() > 0 ? settings_.retention : settings_.dedupe_ttl;
    return std::to_string(ttl.count());
}

std::string RedisQueue::key(std::string_view kind, std::string_view id) const {
    std::string k;
    k.reserve(prefix_.size() + kind.size() + id.size() + 2);
    k.append(prefix_).push_back(':');
    k.append(kind).push_back(':');
    k.append(id);
    return k;
}

asio::awaitable<Result<void>> RedisQueue::ingest(const Event& event, const std::string& payload) {
    redis::Args args{event.event_id, payload, event.dossier_code, event.status};
    std::optional<redis::Reply> r = co_await ingest_batch_->call(std::move(args));
    if (!r || r->type != redis::Reply::Type::string) co_return unavailable();
    if (r->str.empty()) co_return fail(Errc::duplicate);
    co_return Result<void>();
}

asio::awaitable<bool> RedisQueue::ensure_group() {
    if (group_ok_) co_return true;
    // From "0": entries added before the group existed are delivered too.
    redis::Args cmd1{"XGROUP", "CREATE", stream_, kGroup, "0", "MKSTREAM"};
    auto r = co_await cmd_.command(std::move(cmd1));
    if (!r.ok) co_return false;
    if (r.reply.is_error() && r.reply.str.rfind("BUSYGROUP", 0) != 0) {
        spdlog::error("queue: cannot create the consumer group: {}", r.reply.str);
        co_return false;
    }
    group_ok_ = true;
    co_return true;
}

asio::awaitable<Result<std::vector<Entry>>> RedisQueue::read(std::size_t max,
                                                            std::chrono::milliseconds wait) {
    bool group = co_await ensure_group();
    if (!group) co_return unavailable();
    std::vector<Entry> out;
    auto count = std::to_string(max);

    // Acknowledged entries leave the stream every few seconds: the records keep what matters.
    auto now = std::chrono::steady_clock::now();
    if (now >= next_trim_) {
        next_trim_ = now + std::chrono::seconds(5);
        co_await trim_acknowledged();
    }

    // Entries of consumers that died: taken over once idle for claim_idle.
    if (now >= next_autoclaim_) {
        next_autoclaim_ = now + settings_.claim_idle / 4;
        redis::Args cmd2{"XAUTOCLAIM", stream_, kGroup, consumer_,
                                        std::to_string(settings_.claim_idle.count()), "0-0",
                                        "COUNT", count};
        auto r = co_await cmd_.command(std::move(cmd2));
        if (r.ok && !r.reply.is_error() && r.reply.elements.size() >= 2) {
            collect_entries(r.reply.elements[1], out);
            if (!out.empty())
                spdlog::info("queue: took over {} entries from a consumer that stopped",
                             out.size());
            // A full batch: more of a dead consumer's entries may wait. Take them at the next
            // read, not a quarter of claim_idle later.
            if (out.size() >= max) next_autoclaim_ = now;
        }
        if (!out.empty()) co_return out;
    }

    // After a start, what this consumer held before (a crash) comes first.
    std::string from = reading_own_pending_ ? "0" : ">";
    redis::Args args{"XREADGROUP", "GROUP", kGroup, consumer_, "COUNT", count};
    if (!reading_own_pending_) {
        args.push_back("BLOCK");
        args.push_back(std::to_string(wait.count()));
    }
    args.push_back("STREAMS");
    args.push_back(stream_);
    args.push_back(from);
    auto r = co_await reader_.command(std::move(args), wait + settings_.redis.command_timeout);
    if (!r.ok) co_return unavailable();
    if (r.reply.is_error()) {
        if (r.reply.str.rfind("NOGROUP", 0) == 0) group_ok_ = false;
        spdlog::warn("queue: read failed: {}", r.reply.str);
        co_return unavailable();
    }
    if (r.reply.type == redis::Reply::Type::array) {
        for (auto& stream : r.reply.elements)
            if (stream.elements.size() >= 2) collect_entries(stream.elements[1], out);
    }
    if (reading_own_pending_ && out.empty()) reading_own_pending_ = false;
    co_return out;
}

asio::awaitable<int64_t> RedisQueue::trim_acknowledged() {
    // Below both the oldest entry still pending and the group's last delivered id, every entry
    // has been acknowledged. Entries added later have higher ids, so the answer stays true
    // while the trim is on its way.
    std::vector<redis::Args> cmds{{"XINFO", "GROUPS", stream_}, {"XPENDING", stream_, kGroup}};
    auto rs = co_await cmd_.pipeline(std::move(cmds));
    if (rs.size() != 2 || !rs[0].ok || !rs[1].ok || rs[0].reply.type != redis::Reply::Type::array ||
        rs[1].reply.type != redis::Reply::Type::array || rs[1].reply.elements.size() < 2)
        co_return -1;
    std::string floor;
    for (auto& g : rs[0].reply.elements) {
        std::string name, last;
        for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
            if (g.elements[i].str == "name") name = g.elements[i + 1].str;
            if (g.elements[i].str == "last-delivered-id") last = g.elements[i + 1].str;
        }
        if (name == kGroup) floor = last;
    }
    if (floor.empty() || floor == "0-0") co_return 0;
    auto& oldest_pending = rs[1].reply.elements[1];
    if (rs[1].reply.elements[0].integer > 0 && !oldest_pending.str.empty() &&
        stream_id_less(oldest_pending.str, floor))
        floor = oldest_pending.str;
    redis::Args trim{"XTRIM", stream_, "MINID", floor};
    auto r = co_await cmd_.command(std::move(trim));
    if (!r.ok || r.reply.type != redis::Reply::Type::integer) co_return -1;
    co_return r.reply.integer;
}

asio::awaitable<Result<Claim>> RedisQueue::claim(const Entry& entry, const Event& event,
                                                 const std::vector<MessageRecord>& initial) {
    redis::Args args{entry.id, event.event_id, event.dossier_code, event.status,
                     std::to_string(initial.size())};
    args.reserve(args.size() + 4 * initial.size());
    for (auto& m : initial) {
        args.push_back(m.id);
        args.push_back(std::to_string(m.created_at_ms));
        args.push_back(m.to_json_text());
        args.push_back(m.state);
    }
    std::optional<redis::Reply> r = co_await claim_batch_->call(std::move(args));
    if (!r || r->type != redis::Reply::Type::array || r->elements.empty())
        co_return unavailable();
    if (r->elements[0].str == "duplicate") co_return fail(Errc::duplicate);
    Claim c;
    if (r->elements.size() >= 2)
        c.blocked_until_ms =
            tinbao::dossier_blocked_until(waiting_from(r->elements[1]), std::nullopt, "");
    for (size_t i = 2; i < r->elements.size(); ++i) {
        auto& s = r->elements[i].str;
        c.existing.push_back(s.empty() ? std::nullopt : MessageRecord::from_json(s));
    }
    c.existing.resize(initial.size());
    co_return c;
}

asio::awaitable<Result<void>> RedisQueue::commit(const Commit& c) {
    redis::Args args{c.event_id,
                     c.dossier_code,
                     c.status,
                     c.ack ? c.ack->id : std::string(),
                     std::to_string(c.messages.size()),
                     std::to_string(c.schedule.size()),
                     std::to_string(c.done.size()),
                     std::to_string(c.dead.size())};
    args.reserve(args.size() + 4 * (c.messages.size() + c.schedule.size()) + c.done.size() +
                 2 * c.dead.size());
    for (auto& m : c.messages) {
        args.push_back(m.id);
        args.push_back(std::to_string(m.created_at_ms));
        args.push_back(m.state);
        args.push_back(m.to_json_text());
    }
    for (auto& j : c.schedule) {
        // The job's message was created when its record says (for the dossier's order).
        int64_t created = now_ms();
        for (auto& m : c.messages)
            if (m.id == j.message_id) created = m.created_at_ms;
        args.push_back(j.message_id);
        args.push_back(std::to_string(j.due_ms));
        args.push_back(std::to_string(created));
        args.push_back(j.payload);
    }
    for (auto& id : c.done) args.push_back(id);
    for (auto& j : c.dead) {
        args.push_back(j.message_id);
        args.push_back(j.payload);
    }
    std::optional<redis::Reply> r = co_await commit_batch_->call(std::move(args));
    if (!r || r->type != redis::Reply::Type::string) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<DueJob>>> RedisQueue::take_due(
    std::size_t max, std::chrono::milliseconds lease) {
    auto now = now_ms();
    std::vector<std::string> keys{prefix_ + ":sched"};
    std::vector<std::string> args{std::to_string(now), std::to_string(now + lease.count()),
                                  std::to_string(max), prefix_ + ":"};
    auto r = co_await kTakeDue.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    std::vector<DueJob> out;
    auto& e = r.reply.elements;
    for (size_t i = 0; i + 2 < e.size(); i += 3) {
        DueJob d;
        d.job.message_id = e[i].str;
        d.job.payload = e[i + 1].str;
        d.job.due_ms = now;
        if (!e[i + 2].str.empty()) d.record = MessageRecord::from_json(e[i + 2].str);
        out.push_back(std::move(d));
    }
    co_return out;
}

asio::awaitable<Result<json::value>> RedisQueue::dead_letters(const DeadLetterQuery& q) {
    // Newest first; filtered here by reason, reading at most a few thousand.
    redis::Args range{"ZREVRANGE", prefix_ + ":dlq", "0",
                      std::to_string(limits::kDeadLetters - 1)};
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

asio::awaitable<Result<std::vector<Job>>> RedisQueue::take_dead(
    const std::vector<std::string>& ids, const std::string& reason) {
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
    auto r = co_await kTakeDead.run(cmd_, keys, args);
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
    std::vector<redis::Args> cmds{{"XLEN", stream_},
                                  {"ZCARD", prefix_ + ":sched"},
                                  {"ZCARD", prefix_ + ":dlq"}};
    auto rs = co_await cmd_.pipeline(std::move(cmds));
    auto val = [](const redis::Result& r) -> int64_t {
        return r.ok && r.reply.type == redis::Reply::Type::integer ? r.reply.integer : -1;
    };
    g.backlog = val(rs[0]);
    g.scheduled = val(rs[1]);
    g.dead = val(rs[2]);
    co_return g;
}

asio::awaitable<Result<void>> RedisQueue::apply_updates(
    const std::vector<DeliveryUpdate>& updates) {
    bool all = true;
    for (auto& u : updates) {
        // Read, apply the rule to the record, write unless it changed meanwhile (a commit of
        // the same message): then again from the new record.
        std::string outcome;
        for (int tries = 0; tries < 5 && (outcome.empty() || outcome == "changed"); ++tries) {
            redis::Args get{"GET", key("msg", u.message_id)};
            auto cur = co_await cmd_.command(std::move(get));
            if (!cur.ok || cur.reply.is_error()) break;
            std::string seen = cur.reply.is_nil() ? std::string() : cur.reply.str;
            std::optional<MessageRecord> rec = MessageRecord::from_json(seen);
            int64_t now = now_ms();
            bool changed = rec && apply_delivery_report(*rec, u, now);
            std::vector<std::string> keys;
            std::vector<std::string> args{prefix_ + ":",
                                          u.message_id,
                                          seen,
                                          changed ? rec->to_json_text() : std::string(),
                                          changed ? rec->state : std::string(),
                                          rec ? rec->event_id : std::string(),
                                          u.dedupe_key,
                                          std::to_string(now),
                                          std::to_string(settings_.dedupe_ttl.count())};
            auto r = co_await kReport.run(cmd_, keys, args);
            if (!r.ok || r.reply.is_error()) {
                spdlog::warn("queue: delivery update of message {} failed: {}", u.message_id,
                             r.ok ? r.reply.str : r.error);
                break;
            }
            outcome = r.reply.str;
        }
        if (outcome.empty() || outcome == "changed") all = false;
    }
    if (!all) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<void>> RedisQueue::ack(const Entry& entry) {
    redis::Args cmd3{"XACK", stream_, kGroup, entry.id};
    auto r = co_await cmd_.command(std::move(cmd3));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<void>> RedisQueue::reject(const Entry& entry, const std::string& reason) {
    std::vector<redis::Args> cmds{
        {"MULTI"},
        {"XADD", stream_ + ":invalid", "MAXLEN", "~",
         std::to_string(limits::kInvalidEntriesKept), "*", "event", entry.payload,
         "reason", reason, "entry", entry.id},
        {"XACK", stream_, kGroup, entry.id},
        {"EXEC"}};
    auto results = co_await cmd_.pipeline(std::move(cmds));
    if (!results.back().ok || results.back().reply.type != redis::Reply::Type::array)
        co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<void> RedisQueue::keep_alive(const std::vector<std::string>& entry_ids) {
    if (entry_ids.empty()) co_return;
    // XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery.
    redis::Args args{"XCLAIM", stream_, kGroup, consumer_, "0"};
    args.insert(args.end(), entry_ids.begin(), entry_ids.end());
    args.push_back("JUSTID");
    co_await cmd_.command(std::move(args));
}

asio::awaitable<Result<json::value>> RedisQueue::event_record(const std::string& event_id) {
    redis::Args cmd4{"HGETALL", key("ev", event_id)};
    auto r = co_await cmd_.command(std::move(cmd4));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    if (r.reply.elements.empty()) co_return fail(Errc::not_found);
    json::object rec;
    rec["event_id"] = event_id;
    std::string msgs;
    bool processed = false;  // the event's messages are known (else it waits to be processed)
    std::unordered_map<std::string, std::string> states;  // "s:<id>" fields
    for (size_t i = 0; i + 1 < r.reply.elements.size(); i += 2) {
        auto& f = r.reply.elements[i].str;
        auto& v = r.reply.elements[i + 1].str;
        if (f == "dossier_code" || f == "status") rec[f] = v;
        if (f.rfind("s:", 0) == 0) states[f.substr(2)] = v;
        if (f == "msgs") {
            msgs = v;
            processed = true;
        }
        if (f == "created_at" || f == "updated_at") {
            try {
                rec[f] = rfc3339_utc(std::stoll(v));
            } catch (...) {
            }
        }
    }
    std::optional<json::array> list = co_await fetch_messages(split(msgs, ','));
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
    for (auto& id : split(msgs, ','))
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

asio::awaitable<Result<json::value>> RedisQueue::dossier_messages(
    const std::string& dossier_code) {
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

asio::awaitable<bool> RedisQueue::try_lock(std::string k, std::chrono::milliseconds ttl) {
    redis::Args cmd{"SET", prefix_ + ":lock:" + k, consumer_, "NX", "PX",
                    std::to_string(ttl.count())};
    auto r = co_await cmd_.command(std::move(cmd));
    co_return r.ok && r.reply.type == redis::Reply::Type::status;
}

asio::awaitable<void> RedisQueue::unlock(std::string k) {
    std::vector<std::string> keys{prefix_ + ":lock:" + k};
    std::vector<std::string> args{consumer_};
    co_await kUnlock.run(cmd_, keys, args);
}

asio::awaitable<Result<int64_t>> RedisQueue::dossier_blocked_until(
    const std::string& dossier_code, int64_t created_ms, const std::string& message_id) {
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
