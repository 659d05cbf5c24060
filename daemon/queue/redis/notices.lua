-- Call-backs to API clients (docs/callbacks.md): helpers prepended to the scripts that queue
-- them (commit, report, callbacks), so a call-back is written in the same script as the change
-- that causes it. Keys: p:wh:<id> (hash: client, kind, body, created, attempts, error),
-- p:whq:<client> (zset of the client's call-backs by next attempt ms), p:whdead (zset of dead
-- call-backs by when they died), p:status (the status stream, when on).

-- The event's state from its hash (HGETALL), from the "s:<id>" message states: the rule of
-- event_state() in daemon/model/rules.hpp, and of RedisQueue::event_record. An event is
-- processed once it has a message state or an (empty) `msgs` field; before that (and when
-- there is no hash) it is accepted.
local function event_state_of(flat)
  local success, failure, processed = false, false, false
  for j = 1, #flat, 2 do
    local f = flat[j]
    if string.sub(f, 1, 2) == 's:' then
      processed = true
      local s = flat[j + 1]
      if s == 'queued' or s == 'sending' then return 'accepted' end
      if s == 'sent' or s == 'delivered' then
        success = true
      elseif s ~= 'superseded' then
        failure = true
      end
    elseif f == 'msgs' then
      processed = true
    end
  end
  if not processed then return 'accepted' end
  if success then return 'done' end
  if failure then return 'failed' end
  return 'skipped'
end

-- Writes `n` notices whose arguments start at ARGV[i]; returns the index after them. Per notice:
-- kind, body, flags ('s': to the status stream too; 'e': only when this write settles the
-- event; 'o': written once, its key and window ms (0: ttl) follow the flags), count, then count
-- times (client, webhook id). `settled`: the event's state when this write settled it, else
-- false. `st`: {status stream key ('' when off), max length, max age ms ('0': trimmed by
-- length)}. A call-back already queued (a commit written again after a crash) keeps its
-- attempts. A notice written once is skipped while p:cb:<key> (the delivery reports' dedupe
-- keys) says it was written within its window.
local function write_notices(prefix, now, ttl, st, i, n, settled)
  for _ = 1, n do
    local kind, body, flags = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local seen = false
    if string.find(flags, 'o', 1, true) then
      local window = ARGV[i + 1] ~= '0' and ARGV[i + 1] or ttl
      seen = not redis.call('SET', prefix .. 'cb:' .. ARGV[i], '1', 'NX', 'PX', window)
      i = i + 2
    end
    local m = tonumber(ARGV[i])
    i = i + 1
    local conditional = string.find(flags, 'e', 1, true) ~= nil
    if seen or (conditional and not settled) then
      i = i + 2 * m
    else
      if conditional then body = (string.gsub(body, '@event_state@', settled)) end
      if st[1] ~= '' and string.find(flags, 's', 1, true) then
        if st[3] ~= '0' then
          redis.call('XADD', st[1], 'MINID', '~', tostring(tonumber(now) - tonumber(st[3])), '*',
                     'kind', kind, 'doc', body)
        else
          redis.call('XADD', st[1], 'MAXLEN', '~', st[2], '*', 'kind', kind, 'doc', body)
        end
      end
      for _ = 1, m do
        local client, id = ARGV[i], ARGV[i + 1]
        i = i + 2
        local key = prefix .. 'wh:' .. id
        if redis.call('EXISTS', key) == 0 then
          redis.call('HSET', key, 'client', client, 'kind', kind, 'body', body, 'created', now,
                     'attempts', 0, 'error', '')
          redis.call('PEXPIRE', key, ttl)
          redis.call('ZADD', prefix .. 'whq:' .. client, now, id)
        end
      end
    end
  end
  return i
end
