-- What a migration's files stand on: a state directory that fills up
-- mid-run (the run stops new work, exits 1 saying so, and leaves the
-- fleet consistent and its journal readable), a report replaced whole or
-- not at all, and a run lock that the kernel holds for the process.
local e2e = require "support.e2e"
local env = require "support.env"
local emu_mod = require "support.emu"
local invariants = require "pdlua.invariants"
local json = require "pdlua.json"

local read_file = env.read

local write_file = env.write

local glob = env.glob

local function esc(s) return (s:gsub("%p", "%%%0")) end

local function sh(cmd)
  local out, err, code = env.run(cmd)
  return code == 0, out, err
end

-- A process that takes host.lock_file(path), says so in `ready`, and
-- sleeps; returns its pid.
local function hold_lock(path)
  local ready = os.tmpname()
  os.remove(ready)
  local script = os.tmpname()
  write_file(script, ([[
local host = require "pdlua.host"
local ok, why, holder = host.lock_file(%q)
local f = io.open(%q, "w")
f:write(ok and "locked" or ("not locked: " .. tostring(why) .. " " .. tostring(holder)))
f:close()
pd.sleep(120)
]]):format(path, ready))
  local p = io.popen(("%s %s >/dev/null 2>&1 </dev/null & echo $!"):format(env.quote(env.pdlua),
                                                                          env.quote(script)))
  local pid = p:read("l")
  p:close()
  local deadline = pd.now() + 30
  while not read_file(ready) and pd.now() < deadline do pd.sleep(0.01) end
  local said = read_file(ready)
  os.remove(ready)
  os.remove(script)
  assert.equal("locked", said)
  return pid
end

