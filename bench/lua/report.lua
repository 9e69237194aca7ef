-- Shared by every bench script (loaded with dofile): numbers the threads and prints wrk's figures
-- as one JSON line, so the harness reads numbers instead of parsing wrk's human-readable text.
-- setup() and done() run in wrk's main Lua state; each thread has a state of its own.
local report = { threads = {}, counters = {} }

-- Each thread gets a `shard` global (0-based) before its init() runs: scripts that split work
-- between threads use it to pick their disjoint share.
function report.setup(thread)
  thread:set("shard", #report.threads)
  table.insert(report.threads, thread)
end

-- Names of numeric globals the threads keep; done() sums them over the threads.
function report.count(...)
  for _, name in ipairs({ ... }) do
    table.insert(report.counters, name)
  end
end

local function sum(name)
  local total = 0
  for _, thread in ipairs(report.threads) do
    total = total + (tonumber(thread:get(name)) or 0)
  end
  return total
end

function report.done(summary, latency, requests)
  local errors = summary.errors
  local parts = {
    string.format('"duration_us":%d', summary.duration),
    string.format('"requests":%d', summary.requests),
    string.format('"bytes":%d', summary.bytes),
    string.format('"non_2xx":%d', errors.status),
    string.format('"connect_errors":%d', errors.connect),
    string.format('"read_errors":%d', errors.read),
    string.format('"write_errors":%d', errors.write),
    string.format('"timeouts":%d', errors.timeout),
    string.format(
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}',
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean
    ),
  }
  local counters = {}
  for _, name in ipairs(report.counters) do
    table.insert(counters, string.format('"%s":%d', name, sum(name)))
  end
  table.insert(parts, '"counters":{' .. table.concat(counters, ",") .. "}")
  io.write("BENCH_WRK {" .. table.concat(parts, ",") .. "}\n")
end

return report
