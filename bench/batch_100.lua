-- batch_100.lua: wrk script; each request enqueues a batch of 100 messages of 512 bytes on queue "bench".
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local item = '{"data":"' .. string.rep("x", 501) .. '"}'
local items = {}
for i = 1, 100 do
  items[i] = item
end

wrk.method = "POST"
wrk.path = "/v1/queues/bench/messages/batch"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "[" .. table.concat(items, ",") .. "]"
per_ok = 100
