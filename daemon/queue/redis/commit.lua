-- ARGV: ttl ms, now ms, key prefix, record ttl ms, stream, group; per commit: event id, dossier
-- code, status, entry id to acknowledge or '', then the counts nm, ns, nd, nx, then nm times
-- (message id, created ms, state, record JSON), ns times (job id, due ms, created ms, payload),
-- nd times (finished job id), nx times (dead letter id, payload).
-- Writes records, each message's state in the event hash ("s:<id>", from which the event's
-- state is derived when it is read), jobs (a scheduled job is no longer a dead letter), dead
-- letters and the event's list of messages, and acknowledges the entry. Per commit: 'ok'.
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
  local h = redis.call('HMGET', evkey, 'msgs', 'created_at')
  local exists = h[2] ~= false
  local msgs = h[1] or ''
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
  set[#set + 1] = 'msgs'
  set[#set + 1] = msgs
  if not exists then
    set[#set + 1] = 'created_at'
    set[#set + 1] = now
  end
  redis.call('HSET', evkey, unpack(set))
  if not exists then redis.call('PEXPIRE', evkey, ttl) end
  if ack ~= '' then acks[#acks + 1] = ack end
  out[#out + 1] = 'ok'
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
