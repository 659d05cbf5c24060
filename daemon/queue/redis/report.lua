-- ARGV: key prefix, message id, the record as read ('' when there was none), the record to
-- write ('' when the report changes nothing), its state, its event id, the report's dedupe key
-- ('' when none), now ms, dedupe ttl ms; then, when the change causes call-backs: status stream
-- key, its max length, its max age ms, n, and n notices (notices.lua: write_notices).
-- Writes a delivery report that C++ applied to the record as read (apply_delivery_report),
-- unless the record changed since: then 'changed', and the caller reads it again. The dedupe
-- key is spent even when the record does not change, so a report is considered once.
local prefix, id, seen, new, st = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local event_id, dedupe, now, ttl = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local key = prefix .. 'msg:' .. id
if (redis.call('GET', key) or '') ~= seen then return 'changed' end
if dedupe ~= '' and not redis.call('SET', prefix .. 'cb:' .. dedupe, '1', 'NX', 'PX', ttl) then
  return 'duplicate'
end
if new ~= '' then
  redis.call('SET', key, new, 'KEEPTTL')
  local evkey = prefix .. 'ev:' .. event_id
  if redis.call('EXISTS', evkey) == 1 then
    redis.call('HSET', evkey, 's:' .. id, st, 'updated_at', now)
  end
  if #ARGV > 9 then
    write_notices(prefix, now, ttl, {ARGV[10], ARGV[11], ARGV[12]}, 14, tonumber(ARGV[13]), false)
  end
end
return 'applied'
