-- Helpers shared by every quota script. Numbers that must stay exact (times,
-- periods) travel as strings from ARGV; counters are well below 2^53.
local W = 60000 -- one minute in ms

local function num(key)
  return tonumber(redis.call('GET', key) or '0')
end

-- Sliding-window usage: the previous minute decays linearly across the current one.
local function estimate(prev, cur, elapsed)
  return math.floor(prev * (W - elapsed) / W) + cur
end

local function over(limit, used, cost)
  return limit > 0 and used + cost > limit
end

-- incr adds n to a period counter; a counter it creates gets its GC ttl.
local function incr(key, n, ttl)
  if n == 0 then return end
  if redis.call('INCRBY', key, n) == n then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- sub takes n from an existing counter, never below zero.
local function sub(key, n)
  if n == 0 or redis.call('EXISTS', key) == 0 then return end
  if redis.call('DECRBY', key, n) < 0 then
    redis.call('SET', key, 0, 'KEEPTTL')
  end
end

-- adjust applies a reconciliation delta to a counter of a period still read
-- by someone (ttl > 0); it never creates a counter to subtract from it.
local function adjust(key, delta, ttl)
  if delta == 0 or tonumber(ttl) <= 0 then return end
  if delta < 0 then sub(key, -delta) else incr(key, delta, ttl) end
end

-- A reservation record is "state:tokens:minute:day:month:forgetAt:slots",
-- state l (live), p (live, partly settled: see reconcile.lua), x (expired,
-- tokens refunded) or y (partly settled, then expired); slots is how many in-flight members it has (id, then
-- id#2 .. id#slots); records written before slots existed have one.
local function parse(rec)
  local st, tok, m, d, mo, fa, n = string.match(rec, '^(%a):(%d+):(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+):?(%d*)$')
  return st, tonumber(tok), tonumber(m), tonumber(d), tonumber(mo), fa, tonumber(n) or 1
end
