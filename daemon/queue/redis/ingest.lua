-- ARGV: ttl ms, now ms, key prefix, stream; per event: event id, payload, dossier code, status.
-- Elects each event's first copy (the event key does not exist yet) and appends it to the
-- stream. Per event: the stream entry id, or '' for a duplicate.
local ttl, now, prefix, stream = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out = {}
for i = 5, #ARGV, 4 do
  local evkey = prefix .. 'ev:' .. ARGV[i]
  if redis.call('EXISTS', evkey) == 1 then
    out[#out + 1] = ''
  else
    local id = redis.call('XADD', stream, '*', 'event', ARGV[i + 1], 'src', 'http')
    redis.call('HSET', evkey, 'entry', id, 'dossier_code', ARGV[i + 2], 'status', ARGV[i + 3],
               'created_at', now, 'updated_at', now)
    redis.call('PEXPIRE', evkey, ttl)
    out[#out + 1] = id
  end
end
return out
