#include "daemon/queue/redis/redis_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <unordered_map>
#include <unordered_set>

#include "daemon/model/limits.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/redis/batcher.hpp"
#include "daemon/queue/redis/queue_parts.hpp"

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

using redis_detail::collect_entries;
using redis_detail::kClaim;
using redis_detail::kCommit;
using redis_detail::kDeadJobs;
using redis_detail::kGroup;
using redis_detail::kIngest;
using redis_detail::kReport;
using redis_detail::kTakeDue;
using redis_detail::kUnlock;
using redis_detail::kWaiting;
using redis_detail::options_for;
using redis_detail::stream_id_less;
using redis_detail::waiting_from;

RedisQueue::RedisQueue(asio::io_context& io, const QueueSettings& settings, std::string consumer)
    : io_(io),
      settings_(settings),
      consumer_(std::move(consumer)),
      prefix_(settings.redis.prefix),
      stream_(settings.redis.prefix + ":events"),
      cmd_(io, options_for(settings, "commands")),
      reader_(io, options_for(settings, "reader")) {
    if (settings.redis.min_replicas > 0)
        ingest_conn_ = std::make_unique<redis::Connection>(io, options_for(settings, "ingest"));
    cmd_.on_state_change([this](bool up) {
        if (!up) group_ok_ = false;
    });
    auto ttl = [this] { return std::to_string(settings_.dedupe_ttl.count()); };
    auto now = [] { return std::to_string(now_ms()); };
    ingest_batch_ = std::make_unique<Batcher>(
        io, ingest_conn_ ? *ingest_conn_ : cmd_, kIngest, "ingest", limits::kCallsPerScriptRun,
        [this, ttl, now](redis::Args& a) {
            // Entries go straight to this consumer while it has room (and the group exists:
            // read() made it). With min_replicas, once the batch's WAIT answered (hand_off):
            // until then they count against the room.
            std::size_t room = group_ok_ && handoff_.room ? handoff_.room() : 0;
            std::size_t take = room > handing_ ? room - handing_ : 0;
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", stream_, kGroup, consumer_,
                               std::to_string(take)});
        },
        [this](redis::Reply& tail) { hand_off(tail); });
    claim_batch_ = std::make_unique<Batcher>(
        io, cmd_, kClaim, "claim", limits::kCallsPerScriptRun, [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", record_ttl(), coalescing_ ? "1" : "0"});
        });
    commit_batch_ = std::make_unique<Batcher>(
        io, cmd_, kCommit, "commit", limits::kCallsPerScriptRun, [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", record_ttl(), stream_, kGroup});
            auto st = status_stream_args();
            a.insert(a.end(), st.begin(), st.end());
        });
}

RedisQueue::~RedisQueue() { *alive_ = false; }

void RedisQueue::start() {
    cmd_.start();
    reader_.start();
    if (ingest_conn_) ingest_conn_->start();
}

void RedisQueue::stop() {
    cmd_.stop();
    reader_.stop();
    if (ingest_conn_) ingest_conn_->stop();
}

bool RedisQueue::ready() const { return cmd_.ready() && (!ingest_conn_ || ingest_conn_->ready()); }

std::string RedisQueue::describe() const {
    std::string where = settings_.redis.sentinels.empty()
                            ? settings_.redis.host + ":" + std::to_string(settings_.redis.port)
                            : "master " + settings_.redis.master_name + " of " +
                                  std::to_string(settings_.redis.sentinels.size()) + " sentinels";
    std::string replicas = settings_.redis.min_replicas > 0
                               ? " min_replicas " + std::to_string(settings_.redis.min_replicas)
                               : std::string();
    return "redis " + where + "/" + std::to_string(settings_.redis.db) + " prefix " + prefix_ +
           " consumer " + consumer_ + replicas;
}

std::string RedisQueue::record_ttl() const {
    // Message records hold personal data: kept for `retention` when set. The event key is the
    // idempotency key and keeps dedupe_ttl.
    auto ttl = settings_.retention.count() > 0 ? settings_.retention : settings_.dedupe_ttl;
    return std::to_string(ttl.count());
}

std::vector<std::string> RedisQueue::status_stream_args() const {
    if (!settings_.status_stream) return {"", "0", "0"};
    return {prefix_ + ":status", std::to_string(settings_.status_stream_max_len),
            std::to_string(settings_.status_stream_max_age.count())};
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
    bool duplicate = r->str.empty();
    if (ingest_conn_) {
        // Not acknowledged before min_replicas replicas have it: a failover then keeps it. A 503
        // here may leave the event in Redis; the client's retry (same event_id) is a duplicate,
        // answered once the first copy is replicated, and the event is notified once.
        bool ok = co_await replicated(duplicate);
        if (!ok) co_return unavailable();
    }
    if (duplicate) co_return fail(Errc::duplicate);
    co_return Result<void>();
}

