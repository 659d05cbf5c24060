#include "daemon/queue/redis_queue.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

namespace {

constexpr const char* kGroup = "tinbao";

// KEYS: event key, stream. ARGV: payload, ttl ms, dossier code, status, now ms.
// Elects this copy of the event (SET-if-absent) and appends it to the stream in one step.
const redis::Script kIngest(R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ''} end
local id = redis.call('XADD', KEYS[2], '*', 'event', ARGV[1], 'src', 'http')
redis.call('HSET', KEYS[1], 'entry', id, 'state', 'accepted', 'dossier_code', ARGV[3],
           'status', ARGV[4], 'created_at', ARGV[5], 'updated_at', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, id}
)lua");

// KEYS: event key, dossier zset, message keys... ARGV: entry id, ttl ms, dossier code, status,
// now ms, message ids (comma-separated), key prefix, record ttl ms, message JSON... (same order
// as the message keys). Returns {'duplicate'} when another entry owns the event, else {'process', blocked_until,
// existing...} with the stored record of each message ('' when it was created now).
const redis::Script kClaim(R"lua(
local owner = redis.call('HGET', KEYS[1], 'entry')
if owner and owner ~= ARGV[1] then return {'duplicate'} end
if not owner then
  redis.call('HSET', KEYS[1], 'entry', ARGV[1], 'state', 'accepted', 'dossier_code', ARGV[3],
             'status', ARGV[4], 'created_at', ARGV[5], 'updated_at', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('HEXISTS', KEYS[1], 'msgs') == 0 and ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'msgs', ARGV[6])
end
-- Per-dossier order: an earlier notice of this dossier still waiting (a retry, quiet hours)
-- holds the new ones back until its own next attempt.
local blocked = 0
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, 19)) do
  local raw = redis.call('GET', ARGV[7] .. 'msg:' .. id)
  if raw and cjson.decode(raw).state == 'queued' then
    local due = redis.call('ZSCORE', ARGV[7] .. 'sched', id)
    if due and tonumber(due) > blocked then blocked = tonumber(due) end
  end
end
-- The dossier's latest claimed entry, for coalescing (stream ids compare as ms, then seq).
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local last = redis.call('GET', ARGV[7] .. 'dlast:' .. ARGV[3])
local nms, nseq = parse(ARGV[1])
local lms, lseq = 0, 0
if last then lms, lseq = parse(last) end
if nms > lms or (nms == lms and nseq > lseq) then
  redis.call('SET', ARGV[7] .. 'dlast:' .. ARGV[3], ARGV[1], 'PX', ARGV[2])
end
local out = {'process', tostring(blocked)}
local n = 0
for id in string.gmatch(ARGV[6], '[^,]+') do
  n = n + 1
  local k = KEYS[2 + n]
  local cur = redis.call('GET', k)
  if cur then
    out[#out + 1] = cur
  else
    redis.call('SET', k, ARGV[8 + n], 'PX', ARGV[8])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[5], id)
    out[#out + 1] = ''
  end
end
if n > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return out
)lua");

// The event's state from its messages (CONTRACT §4), shared by the scripts below.
constexpr const char* kLuaEventState = R"lua(
local function event_state(prefix, evkey)
  local msgs = redis.call('HGET', evkey, 'msgs') or ''
  local any, success = false, false
  for id in string.gmatch(msgs, '[^,]+') do
    local raw = redis.call('GET', prefix .. 'msg:' .. id)
    if raw then
      local st = cjson.decode(raw).state
      any = true
      if st == 'queued' or st == 'sending' then return 'accepted' end
      if st == 'sent' or st == 'delivered' then success = true end
    end
  end
  if not any then return 'skipped' end
  if success then return 'done' end
  return 'failed'
end
)lua";

