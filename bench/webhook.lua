-- wrk script: POST one signed PagerDuty delivery with a fresh X-Webhook-Id per request, so every
-- request is a new delivery (stored, published) rather than a deduplicated retry.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
local signature = os.getenv("BENCH_SIGNATURE") or ""
local counter = 0
local thread_tag = tostring(math.random(1, 1e9))

request = function()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "PagerDuty-Webhook/V3.0",
    ["X-PagerDuty-Signature"] = signature,
    ["X-Webhook-Id"] = "bench-" .. thread_tag .. "-" .. counter,
  }
  return wrk.format(nil, nil, headers, wrk.body)
end
