-- enqueue_512.lua: wrk script; each request enqueues one 512-byte JSON message on queue "bench".
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

wrk.method = "POST"
wrk.path = "/v1/queues/bench/messages"
wrk.headers["Content-Type"] = "application/json"
-- {"data":"xxx...x"} is 9 + 501 + 2 = 512 bytes.
wrk.body = '{"data":"' .. string.rep("x", 501) .. '"}'
per_ok = 1
