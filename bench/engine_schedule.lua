-- Benchmark 2: schedule quality.
-- 2,000 tasks that sleep 1-200 ms (bounded Pareto, alpha 1.1: most are
-- short, a few are long), in 6 levels; a task of level k > 1 depends on 1-3
-- random tasks of level k-1 and, one time in three, on one of any earlier
-- level. max_parallel = 64. For each engine, reports
--   makespan / max(critical path, total work / 64)
-- where the critical path is the longest chain of sleep durations: no
-- schedule can beat that bound, so 1.00 is perfect.
-- Task weights are the sleep durations (ninja's estimates come from its
-- log; a migration's from the operation type); "pool (unit weights)" shows
-- the pool engine without them.
-- Run: build/pdlua bench/engine_schedule.lua [runs]
local RUNS = tonumber(arg and arg[1]) or 5
local N, LEVELS, WORKERS = 2000, 6, 64
local MIN, MAX, ALPHA = 0.001, 0.200, 1.1

local function duration()
  -- inverse CDF of the Pareto distribution, truncated to [MIN, MAX]
  local u = math.random()
  local lo, hi = MIN ^ -ALPHA, MAX ^ -ALPHA
  return (lo - u * (lo - hi)) ^ (-1 / ALPHA)
end

local function build(seed, weighted)
  math.randomseed(seed)
  local wf = pd.workflow("schedule")
  local per_level = N // LEVELS
  local levels, dur, finish = {}, {}, {}
  local total, critical = 0, 0
  for l = 1, LEVELS do
    levels[l] = {}
    local count = l == LEVELS and N - per_level * (LEVELS - 1) or per_level
    for k = 1, count do
      local id = ("L%d.%d"):format(l, k)
      local d = duration()
      local deps = {}
      if l > 1 then
        local prev = levels[l - 1]
        for _ = 1, math.random(1, 3) do deps[#deps + 1] = prev[math.random(#prev)] end
        if l > 2 and math.random(3) == 1 then
          local any = levels[math.random(1, l - 2)]
          deps[#deps + 1] = any[math.random(#any)]
        end
      end
      local start = 0
      for _, dep in ipairs(deps) do start = math.max(start, finish[dep]) end
      finish[id] = start + d
      critical = math.max(critical, finish[id])
      total = total + d
      dur[id] = d
      levels[l][k] = id
      wf:task{id = id, deps = deps, weight = weighted and d or 1,
              run = function() pd.sleep(d) end}
    end
  end
  return wf, critical, total
end

local configs = {
  {name = "pool", engine = "pool", weighted = true},
  {name = "levels", engine = "levels", weighted = true},
  {name = "pool (unit weights)", engine = "pool", weighted = false},
}
local ratios = {}
for _, c in ipairs(configs) do ratios[c.name] = {} end
for r = 1, RUNS do
  for _, c in ipairs(configs) do
    local wf, critical, total = build(1000 + r, c.weighted)
    local bound = math.max(critical, total / WORKERS)
    local res = wf:run{max_parallel = WORKERS, engine = c.engine, progress = false}
    assert(res.ok, "a task failed")
    local ratio = res.makespan / bound
    table.insert(ratios[c.name], ratio)
    io.write(("run %d %-20s makespan %.3fs  critical path %.3fs  work/64 %.3fs  ratio %.3f\n")
      :format(r, c.name, res.makespan, critical, total / WORKERS, ratio))
  end
end
for _, c in ipairs(configs) do
  local l = ratios[c.name]
  table.sort(l)
  io.write(("engine_schedule: %s: median makespan / lower bound = %.3f (%d runs)\n")
    :format(c.name, l[(#l + 1) // 2], #l))
end
