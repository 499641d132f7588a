-- Cycles through requests built once per thread: the harness prepends
-- `local paths = {...}` and `local keys = {...}` (X-Api-Key values; empty
-- table for none), so the per-request cost in wrk is a table lookup.
-- max(#paths, #keys) requests are built: request i has path i and key i,
-- each list cycling, so every path and every key is sent.
local reqs = {}
init = function(args)
  local nkeys = #keys
  local n = math.max(#paths, nkeys)
  for i = 1, n do
    local h = {}
    if nkeys > 0 then h["X-Api-Key"] = keys[(i - 1) % nkeys + 1] end
    reqs[i] = wrk.format("GET", paths[(i - 1) % #paths + 1], h)
  end
end
local next_req = 0
request = function()
  next_req = next_req % #reqs + 1
  return reqs[next_req]
end