describe("host.lock_file", function()
  local host = require "pdlua.host"

  it("is held by one process at a time, tells the others its pid, and dies with its holder (kill -9)", function()
    assert.is_function(host.lock_file)
    local dir = e2e.state_dir()
    os.execute("mkdir -p " .. dir)
    local path = dir .. "/run.lock"
    local holder = hold_lock(path)
    -- Another process is refused, and told who holds it.
    local out, _, code = env.pdlua_run(([[-e "print(require('pdlua.host').lock_file('%s'))"]]):format(path))
    assert.equal(0, code)
    local ok, why, text = out:match("^(%S+)\t(%S+)\t([^\n]*)")
    assert.equal("nil", ok, out)
    assert.equal("held", why)
    assert.matches("^" .. holder .. " ", text)
    -- Gone with its holder: no stale lock to clean up.
    assert.is_true(e2e.kill(holder, "KILL"))
    out, _, code = env.pdlua_run(([[-e "print(require('pdlua.host').lock_file('%s'))"]]):format(path))
    assert.equal(0, code)
    assert.equal("true\n", out)
    os.execute("rm -rf " .. dir)
  end)

  it("is taken again by the process that holds it, until it lets go; a path it cannot create is an error", function()
    local dir = e2e.state_dir()
    os.execute("mkdir -p " .. dir)
    local path = dir .. "/again.lock"
    local try = ([[-e "print(require('pdlua.host').lock_file('%s'))"]]):format(path)
    assert.is_true(host.lock_file(path))
    assert.is_true(host.lock_file(path))
    local held = false
    for _, p in ipairs(host.locks()) do held = held or p == path end
    assert.is_true(held)
    assert.matches("^nil\theld\t%d+ ", (env.pdlua_run(try)))
    assert.is_true(host.unlock_file(path))
    assert.is_false(host.unlock_file(path))
    assert.equal("true\n", (env.pdlua_run(try)))
    local ok, err, errno, name = host.lock_file(dir .. "/missing/dir/x.lock")
    assert.is_nil(ok)
    assert.equal(dir .. "/missing/dir/x.lock: No such file or directory", err)
    assert.equal(2, errno)
    assert.equal("ENOENT", name)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("host.write_file_atomic and host.fsync", function()
  local host = require "pdlua.host"

  it("replace a file whole, through a temporary that does not stay", function()
    assert.is_function(host.write_file_atomic)
    local dir = e2e.state_dir()
    os.execute("mkdir -p " .. dir)
    local path = dir .. "/r.json"
    write_file(path, "old")
    assert.is_true(os.execute("ln " .. path .. " " .. dir .. "/link"))
    assert.is_true(host.write_file_atomic(path, '{"new":true}\n'))
    assert.equal('{"new":true}\n', read_file(path))
    assert.equal("old", read_file(dir .. "/link"), "the file was rewritten in place")
    assert.same({ dir .. "/link", path }, glob(dir .. "/*"))
    -- A failure leaves nothing behind and names the path.
    os.execute("mkdir " .. dir .. "/adir")
    local ok, err, _, name = host.write_file_atomic(dir .. "/adir", "x")
    assert.is_nil(ok)
    assert.equal(dir .. "/adir: Is a directory", err)
    assert.equal("EISDIR", name)
    assert.equal(0, #glob(dir .. "/*.tmp.*"))
    os.execute("rm -rf " .. dir)
  end)

  it("fsync reports a failed write-back like Lua's io functions do", function()
    local f = io.open("/dev/full", "w")
    if not f then
      pending("no /dev/full on this system")
      return
    end
    f:write("x")
    local ok, err, errno, name = host.fsync(f)
    f:close()
    assert.is_nil(ok)
    assert.equal("No space left on device", err)
    assert.equal(28, errno)
    assert.equal("ENOSPC", name)
    assert.has_error(function() host.fsync(f) end)
  end)
end)

describe("the events file", function()
  it("says once on stderr that it cannot be written, and writes nothing more", function()
    local full = io.open("/dev/full", "a")
    if not full then
      pending("no /dev/full on this system")
      return
    end
    full:close()
    local script = os.tmpname()
    write_file(script, [[
local events = require "pdlua.events"
local w = assert(events.open("/dev/full", { run = "r", workflow = "w" }))
w:run_started(3)
for i = 1, 3 do w:event { type = "log", task = "t" .. i, message = "m", time = i } end
w:run_finished { ok = true, exit_code = 0, counts = {} }
print(w:close())
]])
    local out, err, code = env.pdlua_run(env.quote(script))
    os.remove(script)
    assert.equal(0, code, err)
    assert.equal("nil\t/dev/full: No space left on device\n", out)
    local said = select(2, err:gsub("cannot write the events file /dev/full: No space left on device", ""))
    assert.equal(1, said, err)
  end)

  it("closes (and syncs) a file it wrote whole", function()
    local path = os.tmpname()
    local events = require "pdlua.events"
    local w = assert(events.open(path, { run = "r", workflow = "w" }))
    w:run_started(1)
    w:event { type = "state", task = "a", state = "running", previous = "pending", time = 0.1 }
    assert.is_true(w:close())
    local n = 0
    for line in read_file(path):gmatch("[^\n]+") do
      assert.is_table(json.decode(line))
      n = n + 1
    end
    assert.equal(2, n)
    os.remove(path)
  end)
end)

if not e2e.ready() then
  describe("migrate.lua's files", function() pending("needs the engine and the Compute Engine client") end)
  return
end

describe("migrate.lua's files", function()
  local FLEET = {
    instances = {
      { name = "f1", disks = {
        { name = "f1-boot", boot = true, autoDelete = true, sizeGb = 20 },
        { name = "f1-data", deviceName = "data", type = "pd-standard", sizeGb = 40 } } },
    },
    disks = { { name = "fu1", type = "pd-standard", sizeGb = 50 } },
  }
  local ALL = { "f1-boot", "f1-data", "fu1" }
  local ARGS = "--target-disk-type pd-ssd --yes"
  local emu
  setup(function() emu = e2e.start(e2e.fleet(FLEET)) end)
  teardown(function() if emu then emu:stop() end end)

  it("replaces the report whole (valid JSON, a new file renamed over the old, no temporary left)", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local dir = e2e.state_dir()
    local res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    local report = assert(glob(dir .. "/*.report.json")[1], "no report in " .. dir)
    local rep = json.decode(read_file(report))
    assert.is_true(rep.ok)
    assert.equal(#ALL, rep.totals.migrated)
    -- A hard link keeps the old file: a report rewritten in place would
    -- change it too.
    assert.is_true(os.execute("ln " .. report .. " " .. dir .. "/old-report"))
    write_file(dir .. "/old-report", "OLD")
    res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    assert.equal("OLD", read_file(dir .. "/old-report"))
    assert.is_table(json.decode(read_file(report)))
    assert.same({}, glob(dir .. "/*.tmp*"))
    os.execute("rm -rf " .. dir)
  end)

  it("says so and exits 1 when the report cannot be written", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local dir = e2e.state_dir()
    local res = e2e.run(emu, ARGS, { state_dir = dir, text = true })
    assert.equal(0, res.code, res.err)
    local report = assert(glob(dir .. "/*.report.json")[1])
    assert.matches("Report: " .. esc(report), res.out)
    os.remove(report)
    os.execute("mkdir " .. report)
    res = e2e.run(emu, ARGS, { state_dir = dir, text = true })
    assert.equal(1, res.code, res.err)
    assert.is_nil(res.out:find("Report:", 1, true), res.out)
    assert.matches("migrate%.lua: cannot write the report " .. esc(report) .. ": Is a directory", res.err)
    assert.same({}, glob(dir .. "/*.tmp*"))
    os.execute("rm -rf " .. dir)
  end)

  it("refuses a second run of the command while the first holds its lock, naming the pid and the lock", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local dir = e2e.state_dir()
    local res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    local lock = assert(glob(dir .. "/*.journal.jsonl")[1]) .. ".lock"
    local holder = hold_lock(lock)
    res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(2, res.code, res.err)
    assert.equal(("migrate.lua: another run of this command is in progress (pid %s, lock %s)\n")
      :format(holder, lock), res.err)
    assert.is_true(e2e.kill(holder, "KILL"))
    res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    os.execute("rm -rf " .. dir)
  end)
end)

-- The demo fleet (examples/fleets/demo.json) migrated with its state
-- directory on a 64 KB tmpfs: its journal fills it part way.
describe("a state directory that fills up", function()
  local mnt, mounted, why
  local emu

  setup(function()
    mnt = e2e.state_dir()
    os.execute("mkdir -p " .. mnt)
    local _, uid = sh("id -u")
    if (uid or ""):match("^%s*(%d+)") ~= "0" then
      why = "mounting a small tmpfs needs root (uid " .. tostring(uid):gsub("%s", "") .. ")"
    else
      local ok, _, err = sh("mount -t tmpfs -o size=64k tmpfs " .. env.quote(mnt))
      if ok then
        mounted = true
      else
        why = "mount -t tmpfs failed: " .. err:gsub("%s+$", "")
      end
    end
    if not mounted then io.stderr:write("durability_spec: ", why, "\n") end
  end)

  teardown(function()
    if emu then emu:stop() end
    if mounted then os.execute("umount " .. env.quote(mnt)) end
    os.execute("rmdir " .. env.quote(mnt) .. " 2>/dev/null")
  end)

  local function run(state_dir)
    local args = table.concat({ "migrate.lua --project demo-project --region us-central1",
      "--target-disk-type pd-balanced --type pd-standard,pd-ssd --yes --quiet --qps 1000 --format json",
      "--endpoint", emu.endpoint, "--state-dir", env.quote(state_dir) }, " ")
    local out, err, code = env.pdlua_run(args, { env = { GOOGLE_OAUTH_ACCESS_TOKEN = "test-token" } })
    for _, pat in ipairs { "Sanitizer", "runtime error:" } do
      assert(not err:find(pat, 1, true), "sanitizer report:\n" .. err)
    end
    local ok, rep = pcall(json.decode, out)
    return { code = code, out = out, err = err, report = ok and rep or nil }
  end

  local function statuses(rep, status)
    local names = {}
    for _, d in ipairs(rep and rep.disks or {}) do
      if d.status == status then names[#names + 1] = d.name end
    end
    return names
  end

  it("stops new work, exits 1 saying so, keeps the fleet whole and the journal readable; then finishes", function()
    if not mounted then
      pending(why)
      return
    end
    emu = emu_mod.start { fleet = env.root .. "/examples/fleets/demo.json", latency_scale = 0.001 }
    local before = emu:state()
    local runs = mnt .. "/runs"
    local res = run(runs)
    assert.equal(1, res.code, res.err)
    assert.matches("^migrate%.lua: cannot write the journal " .. esc(runs) .. "/[^ ]+%.journal%.jsonl: "
                   .. "No space left on device; new work was stopped and what was in flight was finished or put "
                   .. "back; .*free space and run the same command again", res.err)
    assert.equal(1, select(2, res.err:gsub("\n", "")), "one line: " .. res.err)
    assert.is_nil(res.out:find("Report:", 1, true))
    assert.is_nil(res.err:find("Report:", 1, true))
    -- What was done is still shown, as not all well.
    assert.is_table(res.report, res.out)
    assert.is_false(res.report.ok)
    assert.matches("No space left on device", res.report.journal_error)
    assert.same({}, glob(runs .. "/*.report.json"))
    assert.same({}, glob(runs .. "/*.tmp*"))
    -- The journal, set aside: whole lines of JSON, but perhaps the last.
    local journals = glob(runs .. "/*.journal.jsonl.broken-*")
    assert.equal(1, #journals, table.concat(glob(runs .. "/*"), " "))
    assert.same({}, glob(runs .. "/*.journal.jsonl"))
    local lines = {}
    for l in read_file(journals[1]):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.is_true(#lines > 10, #lines .. " lines")
    for i, l in ipairs(lines) do
      local ok = pcall(json.decode, l)
      assert.is_true(ok or i == #lines, ("line %d of %d is not JSON: %s"):format(i, #lines, l:sub(1, 80)))
    end
    assert.equal("plan", json.decode(lines[1]).type)
    -- Every disk migrated or untouched, every instance in its power state.
    -- A disk migrated whose cleanup had not started when the journal
    -- filled up says so in its warnings, and is allowed what that leaves:
    -- its original still labelled as being migrated, its snapshot kept.
    local first = statuses(res.report, "migrated")
    local unclean = {}
    for _, d in ipairs(res.report.disks) do
      for _, w in ipairs(d.warnings or {}) do
        if d.status == "migrated" and w:match("^cleanup did not finish") then unclean[d.name] = true end
      end
    end
    local check = invariants.check(before, emu:state(), { target_type = "pd-balanced", migrated = first,
                                                          no_raise = true })
    local left = {}
    for _, v in ipairs(check.violations) do
      local orig = v:match("^original [^/]+/(%S+) is not labelled pdlua%-state=migrated")
      local snap = v:match("^leftover snapshot %S+ %(of ([^)]+)%)$")
      if not unclean[orig or snap or ""] then left[#left + 1] = v end
    end
    assert.same({}, left)
    local planned = {}
    for _, d in ipairs(res.report.disks) do
      if d.status ~= "skipped" then planned[#planned + 1] = d.name end
    end
    assert.is_true(#planned > #first, "the journal filled up only after every disk was done")

    -- Space again: the same command finishes the job.
    assert.is_true(sh("mount -o remount,size=8m " .. env.quote(mnt)))
    res = run(runs)
    assert.equal(0, res.code, res.err .. res.out)
    -- (A disk the first run migrated is skipped by the second, or, if its
    -- cleanup was left, finished and reported migrated again.)
    local all, seen = {}, {}
    for _, list in ipairs { first, statuses(res.report, "migrated") } do
      for _, n in ipairs(list) do
        if not seen[n] then all[#all + 1], seen[n] = n, true end
      end
    end
    table.sort(all)
    table.sort(planned)
    assert.same(planned, all)
    invariants.check(before, emu:state(), { target_type = "pd-balanced", migrated = all })
    assert.is_table(json.decode(read_file(glob(runs .. "/*.report.json")[1])))
  end)
end)
