-- Scenario 1: every pre-signed PagerDuty delivery in BENCH_DELIVERIES is sent exactly once.
--
-- The file has one delivery a line: "webhook id \t correlation id \t signature \t body". Thread
-- `shard` of BENCH_THREADS takes lines shard, shard + threads, ...: the shares are disjoint.
-- Each delivery carries its own X-Correlation-ID, which the services echo, so response() knows
-- which delivery was answered. When all of its share is answered the thread appends its number
-- to BENCH_DONE_FILE and stops; the harness interrupts wrk once every thread has (wrk otherwise
-- sleeps out its whole -d duration). A connection that asks for a request after the share is
-- handed out gets a repeat of the thread's first delivery, under another correlation id: the
-- service deduplicates it by X-Webhook-Id (200) and it is never taken for an original's answer.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
setup = report.setup
done = report.done
report.count("share", "answered", "accepted", "duplicates", "refused", "repeats")

share, answered, accepted, duplicates, refused, repeats = 0, 0, 0, 0, 0, 0

local requests = {}      -- this thread's deliveries, formatted once so request() only indexes
local position = {}      -- correlation id -> index in `requests`
local is_answered = {}
local next_index = 1
local repeat_request = nil
local done_file = nil
-- wrk calls thread 0's request() once before the run, only to count pipelined requests
-- (script_verify_request in wrk.c); what that call returns is never sent.
local verified = false

local function format(webhook_id, correlation_id, signature, body)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "PagerDuty-Webhook/V3.0",
    ["X-PagerDuty-Signature"] = signature,
    ["X-Webhook-Id"] = webhook_id,
    ["X-Webhook-Subscription"] = "PWHSUB1", -- pagerduty_fixtures.SUBSCRIPTION_ID, as in Python
    ["X-Correlation-ID"] = correlation_id,
  }, body)
end

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  done_file = os.getenv("BENCH_DONE_FILE")
  local line_number = 0
  local first = nil
  for line in io.lines(os.getenv("BENCH_DELIVERIES")) do
    if line_number % threads == shard then
      local webhook_id, correlation_id, signature, body =
        string.match(line, "^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
      table.insert(requests, format(webhook_id, correlation_id, signature, body))
      position[correlation_id] = #requests
      first = first or { webhook_id, signature, body }
    end
    line_number = line_number + 1
  end
  share = #requests
  repeat_request = format(first[1], "repeat-" .. shard, first[2], first[3])
end

local function finish()
  local f = io.open(done_file, "a")
  f:write(shard, "\n")
  f:close()
  wrk.thread:stop()
end

function request()
  if shard == 0 and not verified then
    verified = true
    return repeat_request
  end
  if next_index <= share then
    next_index = next_index + 1
    return requests[next_index - 1]
  end
  repeats = repeats + 1
  return repeat_request
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status == 200 then
    duplicates = duplicates + 1
  else
    refused = refused + 1
  end
  local index = position[headers["x-correlation-id"] or headers["X-Correlation-ID"] or ""]
  if index and not is_answered[index] then
    is_answered[index] = true
    answered = answered + 1
    if answered == share then finish() end
  end
end
