-- sqs_receive_delete.lua: wrk script; an SQS ReceiveMessage of one message of queue "sqsbench", then its DeleteMessage.
--
-- The SQS twin of lease_ack.lua (JSON protocol): each thread's connections send a receive when
-- no receipt handle is waiting, else the delete of one. A receive and a delete both answer 200,
-- so messages are counted as the deletes sent (a delete that fails shows as a non-2xx in wrk's
-- errors; at most one per connection is still open when wrk stops). bench_sqs.sh checks that
-- the queue still held messages at the end, so no receive came back empty.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local queue_url = "http://" .. wrk.host .. ":" .. wrk.port .. "/000000000000/sqsbench"
local headers = { ["Content-Type"] = "application/x-amz-json-1.0" }
local receive_body = '{"QueueUrl":"' .. queue_url .. '","MaxNumberOfMessages":1}'
local handles = {}

local function call(action, body)
  headers["X-Amz-Target"] = "AmazonSQS." .. action
  return wrk.format("POST", "/", headers, body)
end

function request()
  local n = #handles
  if n == 0 then
    return call("ReceiveMessage", receive_body)
  end
  local handle = handles[n]
  handles[n] = nil
  msgs = msgs + 1
  return call("DeleteMessage", '{"QueueUrl":"' .. queue_url .. '","ReceiptHandle":"' .. handle .. '"}')
end

function response(status, headers, body)
  local handle = body:match('"ReceiptHandle":"([^"]*)"')
  if handle then
    handles[#handles + 1] = handle
  end
end
