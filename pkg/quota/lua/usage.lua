-- Usage: expire, then report every scope's counters.
local seen = {}
for s = 1, #KEYS / SCOPE do
  local k = (s - 1) * SCOPE
  expire(k)
  for _, v in ipairs(counts(k)) do seen[#seen+1] = v end
end
return seen
