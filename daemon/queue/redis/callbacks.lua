-- The call-back queue (notices.lua names the keys). ARGV: operation, key prefix, now ms, then:
--   enqueue  ttl ms, status stream key, max length, max age ms, n, then n notices
--            (write_notices); answers 'ok'
--   feedback ttl ms, status stream key, max length, max age ms, record key, dossier index key,
--            submitted ms, id, record JSON, record ttl ms, n, then n notices: a citizen's
--            feedback stored once per id (SET NX) with its id in the dossier's index; the
--            notices are queued only when it is new. Answers 1 (new) or 0 (stored already)
--   take     client, lease end ms, max: leases the client's due call-backs (score moved to the
--            lease end); answers per call-back id, kind, body, created, attempts, error
--   settle   ttl ms, then per outcome: id, client, next (done|retry|dead), due ms, attempts,
--            error; answers 'ok'
--   dead     client ('' any), limit: the newest dead call-backs, each as id, client, kind,
--            body, created, attempts, error, died ms
--   replay   client, then ids (none: every dead call-back of the client): back in their
--            client's schedule, due now, attempts from 0; answers the ids replayed
local op, prefix, now = ARGV[1], ARGV[2], ARGV[3]
local dead = prefix .. 'whdead'
if op == 'enqueue' then
  write_notices(prefix, now, ARGV[4], {ARGV[5], ARGV[6], ARGV[7]}, 9, tonumber(ARGV[8]), false)
  return 'ok'
elseif op == 'feedback' then
  local stored = redis.call('SET', ARGV[8], ARGV[12], 'NX', 'PX', ARGV[13])
  if not stored then return 0 end
  redis.call('ZADD', ARGV[9], ARGV[10], ARGV[11])
  redis.call('PEXPIRE', ARGV[9], ARGV[13])
  write_notices(prefix, now, ARGV[4], {ARGV[5], ARGV[6], ARGV[7]}, 15, tonumber(ARGV[14]), false)
  return 1
elseif op == 'take' then
  local q = prefix .. 'whq:' .. ARGV[4]
  local ids = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
  local out = {}
  for _, id in ipairs(ids) do
    local h = redis.call('HMGET', prefix .. 'wh:' .. id, 'kind', 'body', 'created', 'attempts',
                         'error')
    if h[1] then
      redis.call('ZADD', q, 'XX', ARGV[5], id)
      out[#out + 1] = id
      for j = 1, 5 do out[#out + 1] = h[j] or '' end
    else
      redis.call('ZREM', q, id)
    end
  end
  return out
elseif op == 'settle' then
  local ttl = ARGV[4]
  for i = 5, #ARGV, 6 do
    local id, client, next = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local key, q = prefix .. 'wh:' .. id, prefix .. 'whq:' .. client
    if next == 'done' then
      redis.call('ZREM', q, id)
      redis.call('DEL', key)
    elseif redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'attempts', ARGV[i + 4], 'error', ARGV[i + 5])
      if next == 'retry' then
        redis.call('ZADD', q, ARGV[i + 3], id)
      else
        redis.call('ZREM', q, id)
        redis.call('ZADD', dead, now, id)
        redis.call('PEXPIRE', key, ttl)
      end
    end
  end
  return 'ok'
elseif op == 'dead' then
  local client, limit = ARGV[4], tonumber(ARGV[5])
  local out, n = {}, 0
  local ids = redis.call('ZREVRANGE', dead, 0, -1, 'WITHSCORES')
  for j = 1, #ids, 2 do
    if n >= limit then break end
    local id = ids[j]
    local h = redis.call('HMGET', prefix .. 'wh:' .. id, 'client', 'kind', 'body', 'created',
                         'attempts', 'error')
    if not h[1] then
      redis.call('ZREM', dead, id)
    elseif client == '' or h[1] == client then
      out[#out + 1] = id
      for k = 1, 6 do out[#out + 1] = h[k] or '' end
      out[#out + 1] = ids[j + 1]
      n = n + 1
    end
  end
  return out
elseif op == 'replay' then
  local client = ARGV[4]
  local ids = {}
  if #ARGV > 4 then
    for j = 5, #ARGV do ids[#ids + 1] = ARGV[j] end
  else
    ids = redis.call('ZRANGE', dead, 0, -1)
  end
  local out = {}
  for _, id in ipairs(ids) do
    local key = prefix .. 'wh:' .. id
    local owner = redis.call('HGET', key, 'client')
    if owner and redis.call('ZSCORE', dead, id) and (client == '' or owner == client) then
      redis.call('ZREM', dead, id)
      redis.call('HSET', key, 'attempts', 0, 'error', '', 'created', now)
      redis.call('ZADD', prefix .. 'whq:' .. owner, now, id)
      out[#out + 1] = id
    end
  end
  return out
end
return redis.error_reply('unknown operation ' .. tostring(op))
