-- Reserve: expire, check every limit of every scope, then write all or nothing.
-- KEYS: one scope layout for the consumer, a second for the model (optional).
-- ARGV[6..8] ttl of minute, day, month counters; ARGV[9] ttl of record keys;
-- ARGV[10] id; ARGV[11] tokens; ARGV[12] deadline; ARGV[13] record;
-- ARGV[14] until when records are kept (forget time + 1 minute);
-- ARGV[15] 1 when the consumer scope counts the request too (the model scope
-- always does; otherwise CountRequest counted it at admission);
-- ARGV[16] requests counted, ARGV[17] concurrency slots taken (a lease takes
-- several: members id, id#2 .. id#n of the in-flight set);
-- then five limits per scope: rpm, tpm, tpd, tpmo, concurrency.
local tokens = tonumber(ARGV[11])
local nreq, nslots = tonumber(ARGV[16]), tonumber(ARGV[17])
local countConsumer = ARGV[15] == '1'
local scopes = #KEYS / SCOPE
local seen, ok = {}, true
for s = 1, scopes do
  local k, a = (s - 1) * SCOPE, 17 + (s - 1) * 5
  expire(k)
  local c = counts(k)
  local rpm = 0
  if s == 2 or countConsumer then rpm = tonumber(ARGV[a+1]) end
  if over(rpm, estimate(c[1], c[2], elapsed), nreq)
    or over(tonumber(ARGV[a+5]), c[7], nslots)
    or over(tonumber(ARGV[a+2]), estimate(c[3], c[4], elapsed), tokens)
    or over(tonumber(ARGV[a+3]), c[5], tokens)
    or over(tonumber(ARGV[a+4]), c[6], tokens) then
    ok = false
  end
  for _, v in ipairs(c) do seen[#seen+1] = v end
end
if ok then
  for s = 1, scopes do
    local k = (s - 1) * SCOPE
    if s == 2 or countConsumer then incr(KEYS[k+1], nreq, ARGV[6]) end
    incr(KEYS[k+3], tokens, ARGV[6])
    incr(KEYS[k+5], tokens, ARGV[7])
    incr(KEYS[k+6], tokens, ARGV[8])
    -- "_" says until when records are kept: see reconcile.lua
    redis.call('HSET', KEYS[k+7], ARGV[10], ARGV[13], '_', ARGV[14])
    redis.call('ZADD', KEYS[k+8], ARGV[12], ARGV[10])
    for i = 2, nslots do redis.call('ZADD', KEYS[k+8], ARGV[12], ARGV[10] .. '#' .. i) end
    redis.call('PEXPIRE', KEYS[k+7], ARGV[9])
    redis.call('PEXPIRE', KEYS[k+8], ARGV[9])
  end
end
table.insert(seen, 1, ok and 1 or 0)
return seen
