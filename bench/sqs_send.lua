-- sqs_send.lua: wrk script; each request is one SQS SendMessage (JSON protocol) of a 512-byte body to queue "sqsbench".
--
-- With SQS_BATCH=10 in the environment each request is a SendMessageBatch of ten such bodies
-- instead (bench_sqs.sh uses it to fill the queue before the receive run).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local queue_url = "http://" .. wrk.host .. ":" .. wrk.port .. "/000000000000/sqsbench"
local body = string.rep("x", 512)
local batch = tonumber(os.getenv("SQS_BATCH") or "1")

wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
if batch > 1 then
  local entries = {}
  for i = 1, batch do
    entries[i] = '{"Id":"m' .. i .. '","MessageBody":"' .. body .. '"}'
  end
  wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessageBatch"
  wrk.body = '{"QueueUrl":"' .. queue_url .. '","Entries":[' .. table.concat(entries, ",") .. ']}'
else
  wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessage"
  wrk.body = '{"QueueUrl":"' .. queue_url .. '","MessageBody":"' .. body .. '"}'
end
per_ok = batch
