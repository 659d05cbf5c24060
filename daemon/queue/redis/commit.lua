-- ARGV: ttl ms, now ms, key prefix, record ttl ms, stream, group, status stream key ('' when
-- off), its max length, its max age ms; per commit: event id, dossier code, status, entry id to
-- acknowledge or '', empty ('1': the event has no message at all), then the counts nm, ns, nd,
-- nx, nn, then '1' when a notice waits for the event to settle (else '0'), then the count np,
-- then nm times (message id, created ms, state, record JSON), ns times (job id, due ms, created
-- ms, payload), nd times (finished job id), nx times (dead letter id, payload), np times (month,
-- agency, dong, segments: added to the agency's spend of the month in p:spend:<month>), nn
-- notices (notices.lua: write_notices).
-- Writes records, each message's state in the event hash ("s:<id>": the event's messages are
-- these fields, and its state is derived from theirs when it is read), the dossier's index,
-- jobs (a scheduled job is no longer a dead letter), dead letters, agencies' spend and the
-- call-backs, and acknowledges the entry. An event without messages (no route, no contact) gets
-- an empty `msgs` instead, which says it was processed. Per commit: 'ok'.
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stream, group = ARGV[5], ARGV[6]
local status_stream = {ARGV[7], ARGV[8], ARGV[9]}
local sched, dlq = prefix .. 'sched', prefix .. 'dlq'
local out, acks = {}, {}
-- Whether a finished job may still be in the schedule (none is when it is empty).
local any_scheduled = redis.call('ZCARD', sched) > 0
local i = 10
while i <= #ARGV do
  local event_id, dossier, status, ack = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local empty = ARGV[i + 4] == '1'
  local nm, ns = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local nd, nx = tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8])
  local nn, settles = tonumber(ARGV[i + 9]), ARGV[i + 10] == '1'
  local np = tonumber(ARGV[i + 11])
  i = i + 12
  local evkey = prefix .. 'ev:' .. event_id
  local zkey = prefix .. 'dossier:' .. dossier
  local wkey = prefix .. 'dwait:' .. dossier
  -- event.settled: the event's state before this write, to tell whether it settles now (read
  -- only when a client wants event.settled).
  local before = settles and event_state_of(redis.call('HGETALL', evkey))
  local set = {'status', status, 'dossier_code', dossier, 'updated_at', now}
  local added = 0
  for _ = 1, nm do
    local id, created, st = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    redis.call('SET', prefix .. 'msg:' .. id, ARGV[i + 3], 'PX', record_ttl)
    added = added + redis.call('ZADD', zkey, 'NX', created, id)
    i = i + 4
    set[#set + 1] = 's:' .. id
    set[#set + 1] = st
  end
  -- The dossier's index lives as long as its newest message.
  if added > 0 then redis.call('PEXPIRE', zkey, ttl) end
  for _ = 1, ns do
    local id = ARGV[i]
    redis.call('SET', prefix .. 'job:' .. id, ARGV[i + 3], 'PX', ttl)
    redis.call('ZADD', sched, ARGV[i + 1], id)
    any_scheduled = true
    -- A replay: the dead letter leaves in the same script that schedules its job.
    redis.call('ZREM', dlq, id)
    -- A reminder ("r...") is due at a set time, days ahead: it holds none of the dossier's
    -- notices back, so it stays out of the dossier's waiting list.
    if string.byte(id, 1) ~= 114 then
      redis.call('HSET', wkey, id, ARGV[i + 2])
      redis.call('PEXPIRE', wkey, ttl)
    end
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
  for _ = 1, np do
    local skey = prefix .. 'spend:' .. ARGV[i]
    local agency, dong, segments = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if dong ~= '0' then redis.call('HINCRBY', skey, agency .. ':dong', dong) end
    if segments ~= '0' then redis.call('HINCRBY', skey, agency .. ':segments', segments) end
    -- Kept about 13 months: the expiry is set once, by the month's first write.
    if redis.call('PTTL', skey) == -1 then redis.call('PEXPIRE', skey, 34214400000) end
    i = i + 4
  end
  if empty then
    set[#set + 1] = 'msgs'
    set[#set + 1] = ''
  end
  -- Every event hash has a status: when all of these fields are new, there was none (it
  -- expired, or a job outlived it) and it starts again here, with an expiry.
  if redis.call('HSET', evkey, unpack(set)) * 2 == #set then
    redis.call('HSET', evkey, 'created_at', now)
    redis.call('PEXPIRE', evkey, ttl)
  end
  if nn > 0 then
    local settled = false
    if settles then
      local after = event_state_of(redis.call('HGETALL', evkey))
      if after ~= 'accepted' and (before == 'accepted' or ack ~= '') then settled = after end
    end
    i = write_notices(prefix, now, ttl, status_stream, i, nn, settled)
  end
  if ack ~= '' then acks[#acks + 1] = ack end
  out[#out + 1] = 'ok'
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
