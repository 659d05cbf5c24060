-- Helpers prepended to the scripts that need them. `prefix` always ends with ':'.

local function hash_table(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- The dossier's notices waiting for a later attempt, as a flat list {id, created ms, next
-- attempt ms, ...}: p:dwait:<dossier> holds them (id -> created ms), their next attempt is their
-- score in p:sched (a lease end while one runs). Empty for almost every dossier, so one HGETALL.
-- Which of them holds the dossier back is decided in C++ (dossier_blocked_until).
local function waiting_of(prefix, dossier)
  local w = redis.call('HGETALL', prefix .. 'dwait:' .. dossier)
  local out = {}
  for i = 1, #w, 2 do
    local due = redis.call('ZSCORE', prefix .. 'sched', w[i])
    if due then
      out[#out + 1] = w[i]
      out[#out + 1] = w[i + 1]
      out[#out + 1] = due
    end
  end
  return out
end
