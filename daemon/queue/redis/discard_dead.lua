-- KEYS: dlq zset. ARGV: key prefix, ids... Removes each from the dead letters together with its
-- kept job payload (the message record stays as it ended); returns the ids that were there.
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('DEL', ARGV[1] .. 'job:' .. id)
    out[#out + 1] = id
  end
end
return out