void RedisQueue::hand_off(redis::Reply& batch) {
    // Per event its entry id ('' for a duplicate), then {[waiting entry id, ...], [[id, [field,
    // value, ...]], ...]} (ingest.lua).
    auto& tail = batch.elements.back();
    if (tail.elements.size() < 2 || !handoff_.take) return;
    std::vector<Entry> taken;
    collect_entries(tail.elements[1], taken);
    if (taken.empty()) return;
    // An entry of this very batch needs no claim, unless its dossier has a notice waiting (it
    // may hold this one back) or coalescing wants the dossier's latest entry recorded. An older
    // entry delivered with them (a backlog) is claimed as usual.
    if (!coalescing_) {
        std::unordered_set<std::string_view> ours;
        for (std::size_t i = 0; i + 1 < batch.elements.size(); ++i)
            ours.insert(batch.elements[i].str);
        for (auto& w : tail.elements[0].elements) ours.erase(w.str);
        for (auto& e : taken) e.claimed = ours.count(e.id) > 0;
    }
    if (ingest_conn_) {
        // Not before the replicas have them: the WAIT asked here is the one the batch's
        // ingests join for their 202 (wait_replicas shares a WAIT in flight).
        handing_ += taken.size();
        asio::co_spawn(io_, hand_off_replicated(std::move(taken), scheduled_), asio::detached);
        return;
    }
    handoff_.take(std::move(taken));
}

asio::awaitable<void> RedisQueue::hand_off_replicated(std::vector<Entry> taken,
                                                      uint64_t scheduled) {
    auto alive = alive_;
    auto read_at = std::chrono::steady_clock::now();
    bool ok = co_await entries_replicated(*ingest_conn_, false);
    if (!*alive) co_return;
    handing_ -= taken.size();
    // A job scheduled while the WAIT ran may hold their dossier back: claim() tells, as for an
    // entry taken after it (Processor::handle).
    if (scheduled != scheduled_)
        for (auto& e : taken) e.claimed = false;
    if (!ok)
        hold_back(taken, read_at);
    else if (handoff_.take)
        handoff_.take(std::move(taken));
    // No consumer any more (stopping): they stay this consumer's pending entries, read again
    // at the next start or taken over after claim_idle.
}

asio::awaitable<bool> RedisQueue::entries_replicated(redis::Connection& conn, bool cover_all) {
    int want = settings_.redis.min_replicas;
    // A read returns entries other connections wrote, and a read of pending entries writes
    // nothing: a PUBLISH first makes the WAIT cover every write the master made before it. A
    // hand-off follows the ingest's own writes on its connection: the WAIT alone covers them.
    std::string mark = cover_all ? prefix_ + ":sync" : std::string();
    auto alive = alive_;
    redis::Result r = co_await conn.wait_replicas(want, settings_.redis.min_replicas_timeout, mark);
    bool ok = r.ok && r.reply.type == redis::Reply::Type::integer && r.reply.integer >= want;
    if (*alive && ok && holding_) {
        holding_ = false;
        spdlog::info("queue: {} replicas have the entries read again; held-back entries go on",
                     want);
    }
    co_return ok;
}

void RedisQueue::hold_back(const std::vector<Entry>& entries,
                           std::chrono::steady_clock::time_point read_at) {
    if (entries.empty()) return;
    held_back_ += entries.size();
    if (!holding_)
        spdlog::warn(
            "queue: {} entries read before {} replicas (queue.redis.min_replicas) had them: held "
            "back, not processed, until the replicas acknowledge",
            entries.size(), settings_.redis.min_replicas);
    holding_ = true;
    for (auto& e : entries)
        if (held_.size() < kMaxHeld) held_.push_back({e.id, read_at});
}

asio::awaitable<Result<std::vector<Entry>>> RedisQueue::reclaim_held(std::size_t max) {
    // Past half of claim_idle another consumer may have taken an entry over (XAUTOCLAIM, once
    // idle for claim_idle); asking for it then could make two consumers process it. Those are
    // left to the takeover (this consumer's own included).
    auto now = std::chrono::steady_clock::now();
    redis::Args args{"XCLAIM", stream_, kGroup, consumer_, "0"};
    while (!held_.empty() && args.size() - 5 < max) {
        if (now - held_.front().read_at < settings_.claim_idle / 2)
            args.push_back(std::move(held_.front().id));
        held_.pop_front();
    }
    std::vector<Entry> out;
    if (args.size() == 5) co_return out;
    // Only what the master has: after a failover, an entry the new master never saw is not
    // answered (nor delivered, nor sent).
    auto r = co_await reader_.command(std::move(args));
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    collect_entries(r.reply, out);
    co_return out;
}

