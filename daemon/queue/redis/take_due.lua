-- KEYS: sched zset. ARGV: now, lease until, limit, key prefix. Leases due jobs by moving their
-- score to the lease end; returns id, payload, record for each.
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
