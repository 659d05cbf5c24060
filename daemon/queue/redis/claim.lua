-- ARGV: ttl ms, now ms, key prefix, record ttl ms, coalescing ('1' or '0'); per entry: entry
-- id, event id, dossier code, status, n, then n times (message id, created ms, record JSON,
-- state).
-- Per entry: {'duplicate'} when another entry owns the event, else {'process', waiting,
-- existing...}: the dossier's waiting notices (waiting_of) and the stored record of each message
-- ('' when it was created now). An entry handed to its consumer at ingest skips this script:
-- its records are first written by its commit.
local ttl, now, prefix, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local coalescing = ARGV[5] == '1'
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq = tonumber(ams) or 0, tonumber(aseq) or 0
  bms, bseq = tonumber(bms) or 0, tonumber(bseq) or 0
  return ams > bms or (ams == bms and aseq > bseq)
end
local out = {}
-- Nothing is scheduled at all (the usual case): no dossier has a waiting notice.
local any_scheduled = redis.call('ZCARD', prefix .. 'sched') > 0
local i = 6
while i <= #ARGV do
  local entry, event_id, dossier, status = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local n = tonumber(ARGV[i + 4])
  local first = i + 5
  i = first + 4 * n
  local evkey = prefix .. 'ev:' .. event_id
  -- A message has a record only once its state is in the event hash ("s:<id>").
  local fields = {'entry'}
  for m = 0, n - 1 do fields[#fields + 1] = 's:' .. ARGV[first + 4 * m] end
  local f = redis.call('HMGET', evkey, unpack(fields))
  local owner = f[1]
  if owner and owner ~= entry then
    out[#out + 1] = {'duplicate'}
  else
    if not owner then
      -- An entry that did not come through ingest (written to the stream by another program).
      redis.call('HSET', evkey, 'entry', entry, 'dossier_code', dossier, 'status', status,
                 'created_at', now, 'updated_at', now)
      redis.call('PEXPIRE', evkey, ttl)
    end
    -- An earlier notice of this dossier still waiting (a retry, quiet hours) may hold the new
    -- ones back until its own next attempt.
    local waiting = {}
    if any_scheduled then waiting = waiting_of(prefix, dossier) end
    -- The dossier's latest claimed entry, for coalescing only.
    if coalescing then
      local dkey = prefix .. 'dlast:' .. dossier
      local prev = redis.call('SET', dkey, entry, 'PX', ttl, 'GET')
      if prev and after(prev, entry) then redis.call('SET', dkey, prev, 'PX', ttl) end
    end
    local r = {'process', waiting}
    local set = {}
    local zkey = prefix .. 'dossier:' .. dossier
    for m = 0, n - 1 do
      local at = first + 4 * m
      local id = ARGV[at]
      local k = prefix .. 'msg:' .. id
      local cur = f[2 + m] and redis.call('GET', k)
      if cur then
        r[#r + 1] = cur
      else
        redis.call('SET', k, ARGV[at + 2], 'PX', record_ttl)
        redis.call('ZADD', zkey, 'NX', ARGV[at + 1], id)
        set[#set + 1] = 's:' .. id
        set[#set + 1] = ARGV[at + 3]
        r[#r + 1] = ''
      end
    end
    if #set > 0 then
      redis.call('HSET', evkey, unpack(set))
      redis.call('PEXPIRE', zkey, ttl)
    end
    out[#out + 1] = r
  end
end
return out
