-- wrk script: POST a different request body on every call, cycling through an NDJSON file
-- (one JSON body per line), and print the summary as one JSON line prefixed "WRKJSON ".
-- Usage: wrk -t1 -c16 -d20s --latency -s bench/wrk_cycle.lua URL -- BODIES.ndjson
-- Each wrk thread starts at a different offset so threads do not send the same patient in step.

local bodies = {}
local idx = 0
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  if #bodies == 0 then error("no request bodies in " .. tostring(args[1])) end
  idx = ((thread_no or 0) * 7919) % #bodies
end

local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[idx])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
