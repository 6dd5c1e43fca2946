--- The chaos suite: `pdlua migrate.lua` against fresh emulators under a
-- fault storm, killed with -9 at seeded points and resumed, and run twice
-- at once over overlapping selections. Every trial is judged on the
-- emulator's state (pdlua.invariants) and on the runs' JSON reports, never
-- on how pdlua goes about it.
--
--   make chaos                      -- the full suite (spec/chaos.lua)
--   spec/e2e/chaos_spec.lua     -- a short version, in `make test`
--
--   local chaos = require "support.chaos"
--   local cfg = chaos.config(chaos.SHORT)       -- or chaos.config() + env
--   local r = chaos.storm(cfg)                  -- also kill9, two_runs
--   r.passed, r.failed, r.lines (what was printed)
--
-- Scenarios (each trial on a fresh emulator; `seed` is printed per trial):
--   storm     a generated fleet (unattached disks, instances with boot and
--             data disks, some TERMINATED) under 429/503 answers, resets,
--             dropped responses and failed operations, and, for ~2% of
--             the disks, a failure no retry gets past (so some are put
--             back); the same command again with --retry-failed until it
--             converges. After each run:
--             the invariants, and no report claims a disk the emulator does
--             not show migrated.
--   kill9     the run killed with -9 at 1..`kills` seeded journal lines
--             (chosen over the length of an uninterrupted run's journal),
--             resumed with --resume each time: no data lost after a kill;
--             after the last resume every disk migrated, the invariants.
--             Every other trial uses --delete-original.
--   two-runs  two runs started together over overlapping --disks lists,
--             in the same and in different --state-dirs, with and without
--             --delete-original: the invariants (with what the emulator
--             shows migrated), no data lost, each migrated disk reported
--             migrated by exactly one run, no report claiming a disk that
--             is not migrated, exit codes 0 or 1.
--
-- Parameters (chaos.config): M.DEFAULTS, then CHAOS_<NAME> in the
-- environment, then --<name> arguments (CHAOS_KILL_TRIALS=3 is
-- `--kill-trials 3`):
--   CHAOS_SCENARIOS     storm,kill9,two-runs
--   CHAOS_SEED          1: trial i of each scenario has seed SEED+i-1, which
--                       draws its fleet (storm, two-runs), the emulator's
--                       faults, its kill points or its selections
--   CHAOS_SCALE         0.001: the emulator's --latency-scale
--                       (CHAOS_TWO_SCALE 0.002 for two-runs)
--   CHAOS_STORM_TRIALS 3, CHAOS_STORM_DISKS 1000, CHAOS_STORM_RUNS 10
--   CHAOS_KILL_TRIALS 20, CHAOS_KILL_DISKS 200, CHAOS_KILLS 3 (per trial,
--                       at most), CHAOS_KILL_FLEET_SEED 1
--   CHAOS_TWO_TRIALS 20 (per combination), CHAOS_TWO_DISKS 24
--   CHAOS_TIMEOUT 900 (seconds a run may take), CHAOS_PARALLEL (pdlua's
--                       pacing flags)
-- A generated fleet of N disks has about half of them pd-standard or
-- pd-balanced: those are the ones moved (to pd-ssd); the rest must stay
-- untouched. A failed trial is replayed with its printed seed, e.g.
-- CHAOS_SCENARIOS=kill9 CHAOS_KILL_TRIALS=1 CHAOS_SEED=7 make chaos.
-- A failed trial's state directories are kept (their paths are printed).
local e2e = require "support.e2e"
local emu_mod = require "support.emu"
local env = require "support.env"
local invariants = require "pdlua.invariants"
local naming = require "pdlua.migrate.naming"
local cli = require "pdlua.migrate.cli"
local json = require "pdlua.json"

local M = {}

M.TARGET = "pd-ssd"
M.SOURCE_TYPES = { "pd-standard", "pd-balanced" }
-- pd-standard and pd-balanced disks go to pd-ssd, which every generated
-- machine shape that has them can take (hyperdisk-only shapes have none).
M.ARGS = "--target-disk-type " .. M.TARGET .. " --type " .. table.concat(M.SOURCE_TYPES, ",") .. " --yes"

--- The full suite's parameters (`make chaos`).
M.DEFAULTS = {
  scenarios = "storm,kill9,two-runs",
  seed = 1,              -- first trial seed; trial i uses seed + i - 1
  scale = 0.001,         -- the emulator's --latency-scale
  parallel = "--max-parallel 64 --snapshot-parallel 32 --create-parallel 32 --power-parallel 16",
  storm_trials = 3,
  storm_disks = 1000,
  storm_runs = 10,       -- runs allowed to converge
  kill_trials = 20,
  kill_disks = 200,
  kill_fleet_seed = 1,   -- the kill9 fleet (kill points come from the trial seed)
  kills = 3,             -- kills per trial: 1..kills
  two_trials = 20,       -- per combination (4 combinations)
  two_disks = 24,
  two_scale = 0.002,
  timeout = 900,         -- seconds one run may take
}

--- The short version (spec/e2e/chaos_spec.lua): fixed, whatever the
-- environment says.
M.SHORT = {
  no_env = true,
  storm_trials = 1, storm_disks = 30, storm_runs = 10,
  kill_trials = 3, kill_disks = 30, kills = 2,
  two_trials = 1, two_disks = 30,
  timeout = 120,
}

local NUMERIC = {}
for k, v in pairs(M.DEFAULTS) do NUMERIC[k] = type(v) == "number" end

--- The parameters: M.DEFAULTS, then `base`, then CHAOS_<NAME> variables
-- (unless base.no_env), then `argv` ("--name value" pairs).
function M.config(base, argv, getenv)
  getenv = getenv or os.getenv
  local cfg = {}
  for k, v in pairs(M.DEFAULTS) do cfg[k] = v end
  for k, v in pairs(base or {}) do cfg[k] = v end
  local function set(k, v, from)
    if M.DEFAULTS[k] == nil then error(("chaos: unknown parameter %s (%s)"):format(k, from), 0) end
    if NUMERIC[k] then
      local n = tonumber(v)
      if not n then error(("chaos: %s needs a number, not '%s'"):format(from, v), 0) end
      v = n
    end
    cfg[k] = v
  end
  if not (base and base.no_env) then
    for k in pairs(M.DEFAULTS) do
      local name = "CHAOS_" .. k:upper()
      local v = getenv(name)
      if v and v ~= "" then set(k, v, name) end
    end
  end
  local a = argv or {}
  local i = 1
  while i <= #a do
    local k, inline = a[i]:match("^%-%-([%w%-_]+)=(.*)$")
    if not k then k = a[i]:match("^%-%-([%w%-_]+)$") end
    if not k then error(("chaos: unexpected argument '%s'"):format(a[i]), 0) end
    local v = inline
    if v == nil then
      i = i + 1
      v = a[i]
      if v == nil then error(("chaos: --%s needs a value"):format(k), 0) end
    end
    set(k:gsub("%-", "_"), v, "--" .. k)
    i = i + 1
  end
  return cfg
end

---------------------------------------------------------------- helpers

-- A seeded generator (splitmix64, so that neighbouring seeds give
-- unrelated draws): r() in [0,1), r(n) in 1..n.
local function rng(seed)
  local s = math.tointeger(seed) or 1
  return function(n)
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    local x = (z >> 11) / 9007199254740992.0
    if n then return math.floor(x * n) + 1 end
    return x
  end
end
M.rng = rng

local read = env.read

local function last(url) return url and tostring(url):match("([^/]+)$") end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list or {}) do s[x] = true end
  return s
