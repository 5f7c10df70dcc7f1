-- Reconcile: settle a reservation in every scope it was made in.
-- KEYS: seven per scope: tokens of the reservation's minute, its day, its month,
-- records, in flight, expired records, requests of its minute.
-- ARGV[1] id, ARGV[2] actual tokens, ARGV[3] retry (1: an earlier attempt may
-- have been applied), ARGV[4..6] ttl of minute, day, month counters, ARGV[7] now,
-- ARGV[8] requests a lease counted but did not use, ARGV[9] 1 for a partial
-- settlement, ARGV[10] slots it keeps, ARGV[11] tokens it keeps reserved,
-- ARGV[12] (final settlement of a lease) tokens its partial settlement
-- charged, ARGV[13] requests its partial settlement gave back.
--
-- Record states: l live, p live and partly settled, x expired (its tokens
-- refunded), y partly settled then expired (its remaining tokens refunded).
--
-- A partial settlement (a lease that stopped admitting while some of its
-- requests still run) applies once: the counters get the tokens its finished
-- requests used (actual - remaining), the record keeps only the running
-- requests' estimates and slots, the unused requests go back. The final
-- settlement carries what the partial one covered, so it is right whichever
-- of the two the store sees first: on a record the partial one has not
-- touched (l, x) it applies both; a partial one arriving after the final one
-- finds no record and does nothing.
--
-- A missing record is charged the actual tokens (the store lost it, or it was
-- forgotten long after expiry), except on a retry while the scope still keeps
-- records (field "_" of the hash holds until when, by the injected clock):
-- then an earlier attempt whose answer was lost settled it, and charging
-- again would count the usage twice.
local id, actual = ARGV[1], tonumber(ARGV[2])
local unused = tonumber(ARGV[8])
if ARGV[9] == '1' then
  local keep, remaining = tonumber(ARGV[10]), tonumber(ARGV[11])
  for s = 1, #KEYS / 7 do
    local k = (s - 1) * 7
    local rec = redis.call('HGET', KEYS[k+4], id)
    local st = rec and string.sub(rec, 1, 1)
    if st == 'l' or st == 'x' then
      local _, tok, _, _, _, _, nslots = parse(rec)
      keep = math.min(keep, nslots)
      local delta = actual - remaining -- x: refunded, so charge what finished
      if st == 'l' then delta = actual - tok end
      adjust(KEYS[k+1], delta, ARGV[4])
      adjust(KEYS[k+2], delta, ARGV[5])
      adjust(KEYS[k+3], delta, ARGV[6])
      local periods = string.match(rec, '^%a:%d+:(%-?%d+:%-?%d+:%-?%d+:%-?%d+)')
      redis.call('HSET', KEYS[k+4], id, (st == 'l' and 'p:' or 'y:') .. remaining .. ':' .. periods .. ':' .. keep)
      for i = math.max(keep + 1, 2), nslots do redis.call('ZREM', KEYS[k+5], id .. '#' .. i) end
      adjust(KEYS[k+7], -unused, ARGV[4])
    end
  end
  return 1
end
local settled, given = tonumber(ARGV[12]), tonumber(ARGV[13])
for s = 1, #KEYS / 7 do
  local k = (s - 1) * 7
  local rec = redis.call('HGET', KEYS[k+4], id)
  local delta = actual + settled
  if rec then
    local st, tok, _, _, _, _, nslots = parse(rec)
    local back = unused + given
    if st == 'l' then
      delta = actual + settled - tok
    elseif st == 'p' then
      delta, back = actual - tok, unused
    elseif st == 'y' then
      delta, back = actual, unused
    end
    if st == 'l' or st == 'p' then
      redis.call('ZREM', KEYS[k+5], id)
    else
      redis.call('ZREM', KEYS[k+6], id) -- expired: its tokens were refunded
    end
    redis.call('HDEL', KEYS[k+4], id)
    for i = 2, nslots do redis.call('ZREM', KEYS[k+5], id .. '#' .. i) end
    adjust(KEYS[k+7], -back, ARGV[4])
  elseif ARGV[3] == '1' and tonumber(redis.call('HGET', KEYS[k+4], '_') or '0') > tonumber(ARGV[7]) then
    delta = 0
  end
  adjust(KEYS[k+1], delta, ARGV[4])
  adjust(KEYS[k+2], delta, ARGV[5])
  adjust(KEYS[k+3], delta, ARGV[6])
end
return 1
