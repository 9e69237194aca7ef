-- wrk script: GET with an Authorization header from the environment.
local auth = os.getenv("BENCH_AUTH")
if auth then wrk.headers["Authorization"] = auth end
