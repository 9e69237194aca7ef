-- wrk script: POST a fixed body with fixed headers (set by the harness through environment).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
local headers = os.getenv("BENCH_HEADERS") or ""
for line in string.gmatch(headers, "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