// KEYS: event, dossier zset, sched zset, dlq zset, stream. ARGV: ttl, now, group, entry id or '',
// commit JSON, key prefix, record ttl (message records: queue.retention). Writes records, jobs, dead letters, the event's list and state, and
// acknowledges the entry: all or nothing.
const redis::Script kCommit(std::string(kLuaEventState) + R"lua(
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[6], ARGV[7]
local c = cjson.decode(ARGV[5])
local msgs = redis.call('HGET', KEYS[1], 'msgs') or ''
for _, m in ipairs(c.messages) do
  redis.call('SET', prefix .. 'msg:' .. m.id, m.json, 'PX', record_ttl)
  redis.call('ZADD', KEYS[2], 'NX', m.created, m.id)
  if not string.find(',' .. msgs .. ',', ',' .. m.id .. ',', 1, true) then
    if msgs == '' then msgs = m.id else msgs = msgs .. ',' .. m.id end
  end
end
if #c.messages > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
for _, j in ipairs(c.schedule) do
  redis.call('SET', prefix .. 'job:' .. j.id, j.payload, 'PX', ttl)
  redis.call('ZADD', KEYS[3], j.due, j.id)
end
for _, id in ipairs(c.done) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('DEL', prefix .. 'job:' .. id)
end
for _, j in ipairs(c.dead) do
  redis.call('ZREM', KEYS[3], j.id)
  redis.call('SET', prefix .. 'job:' .. j.id, j.payload, 'PX', ttl)
  redis.call('ZADD', KEYS[4], now, j.id)
end
redis.call('HSET', KEYS[1], 'msgs', msgs, 'status', c.status, 'dossier_code', c.dossier_code,
           'updated_at', now)
if redis.call('HEXISTS', KEYS[1], 'created_at') == 0 then
  redis.call('HSET', KEYS[1], 'created_at', now)
end
local st = event_state(prefix, KEYS[1])
redis.call('HSET', KEYS[1], 'state', st)
redis.call('PEXPIRE', KEYS[1], ttl)
if ARGV[4] ~= '' then redis.call('XACK', KEYS[5], ARGV[3], ARGV[4]) end
return st
)lua");

// KEYS: sched zset. ARGV: now, lease until, limit, key prefix. Leases due jobs by moving their
// score to the lease end; returns id, payload, record for each.
const redis::Script kTakeDue(R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local payload = redis.call('GET', ARGV[4] .. 'job:' .. id)
  if payload then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = redis.call('GET', ARGV[4] .. 'msg:' .. id) or ''
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
)lua");

