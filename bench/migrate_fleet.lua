--- migrate_fleet.lua: a fleet migration against the emulator, measured.
--
--   build/pdlua bench/migrate_fleet.lua [--scale X] [--instances N] [--unattached N]
--
-- 1. 250 instances with a boot disk and three data disks each (1,000
--    disks; a fifth of the instances stopped), moved to pd-ssd by
--    `pdlua migrate.lua` at a latency scale that makes the run last about a
--    minute. Reported: the makespan against a lower bound implied by the
--    emulator's latency model and the run's concurrency limits, API calls
--    per migrated disk, and the peak RSS of the pdlua process.
-- 2. Unattached disks only: API calls per migrated disk (the target is 12
--    at most, with no sleep-polling).
--
-- The lower bound uses the operations' real durations, read back from the
-- emulator (zoneOperations.list / globalOperations.list: startTime to
-- endTime): it is the largest of
--   - the longest instance chain: its label, stop, longest snapshot+create,
--     its detaches and attaches one after another (the API serialises
--     operations on an instance), start, and longest cleanup;
--   - the work of each pool divided by its capacity (snapshots,
--     disk_creates, power);
-- and so it ignores request latency, discovery and pending time.
local root = debug.getinfo(1, "S").source:match("^@(.*)/bench/migrate_fleet%.lua$") or "."
local json = require "pdlua.json"
local emulator = require "pdlua.emulator"
local invariants = require "pdlua.invariants"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local read = require("pdlua.fs").read

local opts = { scale = 0.012, instances = 250, unattached = 200, snapshots = 32, creates = 32,
               power = 16, max_parallel = 160, qps = 2000 }
do
  local a = { ... }
  for i = 1, #a, 2 do
    local k = a[i]:gsub("^%-%-", ""):gsub("%-", "_")
    opts[k] = tonumber(a[i + 1]) or a[i + 1]
  end
end

local pdlua = os.getenv("PDLUA_BIN") or (root .. "/build/pdlua")
local emu_bin = os.getenv("PDLUA_EMU") or (root .. "/build/pdlua-emu")
local dir = io.popen("mktemp -d"):read("l")

-- A deterministic fleet.
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n
end
local SHAPES = { "e2-standard-4", "n2-standard-8", "n2d-standard-4", "c3-standard-8", "n1-standard-4",
                 "e2-standard-2", "n2-highmem-16" }
