--- bench/gcp_get.lua — the Compute Engine client's throughput and cost.
--
-- 32 threads doing disks.get against pdlua-emu (loopback, no rate limit),
-- compared with curl: one process per request in 32 shell loops (what a
-- script calling curl does), and one keep-alive curl process per thread
-- fetching its whole share. Reports requests per second, client CPU per
-- request (process CPU time / requests), and TCP connections opened per
-- 1,000 requests. Median of RUNS runs. Figures go in BENCHMARKS.md.
--
--   build/pdlua bench/gcp_get.lua [runs] [requests per thread]
package.path = "spec/?.lua;" .. package.path
local env = require "support.env"
local emu_support = require "support.emu"

local RUNS = tonumber(arg and arg[1]) or 5
local PER_THREAD = tonumber(arg and arg[2]) or 200
local THREADS = 32
local CURL_PER_THREAD = math.max(1, PER_THREAD // 4)   -- process spawning is slow

local fleet = {project = "bench", zones = {"us-central1-a"},
               disks = {{name = "d1", zone = "us-central1-a", type = "pd-balanced", sizeGb = 10}}}
local emu = emu_support.start{fleet = fleet, latency_scale = 0.001}

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

-- CPU seconds (user + system) a process has used, from /proc.
local function proc_cpu(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  local fields = {}
  for x in s:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100   -- utime, stime (ticks)
end

local url = emu.endpoint .. "projects/bench/zones/us-central1-a/disks/d1"

local function bench_pdlua()
  local c = gcp.client{project = "bench", zone = "us-central1-a", endpoint = emu.endpoint,
                       credentials = {access_token = "bench"}, qps = 0}
  c.disks:get{disk = "d1"}   -- first token use, first connection of this thread
  c:reset_stats()
  local cpu0, emu0, t0 = os.clock(), proc_cpu(emu.pid), pd.now()
  local res = gcp.core._run_threads(THREADS, function()
    for _ = 1, PER_THREAD do c.disks:get{disk = "d1"} end
    return true
  end)
  local wall, cpu = pd.now() - t0, os.clock() - cpu0
  local emu_cpu = proc_cpu(emu.pid) - emu0
  for _, r in ipairs(res) do assert(r.ok, tostring(r.error)) end
  local st = c:stats()
  local n = st.requests
  return {rps = n / wall, cpu_us = cpu / n * 1e6, conns = st.connections / n * 1000,
          conns_total = st.connections,
          emu_us = emu_cpu / n * 1e6, p50 = st.methods["disks.get"].p50 * 1e3,
          p99 = st.methods["disks.get"].p99 * 1e3}
end

-- Runs a shell script; returns wall seconds and the children's CPU seconds.
local function shell_timed(script)
  local t0 = pd.now()
  local out = env.run("bash -c " .. env.quote(script .. "\ntimes"))
  local wall = pd.now() - t0
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local um, us, sm, ss = lines[#lines]:match("(%d+)m([%d%.]+)s%s+(%d+)m([%d%.]+)s")
  return wall, tonumber(um) * 60 + tonumber(us) + tonumber(sm) * 60 + tonumber(ss)
end

local function bench_curl_loop()
  local n = THREADS * CURL_PER_THREAD
  local emu0 = proc_cpu(emu.pid)
  local wall, cpu = shell_timed(([[
    for t in $(seq %d); do
      (for i in $(seq %d); do curl -s -o /dev/null -H 'Authorization: Bearer bench' %s; done) &
    done
    wait]]):format(THREADS, CURL_PER_THREAD, url))
  return {rps = n / wall, cpu_us = cpu / n * 1e6, conns = 1000,
          emu_us = (proc_cpu(emu.pid) - emu0) / n * 1e6}
end

local function bench_curl_keepalive()
  local n = THREADS * PER_THREAD
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "w"))
  f:write('header = "Authorization: Bearer bench"\nsilent\n')
  for _ = 1, PER_THREAD do f:write(('url = "%s"\noutput = "/dev/null"\n'):format(url)) end
  f:close()
  local emu0 = proc_cpu(emu.pid)
  local wall, cpu = shell_timed(([[
    for t in $(seq %d); do curl -K %s & done
    wait]]):format(THREADS, cfg))
  os.remove(cfg)
  return {rps = n / wall, cpu_us = cpu / n * 1e6, conns = 1000 / PER_THREAD,
          emu_us = (proc_cpu(emu.pid) - emu0) / n * 1e6}
end

local function run(name, fn)
  local rows = {}
  for i = 1, RUNS do rows[i] = fn() end
  local out = {name = name}
  for _, k in ipairs {"rps", "cpu_us", "conns", "conns_total", "emu_us", "p50", "p99"} do
    if rows[1][k] then
      local v = {}
      for i = 1, RUNS do v[i] = rows[i][k] end
      out[k] = median(v)
    end
  end
  return out
end

local results = {
  run("pdlua client, 32 threads", bench_pdlua),
  run("curl, one process per request", bench_curl_loop),
  run("curl, one keep-alive process per thread", bench_curl_keepalive),
}
emu:stop()

print(("%d threads; pdlua and keep-alive curl: %d requests per thread; curl per request: %d per thread; median of %d runs")
      :format(THREADS, PER_THREAD, CURL_PER_THREAD, RUNS))
print(("%-42s %10s %14s %16s %14s"):format("", "req/s", "client CPU/req", "conns/1000 req", "emu CPU/req"))
for _, r in ipairs(results) do
  print(("%-42s %10.0f %11.0f µs %16.1f %11.0f µs"):format(r.name, r.rps, r.cpu_us, r.conns, r.emu_us))
end
local p = results[1]
print(("pdlua disks.get latency: p50 %.2f ms, p99 %.2f ms; connections opened: %d for %d threads")
      :format(p.p50, p.p99, p.conns_total, THREADS))
