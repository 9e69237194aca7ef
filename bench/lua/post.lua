-- POST a fixed body with fixed headers, both given by the harness through the environment
-- (BENCH_BODY; BENCH_HEADERS as "Name: value" lines) so no secret appears on a command line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
setup = report.setup
done = report.done

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
