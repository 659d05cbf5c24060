-- KEYS: dlq zset. ARGV: key prefix, ids... Removes each from the dead letters, returning id and
-- job payload of those that were there.
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
