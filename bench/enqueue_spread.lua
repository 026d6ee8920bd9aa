-- enqueue_spread.lua: wrk script; each request enqueues one 512-byte JSON message on one of
-- BENCH_QUEUES queues (default 64) named c0, c1, ..., in turn, so that a cluster spreads them.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local queues = tonumber(os.getenv("BENCH_QUEUES") or "64")
local headers = { ["Content-Type"] = "application/json" }
-- {"data":"xxx...x"} is 9 + 501 + 2 = 512 bytes.
local body = '{"data":"' .. string.rep("x", 501) .. '"}'
local n = 0
per_ok = 1

function init(args)
  -- Threads start at different queues.
  n = math.random(queues)
end

function request()
  n = n + 1
  return wrk.format("POST", "/v1/queues/c" .. (n % queues) .. "/messages", headers, body)
end
