-- Benchmark 1: scheduling overhead of the engine.
-- 100,000 no-op Lua tasks in a random DAG (each depends on 0-3 random
-- earlier tasks), max_parallel = 8. Reports the run's wall time per task
-- (wf:run only; building the graph is reported apart) and the peak RSS of
-- the process. Run: build/pdlua bench/engine_overhead.lua [tasks] [runs]
local N = tonumber(arg and arg[1]) or 100000
local RUNS = tonumber(arg and arg[2]) or 5
local ENGINE = arg and arg[3] or "pool"

local function peak_rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local function build(seed)
  math.randomseed(seed)
  local wf = pd.workflow("overhead")
  local noop = function() end
  local ids = {}
  for i = 1, N do
    local deps = {}
    if i > 1 then
      for _ = 1, math.random(0, 3) do deps[#deps + 1] = ids[math.random(1, i - 1)] end
    end
    ids[i] = "t" .. i
    wf:task{id = ids[i], deps = deps, run = noop}
  end
  return wf
end

local per_task, build_times = {}, {}
for r = 1, RUNS do
  local t0 = pd.now()
  local wf = build(r)
  build_times[r] = pd.now() - t0
  t0 = pd.now()
  local res = wf:run{max_parallel = 8, progress = false, engine = ENGINE}
  local dt = pd.now() - t0
  assert(res.ok and res.counts.succeeded == N, "not every task succeeded")
  per_task[r] = dt / N * 1e6
  io.write(("run %d: %.2f us/task (wf:run %.3f s, build %.3f s)\n"):format(
    r, per_task[r], dt, build_times[r]))
  res, wf = nil, nil   -- so the next build does not stack on this run's garbage
  collectgarbage()
end
table.sort(per_task)
table.sort(build_times)
local mid = (RUNS + 1) // 2
io.write(("engine_overhead: %d tasks, max_parallel 8, engine %s: median %.2f us/task "
          .. "(build median %.2f us/task), peak RSS %.1f MB\n"):format(
  N, ENGINE, per_task[mid], build_times[mid] / N * 1e6, peak_rss_mb()))
