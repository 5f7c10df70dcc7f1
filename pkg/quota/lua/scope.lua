-- Scope layout: nine KEYS per scope, at offset k:
--   k+1 requests this minute   k+2 requests last minute
--   k+3 tokens this minute     k+4 tokens last minute
--   k+5 tokens this day        k+6 tokens this month
--   k+7 records (hash)         k+8 in flight (zset by deadline)
--   k+9 expired records (zset by forget time)
-- ARGV[1] now (ms), ARGV[2] ms into the minute, ARGV[3..5] minute, day, month.
local now, elapsed = ARGV[1], tonumber(ARGV[2])
local minute, day, month = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local SCOPE = 9
local BATCH = 64 -- bounds the work one call does; the rest waits for the next
-- (a lease's extra slots are members too: an expired lease with many slots
-- takes a few calls to clear; in-flight counts skip expired members anyway)

-- expire refunds reservations past their deadline (only into counters of
-- current periods: older ones are no longer read) and forgets old records.
local function expire(k)
  local ids = redis.call('ZRANGEBYSCORE', KEYS[k+8], '-inf', now, 'LIMIT', 0, BATCH)
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', KEYS[k+7], id)
    local st = rec and string.sub(rec, 1, 1)
    if st == 'l' or st == 'p' then -- live, or live and partly settled
      local _, tok, m, d, mo, fa = parse(rec)
      if m == minute then sub(KEYS[k+3], tok) elseif m == minute - 1 then sub(KEYS[k+4], tok) end
      if d == day then sub(KEYS[k+5], tok) end
      if mo == month then sub(KEYS[k+6], tok) end
      redis.call('HSET', KEYS[k+7], id, (st == 'l' and 'x' or 'y') .. string.sub(rec, 2))
      redis.call('ZADD', KEYS[k+9], fa, id)
    end
    redis.call('ZREM', KEYS[k+8], id)
  end
  if #ids > 0 then
    local ttl = redis.call('PTTL', KEYS[k+7])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[k+9], ttl) end
  end
  local old = redis.call('ZRANGEBYSCORE', KEYS[k+9], '-inf', now, 'LIMIT', 0, BATCH)
  if #old > 0 then
    redis.call('HDEL', KEYS[k+7], unpack(old))
    redis.call('ZREM', KEYS[k+9], unpack(old))
  end
end

-- counts returns requests prev, cur, tokens prev, cur, day, month, in flight.
local function counts(k)
  return {num(KEYS[k+2]), num(KEYS[k+1]), num(KEYS[k+4]), num(KEYS[k+3]),
    num(KEYS[k+5]), num(KEYS[k+6]), redis.call('ZCOUNT', KEYS[k+8], '(' .. now, '+inf')}
end