local function fleet(instances, unattached)
  local doc = { project = "bench-project", zones = { "us-central1-a", "us-central1-b" },
                instances = {}, disks = {} }
  for i = 1, instances do
    local zone = doc.zones[1 + (i % 2)]
    local name = ("vm-%04d"):format(i)
    local disks = { { name = name .. "-boot", boot = true, autoDelete = true, type = "pd-balanced",
                      sizeGb = 20 } }
    for d = 1, 3 do
      disks[#disks + 1] = { name = ("%s-data-%d"):format(name, d), deviceName = "data-" .. d,
                            type = "pd-standard", sizeGb = 50 + 50 * rand(4),
                            labels = { app = "bench", tier = tostring(d) } }
    end
    doc.instances[#doc.instances + 1] = {
      name = name, zone = zone, machineType = SHAPES[1 + rand(#SHAPES)],
      status = (i % 5 == 0) and "TERMINATED" or "RUNNING", disks = disks,
    }
  end
  for i = 1, unattached do
    doc.disks[#doc.disks + 1] = { name = ("loose-%04d"):format(i), zone = doc.zones[1 + (i % 2)],
                                  type = "pd-standard", sizeGb = 50 + 50 * rand(4) }
  end
  return doc
end

local function start_emu(doc, scale)
  local emu, _, err = emulator.start { bin = emu_bin, fleet = doc, latency_scale = scale, timeout = 20 }
  if not emu then error("pdlua-emu did not start: " .. err) end
  return emu.url, emu
end

local function get(url)
  local p = io.popen("curl -s -H 'Authorization: Bearer bench' " .. quote(url))
  local s = p:read("a")
  p:close()
  return json.decode(s)
end

local function list_ops(base)
  local ops = {}
  for _, scope in ipairs { "zones/us-central1-a", "zones/us-central1-b", "global" } do
    local token
    repeat
      local url = base .. "/compute/v1/projects/bench-project/" .. scope .. "/operations?maxResults=500"
      if token then url = url .. "&pageToken=" .. token end
      local page = get(url)
      for _, op in ipairs(page.items or {}) do ops[#ops + 1] = op end
      token = page.nextPageToken
    until not token or token == ""
  end
  return ops
end

local function seconds(ts)
  local y, mo, d, h, mi, s, ms = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.(%d+)")
  local t = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false }
  return t + tonumber(ms) / 1000
end

-- Peak RSS: GNU time's figure when it is installed, else the last VmHWM
-- (a high-water mark) read from /proc while the process ran.
local have_time = os.execute("test -x /usr/bin/time") == true

local function migrate(url, extra)
  local rss_file, done_file = dir .. "/rss", dir .. "/done"
  os.remove(done_file)
  local run = table.concat({
    "GOOGLE_OAUTH_ACCESS_TOKEN=bench", have_time and ("/usr/bin/time -f %M -o " .. quote(rss_file)) or "",
    quote(pdlua),
    "migrate.lua --project bench-project --region us-central1 --target-disk-type pd-ssd --yes",
    "--quiet --format json --endpoint", url, "--state-dir", quote(dir .. "/runs-" .. tostring(os.time())),
    "--qps", opts.qps, "--max-parallel", opts.max_parallel, "--snapshot-parallel", opts.snapshots,
    "--create-parallel", opts.creates, "--power-parallel", opts.power, extra or "",
    ">", quote(dir .. "/report.json"),
  }, " ")
  -- A subshell waits for the command and then writes a file: the end of
  -- the run is seen when that file appears (a finished process that nobody
  -- has reaped yet would still answer `kill -0`).
  local cmd = ("(%s & echo $! >%s; wait $!; touch %s) >/dev/null 2>&1 &"):format(
    run, quote(dir .. "/pid"), quote(done_file))
  local t0 = pd.now()
  os.execute(cmd)
  local hwm
  while not read(done_file) do
    -- With GNU time the pid is time's, not pdlua's; its figure is used then.
    local pid = (read(dir .. "/pid") or ""):match("%d+")
    local status = pid and read("/proc/" .. pid .. "/status") or ""
    local kb = tonumber(status:match("VmHWM:%s*(%d+)"))
    if not have_time and kb then hwm = kb end
    pd.sleep(0.02)
  end
  local wall = pd.now() - t0
  local rep = json.decode(read(dir .. "/report.json") or "{}")
  local rss_kb = have_time and tonumber((read(rss_file) or ""):match("(%d+)%s*$")) or hwm
  return rep, wall, rss_kb
end

-- The lower bound of the makespan (see the header).
local function lower_bound(ops, doc)
  local by_target = {}
  local pool_work = { snapshots = 0, disk_creates = 0, power = 0 }
  for _, op in ipairs(ops) do
    if op.startTime and op.endTime then
      local d = seconds(op.endTime) - seconds(op.startTime)
      local target = op.targetLink:match("([^/]+)$")
      by_target[target] = by_target[target] or {}
      table.insert(by_target[target], { type = op.operationType, d = d })
      if op.operationType == "createSnapshot" then pool_work.snapshots = pool_work.snapshots + d
      elseif op.operationType == "insert" then pool_work.disk_creates = pool_work.disk_creates + d
      elseif op.operationType == "stop" or op.operationType == "start" then
        pool_work.power = pool_work.power + d
      end
    end
  end
  local function dur(target, typ)
    local best = 0
    for _, o in ipairs(by_target[target] or {}) do
      if o.type == typ then best = math.max(best, o.d) end
    end
    return best
  end
  local function sum(target, typ)
    local t = 0
    for _, o in ipairs(by_target[target] or {}) do if o.type == typ then t = t + o.d end end
    return t
  end
  -- The snapshot of a disk is the target whose name starts "pdlua-<disk>-".
  local function snapshot_delete(disk)
    local best = 0
    local prefix = "pdlua-" .. disk .. "-"
    for target, list in pairs(by_target) do
      if target:sub(1, #prefix) == prefix and not target:sub(#prefix + 1):find("-", 1, true) then
        for _, o in ipairs(list) do if o.type == "delete" then best = math.max(best, o.d) end end
      end
    end
    return best
  end
  local function tail(disk)
    -- cleanup: the original's last label change, then the snapshot's deletion
    return dur(disk, "setLabels") + snapshot_delete(disk)
  end
  local chain = 0
  for _, inst in ipairs(doc.instances) do
    local label, snapcreate, cleanup = 0, 0, 0
    for _, d in ipairs(inst.disks) do
      label = math.max(label, dur(d.name, "setLabels"))
      snapcreate = math.max(snapcreate, dur(d.name, "createSnapshot") + dur(d.name .. "-pdssd", "insert"))
      cleanup = math.max(cleanup, tail(d.name))
    end
    -- The API runs an instance's operations one after another.
    local serial = sum(inst.name, "stop") + sum(inst.name, "detachDisk") + sum(inst.name, "attachDisk")
      + sum(inst.name, "start")
    chain = math.max(chain, label + snapcreate + serial + cleanup)
  end
  for _, d in ipairs(doc.disks) do
    chain = math.max(chain, dur(d.name, "createSnapshot") + dur(d.name .. "-pdssd", "insert") + tail(d.name))
  end
  local bounds = {
    chain = chain,
    snapshots = pool_work.snapshots / opts.snapshots,
    disk_creates = pool_work.disk_creates / opts.creates,
    power = pool_work.power / opts.power,
  }
  local lb, which = 0, nil
  for k, v in pairs(bounds) do if v > lb then lb, which = v, k end end
  return lb, which, bounds
end

local function requests(url)
  local r = get(url .. "/emulator/v1/requests")
  return r.requests or {}
end

local DISCOVERY = { ["disks.list"] = true, ["instances.list"] = true, ["snapshots.list"] = true,
                    ["zones.list"] = true, ["disks.aggregatedList"] = true,
                    ["instances.aggregatedList"] = true }

local function calls_per_disk(reqs, migrated)
  local total, steps, by = 0, 0, {}
  for _, r in ipairs(reqs) do
    if r.api and r.api ~= "" and not r.api:match("^emulator") then
      total = total + 1
      if not DISCOVERY[r.api] then steps = steps + 1 end
      by[r.api] = (by[r.api] or 0) + 1
    end
  end
  return total / migrated, steps / migrated, by
end

-- 1. The fleet.
do
  local doc = fleet(opts.instances, 0)
  local url, emu = start_emu(doc, opts.scale)
  local before = get(url .. "/emulator/v1/state")
  local rep, wall, rss = migrate(url)
  local after = get(url .. "/emulator/v1/state")
  local migrated = {}
  for _, d in ipairs(rep.disks or {}) do
    if d.status == "migrated" then migrated[#migrated + 1] = d.name end
  end
  local check = invariants.check(before, after, { target_type = "pd-ssd", migrated = migrated,
                                                  no_raise = true })
  local ops = list_ops(url)
  local lb, which, bounds = lower_bound(ops, doc)
  local per_disk, per_disk_steps, by = calls_per_disk(requests(url), #migrated)
  emu:stop()
  local makespan = rep.metrics and rep.metrics.makespan_s or wall
  print(("fleet: %d disks on %d instances, latency scale %s, pools snapshots=%d disk_creates=%d power=%d, max_parallel=%d, qps=%s")
    :format(#migrated, opts.instances, tostring(opts.scale), opts.snapshots, opts.creates, opts.power,
            opts.max_parallel, tostring(opts.qps)))
  print(("  migrated %d/%d, invariants %s"):format(#migrated, opts.instances * 4,
        #check.violations == 0 and "hold" or ("VIOLATED: " .. table.concat(check.violations, "; "))))
  print(("  makespan %.1f s (workflow), %.1f s (whole command); lower bound %.1f s (%s; chain %.1f, snapshots %.1f, creates %.1f, power %.1f)")
    :format(makespan, wall, lb, which, bounds.chain, bounds.snapshots, bounds.disk_creates, bounds.power))
  print(("  makespan / lower bound = %.3f (workflow), %.3f (whole command)"):format(makespan / lb, wall / lb))
  print(("  API calls per migrated disk: %.2f (%.2f without discovery)"):format(per_disk, per_disk_steps))
  print(("  peak RSS of pdlua: %.1f MB"):format((rss or 0) / 1024))
  local keys = {}
  for k in pairs(by) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. by[k] end
  print("  requests: " .. table.concat(parts, " "))
end

-- 2. Unattached disks: API calls per disk.
if opts.unattached > 0 then
  local doc = fleet(0, opts.unattached)
  local url, emu = start_emu(doc, opts.scale / 4)
  local rep, wall = migrate(url)
  local migrated = 0
  for _, d in ipairs(rep.disks or {}) do if d.status == "migrated" then migrated = migrated + 1 end end
  local per_disk, per_disk_steps, by = calls_per_disk(requests(url), migrated)
  emu:stop()
  print(("unattached: %d disks in %.1f s; API calls per migrated disk: %.2f (%.2f without discovery)")
    :format(migrated, wall, per_disk, per_disk_steps))
  local keys = {}
  for k in pairs(by) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. by[k] end
  print("  requests: " .. table.concat(parts, " "))
end

os.execute("rm -rf " .. quote(dir))
