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

namespace asio = boost::asio;
namespace json = boost::json;

namespace tinbao::queue {

namespace {

constexpr const char* kGroup = "tinbao";

Failure unavailable() {
    return fail(Errc::queue_unavailable);
}

// Lua shared by the scripts below. `prefix` always ends with ':'.
//  - event_state: the event's state from its messages (docs/api.md). Each message's state is kept
//    in the event hash as field "s:<id>", so no record is decoded; a message without that field
//    (written before the field existed) is read from its record.
//  - blocked_by: per-dossier order. p:dwait:<dossier> holds the dossier's messages that wait for
//    a scheduled attempt (id -> created ms); the latest next attempt (their score in p:sched,
//    a lease end while one runs) among those created before `before` (nil: all), other than
//    `except`. Empty for almost every dossier, so one HGETALL.
constexpr const char* kLuaShared = R"lua(
local function hash_table(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function states_of(h)
  local s = {}
  for k, v in pairs(h) do
    if string.sub(k, 1, 2) == 's:' then s[string.sub(k, 3)] = v end
  end
  return s
end
local function event_state(prefix, msgs, states)
  local any, success = false, false
  for id in string.gmatch(msgs, '[^,]+') do
    local st = states[id]
    if st == nil then
      local raw = redis.call('GET', prefix .. 'msg:' .. id)
      if raw then st = cjson.decode(raw).state end
    end
    if st then
      any = true
      if st == 'queued' or st == 'sending' then return 'accepted' end
      if st == 'sent' or st == 'delivered' then success = true end
    end
  end
  if not any then return 'skipped' end
  if success then return 'done' end
  return 'failed'
end
local function blocked_by(prefix, dossier, before, except)
  local w = redis.call('HGETALL', prefix .. 'dwait:' .. dossier)
  local blocked = 0
  for i = 1, #w, 2 do
    local id, created = w[i], tonumber(w[i + 1]) or 0
    if id ~= except and (before == nil or created < before) then
      local due = redis.call('ZSCORE', prefix .. 'sched', id)
      if due and tonumber(due) > blocked then blocked = tonumber(due) end
    end
  end
  return blocked
end
)lua";

// Every script that serves many callers at once (RedisQueue::Batcher) takes shared arguments
// first, then each call's arguments, and answers one reply per call, in order.

// ARGV: ttl ms, now ms, key prefix, stream; per event: event id, payload, dossier code, status.
// Elects each event's first copy (the event key does not exist yet) and appends it to the
// stream. Per event: the stream entry id, or '' for a duplicate.
const redis::Script kIngest(R"lua(
local ttl, now, prefix, stream = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 4 do
  local evkey = prefix .. 'ev:' .. ARGV[i]
  if redis.call('EXISTS', evkey) == 1 then
    out[#out + 1] = ''
  else
    local id = redis.call('XADD', stream, '*', 'event', ARGV[i + 1], 'src', 'http')
    redis.call('HSET', evkey, 'entry', id, 'state', 'accepted', 'dossier_code', ARGV[i + 2],
               'status', ARGV[i + 3], 'created_at', now, 'updated_at', now)
    redis.call('PEXPIRE', evkey, ttl)
    out[#out + 1] = id
  end
end
return out
)lua");

// ARGV: ttl ms, now ms, key prefix, record ttl ms; per entry: entry id, event id, dossier code,
// status, n, then n times (message id, created ms, record JSON, state).
// Per entry: {'duplicate'} when another entry owns the event, else {'process', blocked_until,
// existing...}: the stored record of each message ('' when it was created now).
const redis::Script kClaim(std::string(kLuaShared) + R"lua(
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq = tonumber(ams) or 0, tonumber(aseq) or 0
  bms, bseq = tonumber(bms) or 0, tonumber(bseq) or 0
  return ams > bms or (ams == bms and aseq > bseq)
end
local out = {}
-- Nothing is scheduled at all (the usual case): no dossier has a waiting notice.
local any_scheduled = redis.call('ZCARD', prefix .. 'sched') > 0
local i = 5
while i <= #ARGV do
  local entry, event_id, dossier, status = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local n = tonumber(ARGV[i + 4])
  local first = i + 5
  i = first + 4 * n
  local evkey = prefix .. 'ev:' .. event_id
  -- A message has a record only once its state is in the event hash ("s:<id>").
  local fields = {'entry', 'msgs'}
  for m = 0, n - 1 do fields[#fields + 1] = 's:' .. ARGV[first + 4 * m] end
  local f = redis.call('HMGET', evkey, unpack(fields))
  local owner, msgs = f[1], f[2]
  if owner and owner ~= entry then
    out[#out + 1] = {'duplicate'}
  else
    local set = {}
    if not owner then
      set = {'entry', entry, 'state', 'accepted', 'dossier_code', dossier, 'status', status,
             'created_at', now, 'updated_at', now}
    end
    -- An earlier notice of this dossier still waiting (a retry, quiet hours) holds the new
    -- ones back until its own next attempt.
    local blocked = 0
    if any_scheduled then blocked = blocked_by(prefix, dossier, nil, nil) end
    -- The dossier's latest claimed entry, for coalescing.
    local dkey = prefix .. 'dlast:' .. dossier
    local prev = redis.call('SET', dkey, entry, 'PX', ttl, 'GET')
    if prev and after(prev, entry) then redis.call('SET', dkey, prev, 'PX', ttl) end
    local r = {'process', tostring(blocked)}
    local ids = {}
    local zkey = prefix .. 'dossier:' .. dossier
    for m = 0, n - 1 do
      local at = first + 4 * m
      local id = ARGV[at]
      ids[#ids + 1] = id
      local k = prefix .. 'msg:' .. id
      local cur = f[3 + m] and redis.call('GET', k)
      if cur then
        r[#r + 1] = cur
      else
        redis.call('SET', k, ARGV[at + 2], 'PX', record_ttl)
        redis.call('ZADD', zkey, 'NX', ARGV[at + 1], id)
        set[#set + 1] = 's:' .. id
        set[#set + 1] = ARGV[at + 3]
        r[#r + 1] = ''
      end
    end
    if not msgs and n > 0 then
      set[#set + 1] = 'msgs'
      set[#set + 1] = table.concat(ids, ',')
    end
    if #set > 0 then redis.call('HSET', evkey, unpack(set)) end
    if not owner then redis.call('PEXPIRE', evkey, ttl) end
    if n > 0 then redis.call('PEXPIRE', zkey, ttl) end
    out[#out + 1] = r
  end
end
return out
)lua");

// ARGV: ttl ms, now ms, key prefix, record ttl ms, stream, group; per commit: event id, dossier
// code, status, entry id to acknowledge or '', then the counts nm, ns, nd, nx, then nm times
// (message id, created ms, state, record JSON), ns times (job id, due ms, created ms, payload),
// nd times (finished job id), nx times (dead letter id, payload).
// Writes records, jobs, dead letters, the event's list and state, and acknowledges the entry.
// Per commit: the event's state.
const redis::Script kCommit(std::string(kLuaShared) + R"lua(
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stream, group = ARGV[5], ARGV[6]
local sched, dlq = prefix .. 'sched', prefix .. 'dlq'
local out, acks = {}, {}
-- Whether a finished job may still be in the schedule (none is when it is empty).
local any_scheduled = redis.call('ZCARD', sched) > 0
local i = 7
while i <= #ARGV do
  local event_id, dossier, status, ack = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nm, ns = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local nd, nx = tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7])
  i = i + 8
  local evkey = prefix .. 'ev:' .. event_id
  local zkey = prefix .. 'dossier:' .. dossier
  local wkey = prefix .. 'dwait:' .. dossier
  local h = hash_table(redis.call('HGETALL', evkey))
  local states = states_of(h)
  local msgs = h.msgs or ''
  local set = {'status', status, 'dossier_code', dossier, 'updated_at', now}
  local added = false
  for _ = 1, nm do
    local id, created, st = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    redis.call('SET', prefix .. 'msg:' .. id, ARGV[i + 3], 'PX', record_ttl)
    i = i + 4
    if not string.find(',' .. msgs .. ',', ',' .. id .. ',', 1, true) then
      redis.call('ZADD', zkey, 'NX', created, id)
      added = true
      if msgs == '' then msgs = id else msgs = msgs .. ',' .. id end
    end
    states[id] = st
    set[#set + 1] = 's:' .. id
    set[#set + 1] = st
  end
  -- The claim set the expiry of the event and the dossier; only what is new here needs one.
  if added then redis.call('PEXPIRE', zkey, ttl) end
  for _ = 1, ns do
    local id = ARGV[i]
    redis.call('SET', prefix .. 'job:' .. id, ARGV[i + 3], 'PX', ttl)
    redis.call('ZADD', sched, ARGV[i + 1], id)
    any_scheduled = true
    redis.call('HSET', wkey, id, ARGV[i + 2])
    redis.call('PEXPIRE', wkey, ttl)
    i = i + 4
  end
  for _ = 1, nd do
    local id = ARGV[i]
    i = i + 1
    if any_scheduled and redis.call('ZREM', sched, id) == 1 then
      redis.call('DEL', prefix .. 'job:' .. id)
      redis.call('HDEL', wkey, id)
    end
  end
  for _ = 1, nx do
    local id = ARGV[i]
    redis.call('ZREM', sched, id)
    redis.call('HDEL', wkey, id)
    redis.call('SET', prefix .. 'job:' .. id, ARGV[i + 1], 'PX', ttl)
    redis.call('ZADD', dlq, now, id)
    i = i + 2
  end
  set[#set + 1] = 'msgs'
  set[#set + 1] = msgs
  if not h.created_at then
    set[#set + 1] = 'created_at'
    set[#set + 1] = now
  end
  local st = event_state(prefix, msgs, states)
  set[#set + 1] = 'state'
  set[#set + 1] = st
  redis.call('HSET', evkey, unpack(set))
  if next(h) == nil then redis.call('PEXPIRE', evkey, ttl) end
  if ack ~= '' then acks[#acks + 1] = ack end
  out[#out + 1] = st
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
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
const redis::Script kUpdate(std::string(kLuaShared) + R"lua(
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
local h = hash_table(redis.call('HGETALL', evkey))
if next(h) ~= nil then
  local states = states_of(h)
  states[u.id] = u.state
  redis.call('HSET', evkey, 's:' .. u.id, u.state, 'state',
             event_state(prefix, h.msgs or '', states), 'updated_at', now)
end
return 'updated'
)lua");

// ARGV: key prefix, dossier code, created ms, own message id. The latest next attempt of an
// older notice of the dossier that still waits (0: none).
const redis::Script kBlocked(std::string(kLuaShared) + R"lua(
return tostring(blocked_by(ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]))
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
    // At most 128 calls per run: a script blocks Redis while it runs (about 1 ms for 128).
    ingest_batch_ = std::make_unique<Batcher>(
        io, cmd_, kIngest, "ingest", 128,
        [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", stream_});
        });
    claim_batch_ = std::make_unique<Batcher>(
        io, cmd_, kClaim, "claim", 128,
        [this, ttl, now](redis::Args& a) {
            a.insert(a.end(), {ttl(), now(), prefix_ + ":", record_ttl()});
        });
    commit_batch_ = std::make_unique<Batcher>(
        io, cmd_, kCommit, "commit", 128,
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
    if (r->elements.size() >= 2) {
        try {
            c.blocked_until_ms = static_cast<int64_t>(std::stod(r->elements[1].str));
        } catch (...) {
        }
    }
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
    redis::Args range{"ZREVRANGE", prefix_ + ":dlq", "0", "4999"};
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
        q.limit = 5000;
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

asio::awaitable<Result<void>> RedisQueue::apply_updates(const std::vector<DeliveryUpdate>& updates) {
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
        {"XADD", stream_ + ":invalid", "MAXLEN", "~", "100000", "*", "event", entry.payload,
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
    if (!list) co_return unavailable();
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
    redis::Args cmd6{"ZREVRANGE", key("dossier", dossier_code), "0", "199"};
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
    std::vector<std::string> args{prefix_ + ":", dossier_code, std::to_string(created_ms),
                                  message_id};
    auto r = co_await kBlocked.run(cmd_, keys, args);
    if (!r.ok || r.reply.is_error()) co_return unavailable();
    double blocked = 0;
    try {
        blocked = std::stod(r.reply.str);
    } catch (...) {
        co_return unavailable();
    }
    co_return static_cast<int64_t>(blocked);
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
