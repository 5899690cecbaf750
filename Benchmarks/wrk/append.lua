-- wrk script: each request POSTs one `lead.captured` event with a fresh id and a fresh lead, so
-- every acknowledged request is one durable append (no duplicates).
--   LEADLEDGER_KEY=llk_… wrk -t2 -c64 -d15s --latency -s Benchmarks/wrk/append.lua http://127.0.0.1:8080/v1/events

local threads = {}
local next_thread = 0
-- A per-run prefix keeps ids unique across runs against the same ledger.
math.randomseed(os.time())
local run = string.format("%08x", math.random(0, 0x7fffffff))

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
  wrk.headers["Content-Type"] = "application/x-ndjson"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("LEADLEDGER_KEY") or "")
end

function request()
  counter = counter + 1
  local id = string.format("%s-%04x-4000-8000-%012x", run, thread_id, counter)
  local body = string.format(
    '{"id":"%s","type":"lead.captured","lead":"W%s-%d-%d","occurredAt":"2026-03-02T14:05:00Z","source":"wrk","data":{"channel":"load"}}',
    id, run, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
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
  local ok = summary.requests - failed - summary.errors.status
  io.write(string.format("requests: %d in %.2f s, not 201: %d, socket errors: %d\n", summary.requests, seconds, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("acknowledged appends/s: %.0f\n", (summary.requests - failed) / seconds))
  io.write(string.format("latency p50: %.2f ms, p90: %.2f ms, p99: %.2f ms, max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
