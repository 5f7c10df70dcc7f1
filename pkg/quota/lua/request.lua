-- CountRequest: one request into the consumer's minute window if it fits.
-- KEYS[1] requests this minute, KEYS[2] requests last minute.
-- ARGV[1] ms into the minute, ARGV[2] limit (0 = unlimited), ARGV[3] ttl.
local prev, cur = num(KEYS[2]), num(KEYS[1])
if over(tonumber(ARGV[2]), estimate(prev, cur, tonumber(ARGV[1])), 1) then
  return {0, prev, cur}
end
incr(KEYS[1], 1, ARGV[3])
return {1, prev, cur}
