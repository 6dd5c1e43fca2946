--- pdlua-emu benchmarks (figures in BENCHMARKS.md, "Emulator"):
--   1. simple GETs per second (disks.get over keep-alive connections),
--   2. concurrent long-polling operations.wait calls (400 at once),
--   3. start-up with a 10,000-disk fleet, and paging through it.
-- Load comes from the curl command (--parallel) on the same machine, so the
-- GET figure is a lower bound: the client shares the two cores.
-- Run: make bench, or build/pdlua bench/emu_throughput.lua [runs]
package.path = "spec/?.lua;" .. package.path
local env = require "support.env"
local emu_support = require "support.emu"
local json = require "pdlua.json"

local RUNS = tonumber(arg and arg[1]) or 5

local function median(t)
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end

local function sh(cmd)
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  p:close()
  return out
end

local dir = sh("mktemp -d"):gsub("%s+$", "")

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local function codes(out)
  local c = {}
  for code in out:gmatch("(%d+)\n") do c[code] = (c[code] or 0) + 1 end
  return c
end

------------------------------------------------------------------ 1. GETs

local function bench_gets()
  local emu = emu_support.start{fleet = "examples/fleets/demo.json"}
  local url = emu.endpoint .. "projects/demo-project/zones/us-central1-a/disks/web-1"
  local n = 20000
  local lines = {}
  for i = 1, n do
    lines[#lines + 1] = 'url = "' .. url .. '"\noutput = "/dev/null"'
  end
  write(dir .. "/gets.cfg", table.concat(lines, "\n") .. "\n")
  local rates = {}
  for _ = 1, RUNS do
    emu:clear_requests()
    local t0 = pd.now()
    local out = sh("curl -s --no-progress-meter -Z --parallel-max 8 -H 'Authorization: Bearer bench' -K " ..
                   dir .. "/gets.cfg -w '%{http_code}\\n'")
    local dt = pd.now() - t0
    local c = codes(out)
    assert(c["200"] == n, "not all GETs answered 200: " .. json.encode(c))
    rates[#rates + 1] = n / dt
  end
  emu:stop()
  return median(rates), rates
end

------------------------------------------------------------------ 2. long-polls

local function bench_long_polls()
  local conc = 400
  -- operations of about 10 s (blank 10 GB inserts at latency scale 0.8),
  -- so that every wait is open at once
  local emu = emu_support.start{fleet = "examples/fleets/demo.json", latency_scale = 0.8,
                                args = {"--concurrent-ops", "1000"}}
  local base = emu.endpoint .. "projects/demo-project/zones/us-central1-a/disks"
  local lines = {}
  for i = 1, conc do
    lines[#lines + 1] = string.format('url = "%s"\nheader = "Authorization: Bearer bench"\n' ..
      'header = "Content-Type: application/json"\ndata = "{\\"name\\":\\"lp-%d\\",\\"sizeGb\\":\\"10\\"}"\n' ..
      'output = "%s/op-%d.json"\nwrite-out = "%%{http_code}\\n"', base, i, dir, i)
  end
  write(dir .. "/inserts.cfg", table.concat(lines, "\nnext\n") .. "\n")
  local out = sh("curl -s --no-progress-meter -Z --parallel-max 50 -K " .. dir .. "/inserts.cfg")
  assert(codes(out)["200"] == conc, "inserts failed: " .. out:sub(1, 200))
  local t_created = pd.now()
  local cfgs = {{}, {}}
  local last_end = 0
  for i = 1, conc do
    local op = json.decode(assert(io.open(dir .. "/op-" .. i .. ".json")):read("a"))
    local part = cfgs[(i % 2) + 1]
    part[#part + 1] = string.format('url = "%s/wait"\nrequest = "POST"\nheader = "Authorization: Bearer bench"\n' ..
                                    'output = "%s/done-%d.json"\nwrite-out = "%%{http_code}\\n"', op.selfLink, dir, i)
  end
  write(dir .. "/wait1.cfg", table.concat(cfgs[1], "\nnext\n") .. "\n")
  write(dir .. "/wait2.cfg", table.concat(cfgs[2], "\nnext\n") .. "\n")
  -- two curl processes, 200 connections each, all waiting at once
  local t0 = pd.now()
  sh("(curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 200 -K " .. dir .. "/wait1.cfg >" ..
     dir .. "/w1.out & curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 200 -K " .. dir ..
     "/wait2.cfg >" .. dir .. "/w2.out; wait)")
  local dt = pd.now() - t0
  local done, max_end = 0, 0
  for i = 1, conc do
    local op = json.decode(assert(io.open(dir .. "/done-" .. i .. ".json")):read("a"))
    if op.status == "DONE" then done = done + 1 end
  end
  local c1 = codes(assert(io.open(dir .. "/w1.out")):read("a"))
  local c2 = codes(assert(io.open(dir .. "/w2.out")):read("a"))
  local log = emu:requests{api = "zoneOperations.wait"}
  local _, health = emu:request("GET", emu.url .. "/emulator/v1/health")
  local slowest, held = 0, 0
  for _, e in ipairs(log) do
    slowest = math.max(slowest, e.duration_ms)
    if e.duration_ms >= 1000 then held = held + 1 end
  end
  emu:stop()
  return {concurrent = conc, done = done, ok = (c1["200"] or 0) + (c2["200"] or 0), seconds = dt,
          slowest_wait_ms = slowest, held = held, max_in_flight = health.max_in_flight, waits_logged = #log, since_created = pd.now() - t_created}
end

------------------------------------------------------------------ 3. 10,000 disks

local function bench_big_fleet()
  local fleet = dir .. "/big.json"
  sh(env.quote(env.emu) .. " --generate 10000 --seed 7 >" .. fleet)
  local starts, pages, rss, filtered = {}, {}, {}, {}
  for _ = 1, RUNS do
    local t0 = pd.now()
    local emu = emu_support.start{fleet = fleet}
    starts[#starts + 1] = pd.now() - t0
    local st = io.open("/proc/" .. emu.pid .. "/status"):read("a")
    rss[#rss + 1] = tonumber(st:match("VmRSS:%s*(%d+)")) / 1024
    local t1 = pd.now()
    local token, n, calls = nil, 0, 0
    repeat
      local status, l = emu:api("GET", "aggregated/disks", nil, {query = {maxResults = 500, pageToken = token}})
      assert(status == 200)
      calls = calls + 1
      for _, b in pairs(l.items) do n = n + #(b.disks or {}) end
      token = l.nextPageToken
    until not token
    assert(n == 10000, "paged " .. n .. " disks")
    pages[#pages + 1] = pd.now() - t1
    local t2 = pd.now()
    local status = emu:api("GET", "aggregated/disks", nil, {query = {maxResults = 500, filter = "labels.env = prod"}})
    assert(status == 200)
    filtered[#filtered + 1] = pd.now() - t2
    emu:stop()
  end
  return median(starts), median(pages), median(rss), median(filtered)
end

local machine = sh("nproc"):gsub("%s+$", "") .. " cores, " ..
                (sh("grep -m1 'model name' /proc/cpuinfo"):match(":%s*(.-)%s*$") or "unknown CPU")
print("pdlua-emu benchmarks, " .. RUNS .. " runs each, median; " .. machine)
local rate, all = bench_gets()
local list = {}
for i, r in ipairs(all) do list[i] = string.format("%.0f", r) end
print(string.format("disks.get, 20,000 requests over 8 keep-alive connections: %.0f requests/s (runs: %s)",
                    rate, table.concat(list, ", ")))
local lp = bench_long_polls()
print(string.format("operations.wait: %d concurrent long-polls, %d answered 200, %d DONE, all back in %.2f s; " ..
                    "%d held open >= 1 s (longest %.0f ms); at most %d requests in the server at once",
                    lp.concurrent, lp.ok, lp.done, lp.seconds, lp.held, lp.slowest_wait_ms, lp.max_in_flight))
local start, paging, mem, filtered = bench_big_fleet()
print(string.format("10,000-disk fleet: start-up to listening %.2f s, paging all disks (20 aggregated pages " ..
                    "of 500) %.2f s, one filtered page (labels.env = prod) %.3f s, resident memory %.0f MiB",
                    start, paging, filtered, mem))
os.execute("rm -rf " .. env.quote(dir))