// KEYS: dlq zset. ARGV: key prefix, ids... Removes each from the dead letters, returning id and
// job payload of those that were there.
const redis::Script kTakeDead(R"lua(
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local payload = redis.call('GET', ARGV[1] .. 'job:' .. id)
    if payload then
      out[#out + 1] = id
      out[#out + 1] = payload
    end
  end
end
return out
)lua");

// ARGV: key prefix, update JSON, now, ttl. A delivery report: sent -> delivered or failed (never
// backwards), once per provider event id; the event's state follows.
const redis::Script kUpdate(std::string(kLuaEventState) + R"lua(
local prefix, u, now, ttl = ARGV[1], cjson.decode(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if u.dedupe ~= '' then
  if not redis.call('SET', prefix .. 'cb:' .. u.dedupe, '1', 'NX', 'PX', ttl) then
    return 'duplicate'
  end
end
local key = prefix .. 'msg:' .. u.id
local raw = redis.call('GET', key)
if not raw then return 'unknown' end
local m = cjson.decode(raw)
if m.state ~= 'sent' then return 'ignored' end
m.state = u.state
m.updated_at_ms = now
if u.provider_message_id ~= '' then m.provider_message_id = u.provider_message_id end
if u.state == 'failed' then m.last_error = { reason = u.reason, detail = u.detail } end
redis.call('SET', key, cjson.encode(m), 'KEEPTTL')
local evkey = prefix .. 'ev:' .. m.event_id
if redis.call('EXISTS', evkey) == 1 then
  redis.call('HSET', evkey, 'state', event_state(prefix, evkey), 'updated_at', now)
end
return 'updated'
)lua");

// KEYS: dossier zset. ARGV: key prefix, created ms, own message id. The latest next attempt of an older notice of
// the dossier that still waits (0: none).
const redis::Script kBlocked(R"lua(
local blocked = 0
local older = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'LIMIT', 0, 20)
for _, id in ipairs(older) do
  local raw = id ~= ARGV[3] and redis.call('GET', ARGV[1] .. 'msg:' .. id)
  if raw and cjson.decode(raw).state == 'queued' then
    local due = redis.call('ZSCORE', ARGV[1] .. 'sched', id)
    if due and tonumber(due) > blocked then blocked = tonumber(due) end
  end
end
return tostring(blocked)
)lua");

// KEYS: lock. ARGV: owner. Deletes the lock only when this owner holds it.
const redis::Script kUnlock(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");

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

std::string join(const std::vector<std::string>& v, char sep) {
    std::string out;
    for (auto& s : v) {
        if (!out.empty()) out.push_back(sep);
        out += s;
    }
    return out;
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

asio::awaitable<IngestOutcome> RedisQueue::ingest(const Event& event, const std::string& payload) {
    auto now = std::to_string(now_ms());
    std::vector<std::string> keys{key("ev", event.event_id), stream_};
    std::vector<std::string> args{payload, std::to_string(settings_.dedupe_ttl.count()),
                                  event.dossier_code, event.status, now};
    auto r = co_await kIngest.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error() || r.reply.elements.size() != 2) {
        spdlog::warn("queue: ingest of event {} failed: {}", event.event_id,
                     r.ok ? r.reply.str : r.error);
        co_return IngestOutcome::unavailable;
    }
    co_return r.reply.elements[0].integer == 1 ? IngestOutcome::accepted
                                               : IngestOutcome::duplicate;
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

asio::awaitable<std::optional<std::vector<Entry>>> RedisQueue::read(
    std::size_t max, std::chrono::milliseconds wait) {
    if (!co_await ensure_group()) co_return std::nullopt;
    std::vector<Entry> out;
    auto count = std::to_string(max);

    // Entries of consumers that died: taken over once idle for claim_idle.
    auto now = std::chrono::steady_clock::now();
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
    if (!r.ok) co_return std::nullopt;
    if (r.reply.is_error()) {
        if (r.reply.str.rfind("NOGROUP", 0) == 0) group_ok_ = false;
        spdlog::warn("queue: read failed: {}", r.reply.str);
        co_return std::nullopt;
    }
    if (r.reply.type == redis::Reply::Type::array) {
        for (auto& stream : r.reply.elements)
            if (stream.elements.size() >= 2) collect_entries(stream.elements[1], out);
    }
    if (reading_own_pending_ && out.empty()) reading_own_pending_ = false;
    co_return out;
}

asio::awaitable<Claim> RedisQueue::claim(const Entry& entry, const Event& event,
                                         const std::vector<MessageRecord>& initial) {
    std::vector<std::string> keys{key("ev", event.event_id), key("dossier", event.dossier_code)};
    std::vector<std::string> ids;
    for (auto& m : initial) {
        keys.push_back(key("msg", m.id));
        ids.push_back(m.id);
    }
    std::vector<std::string> args{entry.id, std::to_string(settings_.dedupe_ttl.count()),
                                  event.dossier_code, event.status, std::to_string(now_ms()),
                                  join(ids, ','), prefix_ + ":", record_ttl()};
    for (auto& m : initial) args.push_back(json::serialize(m.to_json()));
    auto r = co_await kClaim.run(cmd_, keys, args);
    Claim c;
    if (!r.ok || r.reply.is_error() || r.reply.elements.empty()) {
        spdlog::warn("queue: claim of event {} failed: {}", event.event_id,
                     r.ok ? r.reply.str : r.error);
        co_return c;
    }
    if (r.reply.elements[0].str == "duplicate") {
        c.kind = Claim::Kind::duplicate;
        co_return c;
    }
    c.kind = Claim::Kind::process;
    if (r.reply.elements.size() >= 2) {
        try {
            c.blocked_until_ms = static_cast<int64_t>(std::stod(r.reply.elements[1].str));
        } catch (...) {
        }
    }
    for (size_t i = 2; i < r.reply.elements.size(); ++i) {
        auto& s = r.reply.elements[i].str;
        c.existing.push_back(s.empty() ? std::nullopt : MessageRecord::from_json(s));
    }
    c.existing.resize(initial.size());
    co_return c;
}

asio::awaitable<bool> RedisQueue::commit(const Commit& c) {
    json::object body;
    json::array msgs, sched, done, dead;
    for (auto& m : c.messages)
        msgs.push_back(json::object{{"id", m.id},
                                    {"json", json::serialize(m.to_json())},
                                    {"created", m.created_at_ms}});
    for (auto& j : c.schedule)
        sched.push_back(json::object{{"id", j.message_id}, {"due", j.due_ms}, {"payload", j.payload}});
    for (auto& id : c.done) done.push_back(json::value(id));
    for (auto& j : c.dead) dead.push_back(json::object{{"id", j.message_id}, {"payload", j.payload}});
    body["messages"] = std::move(msgs);
    body["schedule"] = std::move(sched);
    body["done"] = std::move(done);
    body["dead"] = std::move(dead);
    body["status"] = c.status;
    body["dossier_code"] = c.dossier_code;
    std::vector<std::string> keys{key("ev", c.event_id), key("dossier", c.dossier_code),
                                  prefix_ + ":sched", prefix_ + ":dlq", stream_};
    std::vector<std::string> args{std::to_string(settings_.dedupe_ttl.count()),
                                  std::to_string(now_ms()), kGroup, c.ack ? c.ack->id : "",
                                  json::serialize(body), prefix_ + ":", record_ttl()};
    auto r = co_await kCommit.run(cmd_, keys, args);
    bool ok = r.ok && !r.reply.is_error();
    if (!ok)
        spdlog::warn("queue: commit for event {} failed: {}", c.event_id,
                     r.ok ? r.reply.str : r.error);
    co_return ok;
}

asio::awaitable<std::optional<std::vector<DueJob>>> RedisQueue::take_due(
    std::size_t max, std::chrono::milliseconds lease) {
    auto now = now_ms();
    std::vector<std::string> keys{prefix_ + ":sched"};
    std::vector<std::string> args{std::to_string(now), std::to_string(now + lease.count()),
                                  std::to_string(max), prefix_ + ":"};
    auto r = co_await kTakeDue.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return std::nullopt;
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

asio::awaitable<Lookup> RedisQueue::dead_letters(const DeadLetterQuery& q) {
    Lookup out;
    // Newest first; filtered here by reason, reading at most a few thousand.
    redis::Args range{"ZREVRANGE", prefix_ + ":dlq", "0", "4999"};
    auto r = co_await cmd_.command(std::move(range));
    if (!r.ok || r.reply.is_error()) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    std::vector<std::string> ids;
    for (auto& e : r.reply.elements) ids.push_back(e.str);
    auto list = co_await fetch_messages(std::move(ids));
    if (!list) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
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
    out.status = Lookup::Status::found;
    out.value = json::object{{"dead_letters", std::move(filtered)}};
    co_return out;
}

asio::awaitable<std::optional<std::vector<Job>>> RedisQueue::take_dead(
    const std::vector<std::string>& ids, const std::string& reason) {
    std::vector<std::string> chosen = ids;
    if (chosen.empty() && !reason.empty()) {
        DeadLetterQuery q;
        q.reason = reason;
        q.limit = 5000;
        auto found = co_await dead_letters(q);
        if (found.status != Lookup::Status::found) co_return std::nullopt;
        for (auto& v : found.value.as_object()["dead_letters"].as_array())
            chosen.emplace_back(v.as_object()["id"].as_string());
    }
    std::vector<Job> out;
    if (chosen.empty()) co_return out;
    std::vector<std::string> keys{prefix_ + ":dlq"};
    std::vector<std::string> args{prefix_ + ":"};
    args.insert(args.end(), chosen.begin(), chosen.end());
    auto r = co_await kTakeDead.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return std::nullopt;
    auto& e = r.reply.elements;
    for (size_t i = 0; i + 1 < e.size(); i += 2) {
        Job j;
        j.message_id = e[i].str;
        j.payload = e[i + 1].str;
        out.push_back(std::move(j));
    }
    co_return out;
}

asio::awaitable<int> RedisQueue::heartbeat_instances() {
    auto now = now_ms();
    std::vector<redis::Args> cmds{
        {"ZADD", prefix_ + ":instances", std::to_string(now), consumer_},
        {"ZREMRANGEBYSCORE", prefix_ + ":instances", "-inf", std::to_string(now - 10000)},
        {"ZCARD", prefix_ + ":instances"}};
    auto rs = co_await cmd_.pipeline(std::move(cmds));
    auto& last = rs.back();
    if (!last.ok || last.reply.type != redis::Reply::Type::integer) co_return -1;
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

asio::awaitable<bool> RedisQueue::apply_updates(const std::vector<DeliveryUpdate>& updates) {
    bool all = true;
    for (auto& u : updates) {
        json::object body{{"id", u.message_id},
                          {"state", u.state},
                          {"reason", u.reason},
                          {"detail", u.detail},
                          {"provider_message_id", u.provider_message_id},
                          {"dedupe", u.dedupe_key}};
        std::vector<std::string> keys;
        std::vector<std::string> args{prefix_ + ":", json::serialize(body),
                                      std::to_string(now_ms()),
                                      std::to_string(settings_.dedupe_ttl.count())};
        auto r = co_await kUpdate.run(cmd_, keys, args);
        if (!r.ok || r.reply.is_error()) {
            spdlog::warn("queue: delivery update of message {} failed: {}", u.message_id,
                         r.ok ? r.reply.str : r.error);
            all = false;
        }
    }
    co_return all;
}

asio::awaitable<bool> RedisQueue::ack(const Entry& entry) {
    redis::Args cmd3{"XACK", stream_, kGroup, entry.id};
    auto r = co_await cmd_.command(std::move(cmd3));
    co_return r.ok && !r.reply.is_error();
}

asio::awaitable<bool> RedisQueue::reject(const Entry& entry, const std::string& reason) {
    std::vector<redis::Args> cmds{
        {"MULTI"},
        {"XADD", stream_ + ":invalid", "MAXLEN", "~", "100000", "*", "event", entry.payload,
         "reason", reason, "entry", entry.id},
        {"XACK", stream_, kGroup, entry.id},
        {"EXEC"}};
    auto results = co_await cmd_.pipeline(std::move(cmds));
    co_return results.back().ok && results.back().reply.type == redis::Reply::Type::array;
}

asio::awaitable<void> RedisQueue::keep_alive(const std::vector<std::string>& entry_ids) {
    if (entry_ids.empty()) co_return;
    // XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery.
    redis::Args args{"XCLAIM", stream_, kGroup, consumer_, "0"};
    args.insert(args.end(), entry_ids.begin(), entry_ids.end());
    args.push_back("JUSTID");
    co_await cmd_.command(std::move(args));
}

asio::awaitable<Lookup> RedisQueue::event_record(const std::string& event_id) {
    Lookup out;
    redis::Args cmd4{"HGETALL", key("ev", event_id)};
    auto r = co_await cmd_.command(std::move(cmd4));
    if (!r.ok || r.reply.is_error()) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    if (r.reply.elements.empty()) co_return out;
    json::object rec;
    rec["event_id"] = event_id;
    std::string msgs;
    for (size_t i = 0; i + 1 < r.reply.elements.size(); i += 2) {
        auto& f = r.reply.elements[i].str;
        auto& v = r.reply.elements[i + 1].str;
        if (f == "dossier_code" || f == "status" || f == "state") rec[f] = v;
        if (f == "msgs") msgs = v;
        if (f == "created_at" || f == "updated_at") {
            try {
                rec[f] = rfc3339_utc(std::stoll(v));
            } catch (...) {
            }
        }
    }
    std::optional<json::array> list = co_await fetch_messages(split(msgs, ','));
    if (!list) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    rec["messages"] = std::move(*list);
    out.status = Lookup::Status::found;
    out.value = std::move(rec);
    co_return out;
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

asio::awaitable<Lookup> RedisQueue::message_record(const std::string& message_id) {
    Lookup out;
    redis::Args cmd5{"GET", key("msg", message_id)};
    auto r = co_await cmd_.command(std::move(cmd5));
    if (!r.ok || r.reply.is_error()) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    if (r.reply.is_nil()) co_return out;
    boost::system::error_code ec;
    out.value = json::parse(r.reply.str, ec);
    out.status = ec ? Lookup::Status::unavailable : Lookup::Status::found;
    co_return out;
}

asio::awaitable<Lookup> RedisQueue::dossier_messages(const std::string& dossier_code) {
    Lookup out;
    redis::Args cmd6{"ZREVRANGE", key("dossier", dossier_code), "0", "199"};
    auto r = co_await cmd_.command(std::move(cmd6));
    if (!r.ok || r.reply.is_error()) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    std::vector<std::string> ids;
    for (auto& e : r.reply.elements) ids.push_back(e.str);
    std::optional<json::array> list = co_await fetch_messages(std::move(ids));
    if (!list) {
        out.status = Lookup::Status::unavailable;
        co_return out;
    }
    out.status = Lookup::Status::found;
    out.value = json::object{{"dossier_code", dossier_code}, {"messages", std::move(*list)}};
    co_return out;
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

asio::awaitable<int64_t> RedisQueue::dossier_blocked_until(const std::string& dossier_code,
                                                           int64_t created_ms,
                                                           const std::string& message_id) {
    std::vector<std::string> keys{key("dossier", dossier_code)};
    std::vector<std::string> args{prefix_ + ":", std::to_string(created_ms), message_id};
    auto r = co_await kBlocked.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return -1;
    try {
        co_return static_cast<int64_t>(std::stod(r.reply.str));
    } catch (...) {
        co_return -1;
    }
}

asio::awaitable<std::optional<bool>> RedisQueue::dossier_has_newer(
    const std::string& dossier_code, const std::string& entry_id) {
    redis::Args cmd{"GET", key("dlast", dossier_code)};
    auto r = co_await cmd_.command(std::move(cmd));
    if (!r.ok || r.reply.is_error()) co_return std::nullopt;
    if (r.reply.is_nil()) co_return false;
    co_return stream_id_less(entry_id, r.reply.str);
}

}  // namespace tinbao::queue
