-- GET with an Authorization header given by the harness through the environment (BENCH_AUTH).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")
setup = report.setup
done = report.done

local auth = os.getenv("BENCH_AUTH")
if auth then wrk.headers["Authorization"] = auth end
