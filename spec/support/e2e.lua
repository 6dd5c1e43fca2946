-- Shared by the end-to-end specs: an emulator, small fleets, and running
-- `pdlua migrate.lua` as a child process against it (so exit codes, kill -9
-- and stdin are real).
local env = require "support.env"
local emu_mod = require "support.emu"
local json = require "pdlua.json"

local M = {}

M.ZONE = "us-central1-a"
M.PROJECT = "e2e-project"
M.SCALE = tonumber(os.getenv("PDLUA_E2E_SCALE") or "") or 0.001

--- Whether the pieces an end-to-end run stands on are built in: the
-- engine (pd.workflow) and the client (gcp.client).
function M.ready()
  return type(pd) == "table" and type(pd.workflow) == "function"
    and type(gcp) == "table" and type(gcp.client) == "function"
end

--- Starts an emulator (a fleet can be loaded later with emu:load_fleet).
function M.start(fleet, scale)
  return emu_mod.start { fleet = fleet or M.fleet {}, latency_scale = scale or M.SCALE }
end

--- A fleet document: instances {name, machineType, status, disks = {...}}
-- and unattached disks, all in M.ZONE.
function M.fleet(p)
  local doc = { project = M.PROJECT, zones = { M.ZONE, "us-central1-b" }, instances = {}, disks = {} }
  for _, i in ipairs(p.instances or {}) do
    local inst = { name = i.name, zone = i.zone or M.ZONE, machineType = i.machineType or "n2-standard-4",
                   status = i.status or "RUNNING", disks = {} }
    for _, d in ipairs(i.disks or {}) do
      local a = {}
      for k, v in pairs(d) do a[k] = v end
      a.type = a.type or "pd-balanced"
      a.sizeGb = a.sizeGb or 10
      inst.disks[#inst.disks + 1] = a
    end
    doc.instances[#doc.instances + 1] = inst
  end
  for _, d in ipairs(p.disks or {}) do
    local x = { zone = M.ZONE, type = "pd-balanced", sizeGb = 10 }
    for k, v in pairs(d) do x[k] = v end
    doc.disks[#doc.disks + 1] = x
  end
  return doc
end

--- A fresh state directory.
function M.state_dir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

--- The argument string of a migrate run against `emu`.
function M.args(emu, extra, state_dir)
  return table.concat({ "migrate.lua", "--project", M.PROJECT, "--zone", M.ZONE,
                        "--endpoint", emu.endpoint, "--state-dir", env.quote(state_dir),
                        "--quiet", "--qps", "1000", extra }, " ")
end

--- Runs `pdlua migrate.lua` to its end.
-- @treturn table {code, out, err, report (decoded JSON when --format json)}
function M.run(emu, extra, opts)
  opts = opts or {}
  local dir = opts.state_dir or M.state_dir()
  local args = M.args(emu, (extra or "") .. (opts.text and "" or " --format json"), dir)
  local out, err, code = env.pdlua_run(args, { env = { GOOGLE_OAUTH_ACCESS_TOKEN = "test-token" },
                                               stdin = opts.stdin })
  -- Under the sanitizer builds a report goes to stderr; the exit code of a
  -- run expected to fail would hide it.
  for _, pat in ipairs { "Sanitizer", "runtime error:", "LeakSanitizer" } do
    assert(not err:find(pat, 1, true), "sanitizer report from pdlua migrate.lua:\n" .. err)
  end
  local ok, rep = pcall(json.decode, out)
  return { code = code, out = out, err = err, report = ok and rep or nil, state_dir = dir }
end

--- Runs a command whose earlier run died with its journal: the first try
-- must refuse what that run claimed, naming it; the second takes it over.
function M.take_over(emu, extra)
  local res = M.run(emu, extra)
  local claimer = res.report and (json.encode(res.report):match("%-%-take%-over ([%x]+)"))
  if not claimer then return res end
  assert(res.code == 1, "a run refusing claimed disks exits 1, not " .. tostring(res.code))
  for _, d in ipairs(res.report.disks) do
    assert(d.status ~= "migrated" or not d.new_disk, d.name .. " was moved despite another run's claim")
  end
  return M.run(emu, extra .. " --take-over " .. claimer)
end

--- The report entry of a disk.
function M.entry(rep, name)
  for _, d in ipairs(rep and rep.disks or {}) do
    if d.name == name then return d end
  end
  return nil
end

--- Asserts that every listed disk has the status in the report.
function M.expect_status(res, status, names)
  for _, n in ipairs(names) do
    local e = M.entry(res.report, n)
    assert(e, "no report entry for " .. n .. "\n" .. res.out .. res.err)
    assert(e.status == status, ("%s is %s, expected %s: %s\n%s"):format(n, tostring(e.status), status,
                                                                       tostring(e.error), res.err))
  end
end


--- Starts `pdlua migrate.lua` in the background; returns its pid and the
-- files its output goes to.
function M.spawn(emu, extra, state_dir)
  local out, err, rc, pidf = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(rc)
  local args = M.args(emu, (extra or "") .. " --format json", state_dir)
  -- The subshell waits for pdlua and keeps its exit code; pdlua's own pid
  -- is what signals go to.
  local cmd = ("(GOOGLE_OAUTH_ACCESS_TOKEN=test-token %s %s >%s 2>%s </dev/null & echo $! >%s; wait $!; echo $? >%s) >/dev/null 2>&1 &"):format(
    env.quote(env.pdlua), args, env.quote(out), env.quote(err), env.quote(pidf), env.quote(rc))
  os.execute(cmd)
  local pid
  local deadline = pd.now() + 30
  while not pid and pd.now() < deadline do
    local f = io.open(pidf, "r")
    pid = f and f:read("l")
    if f then f:close() end
    if pid == "" then pid = nil end
    if not pid then pd.sleep(0.005) end
  end
  os.remove(pidf)
  return { pid = pid, out = out, err = err, rc = rc }
end

--- The exit code of a spawned run once it has ended (waits for it).
function M.exit_code(p, timeout)
  local deadline = pd.now() + (timeout or 60)
  while pd.now() < deadline do
    local f = io.open(p.rc, "r")
    local s = f and f:read("l")
    if f then f:close() end
    if s and s ~= "" then return tonumber(s) end
    pd.sleep(0.01)
  end
  return nil
end

--- Whether a process is still there.
function M.alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

--- Sends a signal and waits (up to `timeout` s) for the process to go.
function M.kill(pid, sig, timeout)
  os.execute(("kill -%s %s 2>/dev/null"):format(sig or "KILL", pid))
  local deadline = pd.now() + (timeout or 30)
  while M.alive(pid) and pd.now() < deadline do pd.sleep(0.01) end
  return not M.alive(pid)
end

--- The number of lines of the run's journal in `dir` (0 if none yet).
function M.journal_lines(dir)
  local p = io.popen("cat " .. env.quote(dir) .. "/*.journal.jsonl 2>/dev/null | wc -l", "r")
  local n = tonumber(p:read("a")) or 0
  p:close()
  return n
end

--- Waits until the journal has at least `n` lines or the process ends;
-- returns the line count seen.
function M.wait_journal(dir, n, pid, timeout)
  local deadline = pd.now() + (timeout or 60)
  while pd.now() < deadline do
    local lines = M.journal_lines(dir)
    if lines >= n or not M.alive(pid) then return lines end
    pd.sleep(0.002)
  end
  return M.journal_lines(dir)
end

return M
