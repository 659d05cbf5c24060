-- ARGV: ttl ms, now ms, key prefix, stream, group, consumer, take; per event: event id,
-- payload, dossier code, status.
-- Elects each event's first copy (the event key does not exist yet) and appends it to the
-- stream. Per event: the stream entry id, or '' for a duplicate. Then one reply more, for the
-- batch: {waiting, entries}. When `take` > 0, up to `take` of the group's undelivered entries
-- (those just added, unless older ones wait) are delivered to `consumer` here, and `entries`
-- lists them as XREADGROUP does; `waiting` lists those of them whose dossier has a notice
-- waiting for a later attempt (p:dwait:<code>): their claims are asked, the dossier may hold
-- them back.
local ttl, now, prefix, stream = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local group, consumer, take = ARGV[5], ARGV[6], tonumber(ARGV[7])
local out = {}
local added = 0
local dossier_of = {}
for i = 8, #ARGV, 4 do
  local evkey = prefix .. 'ev:' .. ARGV[i]
  if redis.call('EXISTS', evkey) == 1 then
    out[#out + 1] = ''
  else
    local id = redis.call('XADD', stream, '*', 'event', ARGV[i + 1], 'src', 'http')
    redis.call('HSET', evkey, 'entry', id, 'dossier_code', ARGV[i + 2], 'status', ARGV[i + 3],
               'created_at', now, 'updated_at', now)
    redis.call('PEXPIRE', evkey, ttl)
    out[#out + 1] = id
    dossier_of[id] = ARGV[i + 2]
    added = added + 1
  end
end
local waiting, taken = {}, {}
if take > 0 and added > 0 then
  -- No group yet (read() creates it): nothing is taken, the entries wait for read().
  local r = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', math.min(take, added),
                        'STREAMS', stream, '>')
  if type(r) == 'table' and r.err == nil and r[1] then taken = r[1][2] end
  -- Nothing scheduled at all: no dossier waits. Otherwise each dossier's own list tells (the
  -- schedule also holds reminders, days ahead, which hold no dossier back).
  if #taken > 0 and redis.call('ZCARD', prefix .. 'sched') > 0 then
    local waits = {}
    for _, e in ipairs(taken) do
      local dossier = dossier_of[e[1]]
      if dossier then
        if waits[dossier] == nil then
          waits[dossier] = redis.call('EXISTS', prefix .. 'dwait:' .. dossier) == 1
        end
        if waits[dossier] then waiting[#waiting + 1] = e[1] end
      end
    end
  end
end
out[#out + 1] = {waiting, taken}
return out
