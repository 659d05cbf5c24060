-- ARGV: ttl ms, now ms, key prefix, record ttl ms, stream, group; per commit: event id, dossier
-- code, status, entry id to acknowledge or '', empty ('1': the event has no message at all),
-- then the counts nm, ns, nd, nx, then nm times (message id, created ms, state, record JSON), ns
-- times (job id, due ms, created ms, payload), nd times (finished job id), nx times (dead letter
-- id, payload).
-- Writes records, each message's state in the event hash ("s:<id>": the event's messages are
-- these fields, and its state is derived from theirs when it is read), the dossier's index,
-- jobs (a scheduled job is no longer a dead letter) and dead letters, and acknowledges the
-- entry. An event without messages (no route, no contact) gets an empty `msgs` instead, which
-- says it was processed. Per commit: 'ok'.
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local stream, group = ARGV[5], ARGV[6]
local sched, dlq = prefix .. 'sched', prefix .. 'dlq'
local out, acks = {}, {}
-- Whether a finished job may still be in the schedule (none is when it is empty).
local any_scheduled = redis.call('ZCARD', sched) > 0
local i = 7
while i <= #ARGV do
  local event_id, dossier, status, ack = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local empty = ARGV[i + 4] == '1'
  local nm, ns = tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local nd, nx = tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8])
  i = i + 9
  local evkey = prefix .. 'ev:' .. event_id
  local zkey = prefix .. 'dossier:' .. dossier
  local wkey = prefix .. 'dwait:' .. dossier
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
  if ack ~= '' then acks[#acks + 1] = ack end
  out[#out + 1] = 'ok'
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
