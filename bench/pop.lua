-- pop.lua: wrk script; each request pops one message from queue "bench" and counts those that came back.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

wrk.method = "POST"
wrk.path = "/v1/queues/bench/messages/pop?limit=1"

function response(status, headers, body)
  if status == 200 and body:find('"id":', 1, true) then
    msgs = msgs + 1
  elseif status == 200 then
    empty = empty + 1
  end
end
