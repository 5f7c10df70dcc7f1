-- Reconcile: settle a reservation in every scope it was made in.
-- KEYS: seven per scope: tokens of the reservation's minute, its day, its month,
-- records, in flight, expired records, requests of its minute.
-- ARGV[1] id, ARGV[2] actual tokens, ARGV[3] retry (1: an earlier attempt may
-- have been applied), ARGV[4..6] ttl of minute, day, month counters, ARGV[7] now,
-- ARGV[8] requests a lease counted but did not use, ARGV[9] slots it took.
--
-- A missing record is charged the actual tokens (the store lost it, or it was
-- forgotten long after expiry), except on a retry while the scope still keeps
-- records (field "_" of the hash holds until when, by the injected clock):
-- then an earlier attempt whose answer was lost settled it, and charging
-- again would count the usage twice.
local id, actual = ARGV[1], tonumber(ARGV[2])
local unused, nslots = tonumber(ARGV[8]), tonumber(ARGV[9])
for s = 1, #KEYS / 7 do
  local k = (s - 1) * 7
  local rec = redis.call('HGET', KEYS[k+4], id)
  local delta = actual
  if rec then
    local st, tok = parse(rec)
    if st == 'l' then
      delta = actual - tok
      redis.call('ZREM', KEYS[k+5], id)
    else
      redis.call('ZREM', KEYS[k+6], id) -- expired: its tokens were refunded
    end
    redis.call('HDEL', KEYS[k+4], id)
    for i = 2, nslots do redis.call('ZREM', KEYS[k+5], id .. '#' .. i) end
    adjust(KEYS[k+7], -unused, ARGV[4])
  elseif ARGV[3] == '1' and tonumber(redis.call('HGET', KEYS[k+4], '_') or '0') > tonumber(ARGV[7]) then
    delta = 0
  end
  adjust(KEYS[k+1], delta, ARGV[4])
  adjust(KEYS[k+2], delta, ARGV[5])
  adjust(KEYS[k+3], delta, ARGV[6])
end
return 1
