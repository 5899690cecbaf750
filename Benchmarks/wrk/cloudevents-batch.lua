-- wrk script: each request POSTs a CloudEvents batch (`application/cloudevents-batch+json`) of
-- BATCH `lead.captured` events (default 100) whose ids are not UUIDs, so every event's id is the
-- UUIDv5 of source and id; every acknowledged request is BATCH durable appends (no duplicates).
--   BATCH=100 LEADLEDGER_KEY=llk_… wrk -t2 -c16 -d15s --latency -s Benchmarks/wrk/cloudevents-batch.lua http://127.0.0.1:8080/v1/events

local threads = {}
local next_thread = 0
math.randomseed(os.time())
local run = string.format("%08x", math.random(0, 0x7fffffff))
local batch = tonumber(os.getenv("BATCH") or "100")

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_id", next_thread)
  thread:set("run", run)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  failures = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/cloudevents-batch+json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("LEADLEDGER_KEY") or "")
end

function request()
  local items = {}
  for i = 1, batch do
    counter = counter + 1
    items[i] = string.format(
      '{"specversion":"1.0","id":"%s-%d-%d","source":"//forms.example.com/signup","type":"lead.captured","subject":"C%s-%d-%d","time":"2026-03-02T14:05:00Z","data":{"channel":"load"}}',
      run, thread_id, counter, run, thread_id, counter)
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(items, ",") .. "]")
end

function response(status, headers, body)
  if status ~= 201 then
    failures = failures + 1
    if failures <= 3 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + (thread:get("failures") or 0) end
  local seconds = summary.duration / 1e6
  io.write(string.format("requests: %d in %.2f s, not 201: %d, socket errors: %d\n", summary.requests, seconds, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("acknowledged requests/s: %.0f, events/s: %.0f (batches of %d)\n",
    (summary.requests - failed) / seconds, (summary.requests - failed) * batch / seconds, batch))
  io.write(string.format("latency p50: %.2f ms, p90: %.2f ms, p99: %.2f ms, max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
