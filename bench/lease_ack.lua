-- lease_ack.lua: wrk script; leases one message of queue "bench", then acks it with the next request.
--
-- wrk calls response() and then request() on the same connection, so each
-- connection alternates: a lease, then the ack of what that lease returned.
-- A message counts once its ack answered 204.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local lease_request = wrk.format("POST", "/v1/queues/bench/messages/lease?limit=1")
local acks = {}

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function request()
  local n = #acks
  if n == 0 then
    return lease_request
  end
  local path = acks[n]
  acks[n] = nil
  return wrk.format("DELETE", path)
end

function response(status, headers, body)
  if status == 204 then
    msgs = msgs + 1
  elseif status == 200 then
    local id, lease = body:match('"id":(%d+).-"lease":"([^"]*)"')
    if id then
      acks[#acks + 1] = "/v1/queues/bench/messages/" .. id .. "?lease=" .. escape(lease)
    else
      empty = empty + 1
    end
  end
end
