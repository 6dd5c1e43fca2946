-- A migration under a storm of 429/503 answers, killed with -9 at many
-- points and resumed, and interrupted with Ctrl-C: it converges, never
-- duplicates anything, and the invariants hold after every run.
local e2e = require "support.e2e"
local invariants = require "pdlua.invariants"

if not e2e.ready() then
  describe("resilience", function() pending("needs the engine and the Compute Engine client") end)
  return
end

local FLEET = {
  instances = {
    { name = "r1", machineType = "n2-standard-4", disks = {
      { name = "r1-boot", boot = true, autoDelete = true, sizeGb = 20 },
      { name = "r1-data", deviceName = "data", type = "pd-standard", sizeGb = 40, labels = { app = "x" } } } },
    { name = "r2", machineType = "e2-standard-2", disks = {
      { name = "r2-boot", boot = true, sizeGb = 20 },
      { name = "r2-data", deviceName = "data", sizeGb = 30 } } },
    { name = "r3", machineType = "n2-standard-2", status = "TERMINATED", disks = {
      { name = "r3-boot", boot = true, sizeGb = 20 } } },
  },
  disks = { { name = "u1", type = "pd-standard", sizeGb = 50 }, { name = "u2", sizeGb = 10 },
            { name = "u3", sizeGb = 25, labels = { keep = "me" } } },
}
local ALL = { "r1-boot", "r1-data", "r2-boot", "r2-data", "r3-boot", "u1", "u2", "u3" }
local ARGS = "--target-disk-type pd-ssd --yes"