asio::awaitable<bool> RedisQueue::replicated(bool duplicate) {
    int want = settings_.redis.min_replicas;
    // A duplicate's first copy may come from another connection: PUBLISH first, so that the
    // WAIT covers it too. (Named, not a temporary in the co_await: g++ 12.)
    std::string mark = duplicate ? prefix_ + ":sync" : std::string();
    redis::Result r =
        co_await ingest_conn_->wait_replicas(want, settings_.redis.min_replicas_timeout, mark);
    bool ok = r.ok && r.reply.type == redis::Reply::Type::integer && r.reply.integer >= want;
    if (!ok && !replicas_short_)
        spdlog::warn(
            "queue: {} of the {} replicas (queue.redis.min_replicas) acknowledged within "
            "{} ms; events are answered 503 until they do",
            r.ok && r.reply.type == redis::Reply::Type::integer
                ? std::to_string(r.reply.integer)
                : "none (" + (r.ok ? r.reply.str : r.error) + ")",
            want, settings_.redis.min_replicas_timeout.count());
    else if (ok && replicas_short_)
        spdlog::info("queue: {} replicas acknowledge again; events are accepted", want);
    replicas_short_ = !ok;
    co_return ok;
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
    auto read_at = std::chrono::steady_clock::now();
    Result<std::vector<Entry>> got = co_await next_entries(max, wait);
    if (!got || got->empty() || !ingest_conn_) co_return got;
    // Reading wrote (the group's delivery, on the master), on the reading connection: its WAIT
    // covers the entries read. One per read, whatever the batch's size.
    bool ok = co_await entries_replicated(reader_, true);
    if (ok) co_return got;
    hold_back(*got, read_at);
    co_return unavailable();
}

asio::awaitable<Result<std::vector<Entry>>> RedisQueue::next_entries(
    std::size_t max, std::chrono::milliseconds wait) {
    bool group = co_await ensure_group();
    if (!group) co_return unavailable();
    if (!held_.empty()) {
        Result<std::vector<Entry>> again = co_await reclaim_held(max);
        if (!again || !again->empty()) co_return again;
    }
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
        redis::Args cmd2{
            "XAUTOCLAIM", stream_, kGroup, consumer_, std::to_string(settings_.claim_idle.count()),
            "0-0",        "COUNT", count};
        // On the reading connection: with min_replicas, the WAIT after a read follows it there.
        auto r = co_await reader_.command(std::move(cmd2));
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
    if (!r || r->type != redis::Reply::Type::array || r->elements.empty()) co_return unavailable();
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
    if (std::any_of(c.schedule.begin(), c.schedule.end(),
                    [](const Job& j) { return !is_reminder_id(j.message_id); }))
        ++scheduled_;
    redis::Args args{c.event_id,
                     c.dossier_code,
                     c.status,
                     c.ack ? c.ack->id : std::string(),
                     c.messages.empty() && (c.ack || c.skipped) ? "1" : "0",
                     std::to_string(c.messages.size()),
                     std::to_string(c.schedule.size()),
                     std::to_string(c.done.size()),
                     std::to_string(c.dead.size()),
                     std::to_string(c.notices.size()),
                     std::any_of(c.notices.begin(), c.notices.end(),
                                 [](const Notice& n) { return n.if_settles; })
                         ? "1"
                         : "0",
                     std::to_string(c.spend.size())};
    args.reserve(args.size() + 4 * (c.messages.size() + c.schedule.size()) + c.done.size() +
                 2 * c.dead.size() + 4 * c.spend.size());
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
    for (auto& sp : c.spend) {
        args.push_back(sp.month);
        args.push_back(sp.agency);
        args.push_back(std::to_string(sp.dong));
        args.push_back(std::to_string(sp.segments));
    }
    redis_detail::append_notices(args, c.notices);
    std::optional<redis::Reply> r = co_await commit_batch_->call(std::move(args));
    if (!r || r->type != redis::Reply::Type::string) co_return unavailable();
    co_return Result<void>();
}

asio::awaitable<Result<std::vector<DueJob>>> RedisQueue::take_due(std::size_t max,
                                                                  std::chrono::milliseconds lease) {
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

asio::awaitable<Result<std::vector<ReportOutcome>>> RedisQueue::apply_updates(
    const std::vector<DeliveryUpdate>& updates, const ReportNotices& notices) {
    bool all = true;
    std::vector<ReportOutcome> outcomes;
    for (auto& u : updates) {
        ReportOutcome& found = outcomes.emplace_back();
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
            if (rec) {
                found.event_id = rec->event_id;
                found.dossier_code = rec->dossier_code;
            }
            bool changed = rec && apply_delivery_report(*rec, u, now);
            found.applied = changed;
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
            // The call-backs the change causes, written by the same script (none: no extra
            // argument at all).
            std::vector<Notice> caused;
            if (changed && notices) caused = notices(*rec);
            if (!caused.empty()) {
                auto st = status_stream_args();
                args.insert(args.end(), st.begin(), st.end());
                args.push_back(std::to_string(caused.size()));
                redis_detail::append_notices(args, caused);
            }
            auto r = co_await kReport.run(cmd_, keys, args);
            if (!r.ok || r.reply.is_error()) {
                spdlog::warn("queue: delivery update of message {} failed: {}", u.message_id,
                             r.ok ? r.reply.str : r.error);
                break;
            }
            outcome = r.reply.str;
        }
        if (outcome != "applied") found.applied = false;
        if (outcome.empty() || outcome == "changed") all = false;
    }
    if (!all) co_return unavailable();
    co_return outcomes;
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
        {"XADD", stream_ + ":invalid", "MAXLEN", "~", std::to_string(limits::kInvalidEntriesKept),
         "*", "event", entry.payload, "reason", reason, "entry", entry.id},
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

}  // namespace tinbao::queue