end

local function rm_rf(path)
  if path then os.execute("rm -rf " .. env.quote(path)) end
end

-- The last non-empty line of a text, for one-line messages.
local function last_line(s)
  local l
  for line in tostring(s or ""):gmatch("[^\n]+") do
    if line:match("%S") then l = line end
  end
  return l or ""
end

--- A fresh emulator with a generated fleet of `disks` disks (seed
-- `fleet_seed`) in the e2e project and zone; its fault draws seeded too.
function M.start_emulator(disks, fleet_seed, seed, scale)
  local emu = emu_mod.start { fleet = e2e.fleet {}, latency_scale = scale, seed = seed }
  local ok, err = pcall(emu.load_fleet, emu, { generate = { disks = disks, seed = fleet_seed,
                                                             project = e2e.PROJECT, zones = { e2e.ZONE } } })
  if not ok then
    emu:stop { check = false }
    error(err, 0)
  end
  return emu
end

--- Stops an emulator; a violation message if it did not stop cleanly.
local function stop_emulator(emu, bad)
  if not emu then return end
  local ok, err = pcall(emu.stop, emu)
  if not ok then bad[#bad + 1] = "the emulator did not stop cleanly: " .. last_line(err) end
end

--- The disks of a state that the runs are asked to move: of a source type,
-- attached to at most one instance.
function M.eligible(state)
  local types = set_of(M.SOURCE_TYPES)
  local out = {}
  for _, d in ipairs(state.disks or {}) do
    if types[last(d.type)] and #(d.users or {}) <= 1 then out[#out + 1] = d.name end
  end
  return out
end

--- The faults of the storm: 429 and 503 answers and connection resets on
-- every method, dropped responses on the mutations (applied, then the
-- connection reset: the retry must find the same operation), and failed
-- operations of every kind pdlua starts.
function M.storm_faults()
  local base = { ["429"] = 0.04, ["503"] = 0.04, reset = 0.01 }
  local function with(extra)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end
  local drop = { drop_response = 0.08 }
  return {
    errors = {
      ["*"] = with(),
      ["disks.insert"] = with(drop), ["disks.createSnapshot"] = with(drop),
      ["disks.setLabels"] = with(drop), ["disks.delete"] = with(drop),
      ["snapshots.delete"] = with(drop),
      ["instances.stop"] = with(drop), ["instances.start"] = with(drop),
      ["instances.attachDisk"] = with(drop), ["instances.detachDisk"] = with(drop),
      ["instances.setDiskAutoDelete"] = with(drop),
    },
    operation_failures = {
      insert = 0.03, createSnapshot = 0.03, attachDisk = 0.02, detachDisk = 0.02,
      stop = 0.02, start = 0.02, setLabels = 0.01, setDiskAutoDelete = 0.02, delete = 0.02,
    },
  }
end

--- One-shot failures that no retry gets past (QUOTA_EXCEEDED, 403) for a
-- seeded ~2% of the disks to move (at least two): a snapshot, a new disk or
-- an attach fails for good, so that the run puts those disks (and their
-- instances) back under the storm, and a run with --retry-failed moves
-- them.
function M.storm_once(state, want, r)
  local users = {}
  for _, d in ipairs(state.disks or {}) do users[d.name] = d.users and last(d.users[1]) end
  local once = {}
  local n = math.max(2, math.floor(#want / 50))
  local picked = {}
  for _ = 1, math.min(n, #want) do
    local name
    repeat name = want[r(#want)] until not picked[name]
    picked[name] = true
    local kind = r(users[name] and 3 or 2)
    local f = { action = "fail_operation", code = "QUOTA_EXCEEDED", http = 403,
                message = "Quota exceeded (chaos)." }
    if kind == 1 then
      f.method, f.name = "disks.createSnapshot", name
    elseif kind == 2 then
      f.method, f.name = "disks.insert", naming.new_disk_name(name, M.TARGET)
    else
      f.method, f.name = "instances.attachDisk", users[name]
    end
    once[#once + 1] = f
  end
  return once
end

--- The operations that ended in an error, by type (zoneOperations.list and
-- globalOperations.list over every page).
local function failed_operations(emu)
  local n, by = 0, {}
  for _, scope in ipairs { "zones/" .. e2e.ZONE .. "/operations", "global/operations" } do
    local token
    repeat
      local status, page = emu:api("GET", scope, nil, { query = { maxResults = 500, pageToken = token } })
      if status ~= 200 then error(("%s answered %s"):format(scope, tostring(status)), 0) end
      for _, op in ipairs(page.items or {}) do
        if op.error then
          n = n + 1
          by[op.operationType] = (by[op.operationType] or 0) + 1
        end
      end
      token = page.nextPageToken
    until not token or token == ""
  end
  return n, by
end

--- The report of a run: the JSON on its stdout, else the report file it
-- leaves in its state directory.
local function report_of(stdout, args, dir)
  local ok, rep = pcall(json.decode, stdout or "")
  if ok and type(rep) == "table" then return rep end
  local argv = {}
  for w in args:gmatch("%S+") do
    if w ~= "migrate.lua" then argv[#argv + 1] = w:gsub("^'(.*)'$", "%1") end
  end
  local o = cli.parse(argv)
  if o and not o.help then
    local stem = cli.run_stem(o)
    local ok2, rep2 = pcall(json.decode, read(dir .. "/" .. stem .. ".report.json") or "")
    if ok2 and type(rep2) == "table" then return rep2 end
  end
  return nil
end

-- A run's report entries by disk name, and counts by status.
local function statuses(rep)
  local by, n = {}, {}
  for _, d in ipairs(rep and rep.disks or {}) do
    by[d.name] = d
    local s = d.status == "skipped" and d.refused and "refused" or d.status
    n[s] = (n[s] or 0) + 1
  end
  return by, n
end

local function summary(n)
  local parts = {}
  for _, s in ipairs { "migrated", "rolled_back", "failed", "refused", "skipped", "planned" } do
    if (n[s] or 0) > 0 then parts[#parts + 1] = n[s] .. " " .. s:gsub("_", " ") end
  end
  return #parts > 0 and table.concat(parts, ", ") or "no disks"
end

--- What the reports say against what the emulator shows. `runs` is a list
-- of {label, report}; `moved` the names the emulator shows migrated.
-- Appends violations to `bad`: a report claiming a disk migrated that is
-- not; a disk reported migrated by more than one run; with opts.exactly_one,
-- a migrated disk no run reports (a single run's report covers only its own
-- selection, so that is checked where the selection is the report's).
function M.check_reports(runs, moved, bad, opts)
  local on_emu = set_of(moved)
  local claimed = {}
  for _, run in ipairs(runs) do
    for _, d in ipairs(run.report and run.report.disks or {}) do
      if d.status == "migrated" then
        if not on_emu[d.name] then
          bad[#bad + 1] = ("run %s reports %s migrated; the emulator does not show it migrated")
            :format(run.label, d.name)
        end
        claimed[d.name] = claimed[d.name] or {}
        table.insert(claimed[d.name], run.label)
      end
    end
  end
  for name, by in pairs(claimed) do
    if #by > 1 then
      bad[#bad + 1] = ("%s reported migrated by %d runs (%s)"):format(name, #by, table.concat(by, ", "))
    end
  end
  if opts and opts.exactly_one then
    for _, name in ipairs(moved) do
      if not claimed[name] then
        bad[#bad + 1] = ("%s is migrated on the emulator but no run reports it migrated"):format(name)
      end
    end
  end
end

-- The printer of a scenario: prints a line (flushed) and keeps it.
local function printer(cfg, lines)
  local out = cfg.out or function(s) io.stdout:write(s, "\n") io.stdout:flush() end
  return function(fmt, ...)
    local s = select("#", ...) > 0 and fmt:format(...) or fmt
    lines[#lines + 1] = s
    out(s)
  end
end

-- Prints a trial's violations under its line (at most `max`).
local function show_violations(say, bad, max)
  max = max or 25
  for i, v in ipairs(bad) do
    if i > max then
      say("      ... and %d more", #bad - max)
      break
    end
    say("      - %s", v)
  end
end

-- Runs one trial function under pcall: an error (a sanitizer report, an
-- emulator that would not start) fails the trial instead of the suite.
local function guarded(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  return { bad = { "the trial raised: " .. tostring(res) }, line = "raised an error" }
end

local function new_result(name)
  return { name = name, passed = 0, failed = 0, lines = {}, trials = {} }
end

local function finish(result, say, t0)
  say("%s: %d passed, %d failed (%.1f s)", result.name, result.passed, result.failed, pd.now() - t0)
  result.seconds = pd.now() - t0
  result.text = table.concat(result.lines, "\n")
  return result
end

-- Waits for a spawned run; kills it after `timeout` s. Returns its exit
-- code (nil if it had to be killed), stdout and stderr, and removes its
-- files.
local function collect(p, timeout)
  local code = e2e.exit_code(p, timeout)
  if not code then e2e.kill(p.pid, "KILL") end
  local out, err = read(p.out) or "", read(p.err) or ""
  os.remove(p.out)
  os.remove(p.err)
  os.remove(p.rc)
  return code, out, err
end

---------------------------------------------------------------- storm

local function storm_trial(cfg, i, say)
  local seed = cfg.seed + i - 1
  local t0 = pd.now()
  local bad = {}
  local emu = M.start_emulator(cfg.storm_disks, seed, seed, cfg.scale)
  local dir = e2e.state_dir()
  local runs, converged, faulted, kinds, failed_ops = {}, false, 0, {}, 0
  local ok, err = pcall(function()
    local before = emu:state()
    local want = M.eligible(before)
    local faults = M.storm_faults()
    faults.once = M.storm_once(before, want, rng(seed))
    emu:faults(faults)
    for run = 1, cfg.storm_runs do
      local args = M.ARGS .. " " .. cfg.parallel .. (run > 1 and " --retry-failed" or "")
      local res = e2e.run(emu, args, { state_dir = dir })
      local after = emu:state()
      local moved = invariants.migrated_disks(before, after, { target_type = M.TARGET })
      local v = invariants.check(before, after, { target_type = M.TARGET, migrated = moved,
                                                  no_raise = true }).violations
      local rep = res.report or report_of(res.out, e2e.args(emu, args .. " --format json", dir), dir)
      if res.code ~= 0 and res.code ~= 1 then
        v[#v + 1] = ("exit code %s: %s"):format(tostring(res.code), last_line(res.err))
      end
      if not rep then v[#v + 1] = "no report: " .. last_line(res.err) end
      M.check_reports({ { label = "#" .. run, report = rep } }, moved, v)
      local on_emu = set_of(moved)
      local _, n = statuses(rep)
      runs[#runs + 1] = ("exit %s (%s)"):format(tostring(res.code), summary(n))
      for _, x in ipairs(v) do bad[#bad + 1] = ("after run %d: %s"):format(run, x) end
      if #v > 0 then break end
      local missing = 0
      for _, name in ipairs(want) do if not on_emu[name] then missing = missing + 1 end end
      if res.code == 0 and missing == 0 then
        converged = true
        break
      end
      if run == cfg.storm_runs then
        bad[#bad + 1] = ("did not converge in %d runs: %d of %d disks not migrated"):format(run, missing, #want)
      end
    end
    emu:faults {}
    for _, r in ipairs(emu:requests()) do
      if r.fault then
        faulted = faulted + 1
        kinds[r.fault] = (kinds[r.fault] or 0) + 1
      end
    end
    failed_ops = failed_operations(emu)
  end)
  if not ok then bad[#bad + 1] = "the trial raised: " .. tostring(err) end
  stop_emulator(emu, bad)
  if #bad == 0 then rm_rf(dir) end
  local k = {}
  for name, n in pairs(kinds) do k[#k + 1] = name .. " " .. n end
  table.sort(k)
  local line = ("%d disks, %d run(s): %s; %d requests hit by faults (%s), %d operations failed%s; %.1f s")
    :format(cfg.storm_disks, #runs, table.concat(runs, ", "), faulted, table.concat(k, ", "), failed_ops,
            converged and ", converged" or "", pd.now() - t0)
  if #bad > 0 then line = line .. "; state dir kept: " .. dir end
  return { bad = bad, line = line, seed = seed }
end

--- The fault storm (cfg.storm_trials trials).
function M.storm(cfg)
  local result = new_result("storm")
  local say = printer(cfg, result.lines)
  local t0 = pd.now()
  for i = 1, cfg.storm_trials do
    local tr = guarded(storm_trial, cfg, i, say)
    local ok = #tr.bad == 0
    say("storm  trial %d/%d seed=%d: %s %s", i, cfg.storm_trials, cfg.seed + i - 1, ok and "ok  " or "FAIL",
        tr.line)
    show_violations(say, tr.bad)
    result[ok and "passed" or "failed"] = result[ok and "passed" or "failed"] + 1
    result.trials[#result.trials + 1] = tr
  end
  return finish(result, say, t0)
end

---------------------------------------------------------------- kill -9

-- The journal length of an uninterrupted run on the kill9 fleet: kill
-- points are drawn over it.
local function calibrate(cfg)
  local emu = M.start_emulator(cfg.kill_disks, cfg.kill_fleet_seed, cfg.seed, cfg.scale)
  local dir = e2e.state_dir()
  local ok, res = pcall(e2e.run, emu, M.ARGS .. " " .. cfg.parallel, { state_dir = dir })
  local lines = e2e.journal_lines(dir)
  local bad = {}
  stop_emulator(emu, bad)
  rm_rf(dir)
  if not ok then error("calibration run raised: " .. tostring(res), 0) end
  if res.code ~= 0 then error(("calibration run exited %s: %s"):format(tostring(res.code), last_line(res.err)), 0) end
  return lines
end

local function kill_trial(cfg, i, journal_len)
  local seed = cfg.seed + i - 1
  local r = rng(seed)
  local t0 = pd.now()
  local delete = i % 2 == 0
  local args = M.ARGS .. " " .. cfg.parallel .. (delete and " --delete-original" or "")
  -- 1..kills points over the journal, ascending and distinct.
  local n = r(cfg.kills)
  local points, seen = {}, {}
  while #points < n do
    local at = r(math.max(1, journal_len - 1))
    if not seen[at] then
      seen[at] = true
      points[#points + 1] = at
    end
  end
  table.sort(points)
  local bad = {}
  local emu = M.start_emulator(cfg.kill_disks, cfg.kill_fleet_seed, seed, cfg.scale)
  local dir = e2e.state_dir()
  local killed, code, migrated, total = {}, nil, 0, 0
  local ok, err = pcall(function()
    local before = emu:state()
    local want = M.eligible(before)
    total = #want
    for k, at in ipairs(points) do
      local p = e2e.spawn(emu, args .. (k > 1 and " --resume" or ""), dir)
      local lines = e2e.wait_journal(dir, at, p.pid, cfg.timeout)
      local alive = e2e.alive(p.pid)
      if alive then e2e.kill(p.pid, "KILL") end
      local c, _, perr = collect(p, 30)
      if alive then
        killed[#killed + 1] = tostring(lines)
      else
        killed[#killed + 1] = ("(%d: ended first, exit %s)"):format(at, tostring(c))
        if c ~= 0 then bad[#bad + 1] = ("run ended by itself with exit %s: %s"):format(tostring(c), last_line(perr)) end
      end
      -- Whatever the moment, no original's data may be gone: it is on a
      -- disk, or on the snapshot a run took of it.
      for _, v in ipairs(invariants.lost_data(before, emu:state(), { snapshots = true })) do
        bad[#bad + 1] = ("after kill %d (journal line %d): %s"):format(k, at, v)
      end
    end
    local res = e2e.run(emu, args .. " --resume", { state_dir = dir })
    code = res.code
    local after = emu:state()
    if res.code ~= 0 then bad[#bad + 1] = ("resumed run exited %s: %s"):format(tostring(res.code), last_line(res.err)) end
    local moved = invariants.migrated_disks(before, after, { target_type = M.TARGET })
    migrated = #moved
    for _, v in ipairs(invariants.check(before, after, { target_type = M.TARGET, migrated = moved,
                                                           delete_original = delete, no_raise = true }).violations) do
      bad[#bad + 1] = v
    end
    local on_emu = set_of(moved)
    for _, name in ipairs(want) do
      if not on_emu[name] then bad[#bad + 1] = name .. " was not migrated" end
    end
    local by = statuses(res.report)
    if not res.report then bad[#bad + 1] = "the resumed run printed no report" end
    for _, name in ipairs(want) do
      local e = by[name]
      if res.report and (not e or e.status ~= "migrated") then
        bad[#bad + 1] = ("the report says %s is %s"):format(name, e and tostring(e.status) or "absent")
      end
    end
    for name, e in pairs(by) do
      if e.status == "migrated" and not on_emu[name] then
        bad[#bad + 1] = ("the report says %s migrated; the emulator does not show it migrated"):format(name)
      end
    end
  end)
  if not ok then bad[#bad + 1] = "the trial raised: " .. tostring(err) end
  stop_emulator(emu, bad)
  if #bad == 0 then rm_rf(dir) end
  local line = ("%s%d disks, killed at journal line %s of ~%d; resumed: exit %s, %d/%d migrated; %.1f s")
    :format(delete and "--delete-original, " or "", cfg.kill_disks, table.concat(killed, ", "), journal_len,
            tostring(code), migrated, total, pd.now() - t0)
  if #bad > 0 then line = line .. "; state dir kept: " .. dir end
  return { bad = bad, line = line, seed = seed }
end

--- kill -9 at seeded points, resumed (cfg.kill_trials trials).
function M.kill9(cfg)
  local result = new_result("kill9")
  local say = printer(cfg, result.lines)
  local t0 = pd.now()
  local ok, journal_len = pcall(calibrate, cfg)
  if not ok then
    say("kill9  calibration FAIL: %s", tostring(journal_len))
    result.failed = 1
    return finish(result, say, t0)
  end
  say("kill9  calibration: an uninterrupted run on the %d-disk fleet (fleet seed %d) writes %d journal lines",
      cfg.kill_disks, cfg.kill_fleet_seed, journal_len)
  for i = 1, cfg.kill_trials do
    local tr = guarded(kill_trial, cfg, i, journal_len)
    local good = #tr.bad == 0
    say("kill9  trial %d/%d seed=%d: %s %s", i, cfg.kill_trials, cfg.seed + i - 1, good and "ok  " or "FAIL",
        tr.line)
    show_violations(say, tr.bad)
    result[good and "passed" or "failed"] = result[good and "passed" or "failed"] + 1
    result.trials[#result.trials + 1] = tr
  end
  return finish(result, say, t0)
end

---------------------------------------------------------------- two runs

M.COMBINATIONS = {
  { name = "same-dir keep", same_dir = true, delete = false },
  { name = "same-dir delete", same_dir = true, delete = true },
  { name = "two-dirs keep", same_dir = false, delete = false },
  { name = "two-dirs delete", same_dir = false, delete = true },
}

-- Two overlapping selections of `names`: each disk goes to A, to B or to
-- both; each run gets at least one disk of its own and they share at least
-- one (so their commands, and journals, differ).
local function split(names, r)
  local a, b, both = {}, {}, {}
  for _, n in ipairs(names) do
    local x = r(3)
    if x == 1 then a[#a + 1] = n elseif x == 2 then b[#b + 1] = n else both[#both + 1] = n end
  end
  local function move(from, to)
    if #from > 1 then to[#to + 1] = table.remove(from, r(#from)) end
  end
  if #both == 0 then move(#a >= #b and a or b, both) end
  if #a == 0 then move(#both > 1 and both or b, a) end
  if #b == 0 then move(#both > 1 and both or a, b) end
  local sa, sb = {}, {}
  for _, n in ipairs(a) do sa[#sa + 1] = n end
  for _, n in ipairs(b) do sb[#sb + 1] = n end
  for _, n in ipairs(both) do
    sa[#sa + 1] = n
    sb[#sb + 1] = n
  end
  table.sort(sa)
  table.sort(sb)
  return sa, sb, #both
end

local function two_trial(cfg, combo, i)
  local seed = cfg.seed + i - 1
  local r = rng(seed)
  local t0 = pd.now()
  local bad = {}
  local emu = M.start_emulator(cfg.two_disks, seed, seed, cfg.two_scale)
  local dir_a = e2e.state_dir()
  local dir_b = combo.same_dir and dir_a or e2e.state_dir()
  local info = {}
  local moved_n, shared = 0, 0
  local ok, err = pcall(function()
    local before = emu:state()
    local sel_a, sel_b
    sel_a, sel_b, shared = split(M.eligible(before), r)
    local extra = cfg.parallel .. (combo.delete and " --delete-original" or "")
    local args_a = M.ARGS .. " " .. extra .. " --disks " .. table.concat(sel_a, ",")
    local args_b = M.ARGS .. " " .. extra .. " --disks " .. table.concat(sel_b, ",")
    -- Started together: the second is spawned as soon as the first has a pid.
    local pa = e2e.spawn(emu, args_a, dir_a)
    local pb = e2e.spawn(emu, args_b, dir_b)
    local runs = {}
    for _, x in ipairs { { "A", pa, args_a, dir_a }, { "B", pb, args_b, dir_b } } do
      local code, out, rerr = collect(x[2], cfg.timeout)
      local rep = report_of(out, e2e.args(emu, x[3] .. " --format json", x[4]), x[4])
      runs[#runs + 1] = { label = x[1], report = rep, code = code }
      if code == nil then
        bad[#bad + 1] = ("run %s did not end within %d s (killed)"):format(x[1], cfg.timeout)
      elseif code ~= 0 and code ~= 1 then
        bad[#bad + 1] = ("run %s exited %d: %s"):format(x[1], code, last_line(rerr))
      end
      if not rep then bad[#bad + 1] = ("run %s left no report: %s"):format(x[1], last_line(rerr)) end
      local _, n = statuses(rep)
      info[#info + 1] = ("%s exit %s (%d disks: %s)"):format(x[1], tostring(code), #(x[1] == "A" and sel_a or sel_b),
                                                          summary(n))
    end
    local after = emu:state()
    local moved = invariants.migrated_disks(before, after, { target_type = M.TARGET })
    moved_n = #moved
    for _, v in ipairs(invariants.check(before, after, { target_type = M.TARGET, migrated = moved,
                                                           delete_original = combo.delete,
                                                           no_raise = true }).violations) do
      bad[#bad + 1] = v
    end
    -- Only the selected disks may have moved.
    local selected = set_of(sel_a)
    for _, n in ipairs(sel_b) do selected[n] = true end
    for _, n in ipairs(moved) do
      if not selected[n] then bad[#bad + 1] = n .. " was migrated though neither run selected it" end
    end
    M.check_reports(runs, moved, bad, { exactly_one = true })
  end)
  if not ok then bad[#bad + 1] = "the trial raised: " .. tostring(err) end
  stop_emulator(emu, bad)
  if #bad == 0 then
    rm_rf(dir_a)
    if dir_b ~= dir_a then rm_rf(dir_b) end
  end
  local line = ("%d shared; %s; emulator: %d migrated; %.1f s"):format(shared, table.concat(info, ", "),
                                                                        moved_n, pd.now() - t0)
  if #bad > 0 then
    line = line .. "; state dir(s) kept: " .. dir_a .. (dir_b ~= dir_a and (" " .. dir_b) or "")
  end
  return { bad = bad, line = line, seed = seed }
end

--- Two runs at once over overlapping selections: cfg.two_trials trials
-- for each of the four combinations.
function M.two_runs(cfg)
  local result = new_result("two-runs")
  local say = printer(cfg, result.lines)
  local t0 = pd.now()
  result.by_combination = {}
  for _, combo in ipairs(M.COMBINATIONS) do
    local c = { passed = 0, failed = 0 }
    result.by_combination[combo.name] = c
    for i = 1, cfg.two_trials do
      local tr = guarded(two_trial, cfg, combo, i)
      local good = #tr.bad == 0
      say("two-runs %-15s trial %d/%d seed=%d: %s %s", combo.name, i, cfg.two_trials, cfg.seed + i - 1,
          good and "ok  " or "FAIL", tr.line)
      show_violations(say, tr.bad)
      local k = good and "passed" or "failed"
      result[k] = result[k] + 1
      c[k] = c[k] + 1
      result.trials[#result.trials + 1] = tr
    end
  end
  for _, combo in ipairs(M.COMBINATIONS) do
    local c = result.by_combination[combo.name]
    say("two-runs %-15s: %d passed, %d failed", combo.name, c.passed, c.failed)
  end
  return finish(result, say, t0)
end

---------------------------------------------------------------- the suite

M.SCENARIOS = { storm = M.storm, kill9 = M.kill9, ["two-runs"] = M.two_runs }

--- Runs the scenarios of cfg.scenarios; prints `chaos: N passed, M
-- failed` last. Returns the results and whether every trial passed.
function M.run(cfg)
  local say = printer(cfg, {})
  local t0 = pd.now()
  say("chaos: seed %d, latency scale %s (two-runs %s), scenarios %s", cfg.seed, tostring(cfg.scale),
      tostring(cfg.two_scale), cfg.scenarios)
  local results, passed, failed = {}, 0, 0
  for name in cfg.scenarios:gmatch("[^,%s]+") do
    local fn = M.SCENARIOS[name]
    if not fn then error(("chaos: unknown scenario '%s' (storm, kill9, two-runs)"):format(name), 0) end
    local r = fn(cfg)
    results[#results + 1] = r
    passed, failed = passed + r.passed, failed + r.failed
  end
  say("chaos: %.1f s in all", pd.now() - t0)
  say("chaos: %d passed, %d failed", passed, failed)
  return results, failed == 0
end

--- The command line of `make chaos`: returns the process's exit code.
function M.main(argv)
  if not e2e.ready() then
    io.stderr:write("chaos: needs pdlua's engine and Compute Engine client (run it with build/pdlua)\n")
    return 2
  end
  local ok, cfg = pcall(M.config, nil, argv)
  if not ok then
    io.stderr:write(tostring(cfg), "\n")
    return 2
  end
  local okr, results, all = pcall(M.run, cfg)
  if not okr then
    io.stderr:write(tostring(results), "\n")
    return 2
  end
  return all and 0 or 1
end

return M
