-- KEYS: dlq zset. ARGV: key prefix, ids... Returns id and job payload of each that is a dead
-- letter, leaving it one: a replay's commit schedules the job and takes the dead letter out in
-- the same script (commit.lua), so a crash in between loses nothing.
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    local payload = redis.call('GET', ARGV[1] .. 'job:' .. id)
    if payload then
      out[#out + 1] = id
      out[#out + 1] = payload
    end
  end
end
return out
