-- report.lua: loaded by the wrk scripts; counts messages and prints one BENCH line for bench_http.sh.
--
-- A script that knows its message count from the status alone sets per_ok
-- (messages per successful request); one that must read bodies counts msgs
-- and empty itself in response(), as globals so done() can collect them.

msgs, empty = 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.status + e.timeout
  local m, nothing = 0, 0
  if per_ok then
    m = (summary.requests - e.status) * per_ok
  else
    for _, t in ipairs(threads) do
      m = m + t:get("msgs")
      nothing = nothing + t:get("empty")
    end
  end
  io.write(string.format(
    "BENCH requests=%d msgs=%d empty=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, m, nothing, failed, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