describe("resilience", function()
  local emu
  setup(function() emu = e2e.start(e2e.fleet(FLEET)) end)
  teardown(function() if emu then emu:stop() end end)

  it("migrates everything through a 10% storm of 429 and 503 answers", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local before = emu:state()
    emu:faults { errors = {
      ["*"] = { ["429"] = 0.05, ["503"] = 0.05 },
      ["disks.insert"] = { ["429"] = 0.05, ["503"] = 0.05, drop_response = 0.1 },
      ["disks.createSnapshot"] = { ["503"] = 0.1, drop_response = 0.1 },
    } }
    local res = e2e.run(emu, ARGS)
    emu:faults {}
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", ALL)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
    local faulted = 0
    for _, r in ipairs(emu:requests()) do if r.fault then faulted = faulted + 1 end end
    assert.is_true(faulted > 5, "the storm hit " .. faulted .. " requests")
    assert.is_true(res.report.metrics.http_retries > 0)
  end)

  it("converges after kill -9 at many points, resumed or simply run again", function()
    local points = { 1, 4, 9, 16, 25, 37, 52, 70, 90, 115, 135 }
    for i, at in ipairs(points) do
      emu:load_fleet(e2e.fleet(FLEET))
      local before = emu:state()
      local dir = e2e.state_dir()
      local p = e2e.spawn(emu, ARGS, dir)
      e2e.wait_journal(dir, at, p.pid)
      assert.is_true(e2e.kill(p.pid, "KILL"))
      -- Half the time --resume, half the time the same command again.
      local res = e2e.run(emu, ARGS .. (i % 2 == 0 and " --resume" or ""), { state_dir = dir })
      assert.equal(0, res.code, ("killed at line %d: %s"):format(at, res.err))
      e2e.expect_status(res, "migrated", ALL)
      invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
      -- And once more: nothing left to do, nothing changes.
      emu:clear_requests()
      res = e2e.run(emu, ARGS, { state_dir = dir })
      assert.equal(0, res.code, res.err)
      for _, r in ipairs(emu:requests()) do assert.equal("GET", r.method, r.path) end
    end
  end)

  it("converges without its journal too, from the labels on the disks, once told to take over", function()
    for _, at in ipairs { 30, 60, 100 } do
      emu:load_fleet(e2e.fleet(FLEET))
      local before = emu:state()
      local dir = e2e.state_dir()
      local p = e2e.spawn(emu, ARGS, dir)
      e2e.wait_journal(dir, at, p.pid)
      assert.is_true(e2e.kill(p.pid, "KILL"))
      os.execute("rm -rf " .. dir)
      local res = e2e.take_over(emu, ARGS)
      assert.equal(0, res.code, ("killed at line %d: %s"):format(at, res.err))
      invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
    end
  end)

  it("converges without its journal with --retain-name, from what the snapshots carry", function()
    local args = ARGS .. " --retain-name"
    local ghosts = 0
    for _, at in ipairs { 45, 60, 75, 90, 105, 120 } do
      emu:load_fleet(e2e.fleet(FLEET))
      local before = emu:state()
      local dir = e2e.state_dir()
      local p = e2e.spawn(emu, args, dir)
      e2e.wait_journal(dir, at, p.pid)
      assert.is_true(e2e.kill(p.pid, "KILL"))
      os.execute("rm -rf " .. dir)
      -- Originals the killed run had deleted and not yet replaced, or
      -- replaced and not yet attached: only their snapshots tell.
      local mid = emu:state()
      for _, name in ipairs(ALL) do
        local d = emu:find("disks", name)
        if not d or (d.labels and d.labels["pdlua-migrated-from"] and not (d.users and #d.users > 0)
                     and name:match("^r")) then
          ghosts = ghosts + 1
        end
      end
      assert.is_table(mid.disks)
      local res = e2e.take_over(emu, args)
      assert.equal(0, res.code, ("killed at line %d: %s %s"):format(at, res.err, res.out))
      invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL, retain_name = true })
    end
    assert.is_true(ghosts > 0, "no kill point left an original only in its snapshot")
  end)

  it("converges after a kill -9 while a failed instance is being put back", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local before = emu:state()
    emu:faults { once = { { method = "instances.attachDisk", name = "r1", action = "fail_operation",
                            code = "QUOTA_EXCEEDED" } } }
    local dir = e2e.state_dir()
    local p = e2e.spawn(emu, ARGS, dir)
    -- Kill as soon as the journal shows an undo under way.
    local deadline = pd.now() + 60
    local killed = false
    while pd.now() < deadline and e2e.alive(p.pid) do
      local f = io.popen("grep -l rolling_back " .. dir .. "/*.journal.jsonl 2>/dev/null")
      local hit = f:read("a") ~= ""
      f:close()
      if hit then
        killed = e2e.kill(p.pid, "KILL")
        break
      end
      pd.sleep(0.002)
    end
    assert.is_true(killed, "the run ended before its undo could be interrupted")
    local res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(1, res.code, res.err)
    e2e.expect_status(res, "rolled_back", { "r1-boot", "r1-data" })
    local rest = { "r2-boot", "r2-data", "r3-boot", "u1", "u2", "u3" }
    e2e.expect_status(res, "migrated", rest)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = rest })
    -- --retry-failed tries the rolled back instance again.
    res = e2e.run(emu, ARGS .. " --retry-failed", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
  end)

  it("refuses to run twice at once on the same journal", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "solo" } } })
    emu:faults { delay = { ["disks.createSnapshot"] = 1.0 } }
    local dir = e2e.state_dir()
    local p = e2e.spawn(emu, ARGS, dir)
    e2e.wait_journal(dir, 3, p.pid)
    local res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(2, res.code, res.err)
    assert.matches("another run of this command is in progress", res.err)
    assert.equal(0, e2e.exit_code(p))
    emu:faults {}
  end)

  it("stops on Ctrl-C with exit code 130, puts back what was in flight, and continues when run again", function()
    emu:load_fleet(e2e.fleet(FLEET))
    local before = emu:state()
    local dir = e2e.state_dir()
    local p = e2e.spawn(emu, ARGS, dir)
    e2e.wait_journal(dir, 25, p.pid)
    os.execute("kill -INT " .. p.pid)
    local code = e2e.exit_code(p)
    local f = io.open(p.err) local err = f:read("a") f:close()
    assert.equal(130, code, err)
    assert.matches("run the same command again to continue", err)
    -- No instance is left stopped, nothing is half made.
    local mid = emu:state()
    for _, i in ipairs(mid.instances) do
      local was
      for _, b in ipairs(before.instances) do if b.name == i.name then was = b.status end end
      assert.equal(was, i.status, i.name .. ": " .. err)
    end
    local res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err .. "\n" .. (res.out or ""))
    e2e.expect_status(res, "migrated", ALL)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
  end)
end)
