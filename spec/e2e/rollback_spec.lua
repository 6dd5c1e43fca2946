-- An operation failing at each step, one at a time: the instance (or disk)
-- it hit is put back exactly as it was, the rest of the run goes on.
local e2e = require "support.e2e"
local invariants = require "pdlua.invariants"

if not e2e.ready() then
  describe("rollback", function() pending("needs the engine and the Compute Engine client") end)
  return
end

-- Two n2 instances moving to n4 with hyperdisk: "app" gets the fault,
-- "bystander" must still migrate.
local FLEET = {
  instances = {
    { name = "app", machineType = "n2-standard-4", disks = {
      { name = "app-boot", boot = true, autoDelete = true, sizeGb = 20, labels = { role = "boot" } },
      { name = "app-data", deviceName = "data", type = "pd-ssd", sizeGb = 50, labels = { role = "data" } },
    } },
    { name = "bystander", machineType = "n2-standard-2", disks = {
      { name = "bystander-boot", boot = true, sizeGb = 20 },
    } },
  },
}

local NONRETRYABLE = { code = "QUOTA_EXCEEDED", message = "Quota exceeded (injected).", http = 403 }

local function once(method, name, extra)
  local f = { method = method, name = name, action = "fail_operation" }
  for k, v in pairs(NONRETRYABLE) do f[k] = v end
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

describe("rollback", function()
  local emu
  setup(function() emu = e2e.start(e2e.fleet(FLEET)) end)
  teardown(function() if emu then emu:stop() end end)

  local cases = {
    { step = "label", fault = once("disks.setLabels", "app-data") },
    { step = "stop", fault = once("instances.stop", "app") },
    { step = "snapshot", fault = once("disks.createSnapshot", "app-data") },
    { step = "create", fault = once("disks.insert", "app-boot-hdb") },
    { step = "detach", fault = once("instances.detachDisk", "app") },
    { step = "set machine type", fault = once("instances.setMachineType", "app") },
    { step = "attach", fault = once("instances.attachDisk", "app") },
    { step = "start", fault = once("instances.start", "app") },
    { step = "verify", fault = { method = "disks.get", name = "app-data-hdb", action = "error", status = 400,
                                 reason = "invalid", message = "injected" } },
  }
  for _, c in ipairs(cases) do
    it("puts the instance back when " .. c.step .. " fails", function()
      emu:load_fleet(e2e.fleet(FLEET))
      local before = emu:state()
      emu:faults { once = { c.fault } }
      local res = e2e.run(emu, "--target-disk-type hyperdisk-balanced --instances app,bystander " ..
                               "--machine-type n4-standard-4 --yes")
      assert.equal(1, res.code, res.err)
      e2e.expect_status(res, "rolled_back", { "app-boot", "app-data" })
      e2e.expect_status(res, "migrated", { "bystander-boot" })
      local e = e2e.entry(res.report, "app-data")
      assert.matches(c.step, e.error, 1, true)
      invariants.check(before, emu:state(), {
        target_type = "hyperdisk-balanced", migrated = { "bystander-boot" },
        rolled_back = { "app-boot", "app-data" }, machine_types = { bystander = "n4-standard-4" },
      })
      assert.equal(1, res.report.metrics.rollbacks)
      local used = emu:faults().once or {}
      assert.equal(0, #used, "the fault was not hit")
    end)
  end

  it("recreates the original from its snapshot when a step after its deletion fails (--retain-name)", function()
    local fleet = {
      instances = { { name = "keep", disks = { { name = "keep-boot", boot = true, sizeGb = 20 },
                                               { name = "keep-data", deviceName = "data", sizeGb = 30,
                                                 labels = { x = "y" }, description = "d" } } } },
      disks = { { name = "keep-loose", type = "pd-standard" } },
    }
    for _, fault in ipairs {
      once("disks.insert", "keep-data"),          -- creating the replacement
      once("instances.attachDisk", "keep"),       -- attaching it
      once("disks.delete", "keep-boot"),          -- deleting the original
    } do
      emu:load_fleet(e2e.fleet(fleet))
      local before = emu:state()
      emu:faults { once = { fault } }
      local res = e2e.run(emu, "--target-disk-type pd-ssd --retain-name --yes")
      assert.equal(1, res.code, res.err)
      e2e.expect_status(res, "rolled_back", { "keep-boot", "keep-data" })
      e2e.expect_status(res, "migrated", { "keep-loose" })
      invariants.check(before, emu:state(), { target_type = "pd-ssd", retain_name = true,
                                              migrated = { "keep-loose" } })
    end
  end)

  it("says what to type when putting back fails, and finishes the job on the next run", function()
    emu:load_fleet(e2e.fleet { instances = { { name = "vm", disks = { { name = "vm-boot", boot = true,
                                                                        sizeGb = 20 } } } } })
    local before = emu:state()
    -- The new boot disk's attach fails, then so does every attempt to put
    -- the original back.
    emu:faults { once = {
      once("instances.attachDisk", "vm"),
      { method = "instances.attachDisk", name = "vm", action = "error", status = 400, reason = "invalid",
        message = "injected", count = 5 },
    } }
    local dir = e2e.state_dir()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(1, res.code, res.err)
    e2e.expect_status(res, "failed", { "vm-boot" })
    local e = e2e.entry(res.report, "vm-boot")
    assert.matches("run the same command again", e.action, 1, true)
    assert.matches("gcloud compute instances attach-disk vm --zone us-central1-a --project e2e-project --disk vm-boot --device-name vm-boot --mode rw --boot", e.action, 1, true)
    assert.matches("gcloud compute instances start vm", e.action, 1, true)
    -- Left stopped rather than started without its boot disk.
    assert.equal("TERMINATED", emu:find("instances", "vm").status)
    emu:faults {}
    res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(1, res.code, res.err)
    e2e.expect_status(res, "rolled_back", { "vm-boot" })
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = {} })
  end)

  it("puts back an unattached disk whose create fails, and an unattached disk alone", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "u1" }, { name = "u2" } } })
    local before = emu:state()
    emu:faults { once = { once("disks.insert", "u1-pdssd") } }
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(1, res.code, res.err)
    e2e.expect_status(res, "rolled_back", { "u1" })
    e2e.expect_status(res, "migrated", { "u2" })
    assert.matches("create", e2e.entry(res.report, "u1").error)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "u2" } })
  end)

  it("keeps a verified migration when only its cleanup fails, and finishes it on the next run", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "c1" } } })
    local before = emu:state()
    emu:faults { once = { { method = "snapshots.delete", action = "fail_operation", code = "QUOTA_EXCEEDED" } } }
    local dir = e2e.state_dir()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "c1" })
    assert.matches("cleanup did not finish", e2e.entry(res.report, "c1").warnings[1])
    -- The new disk is in place; the snapshot and the original's final label
    -- wait for the next run (the label is what marks the disk done).
    local mid = emu:state()
    assert.equal("c1", emu:find("disks", "c1-pdssd").labels["pdlua-migrated-from"])
    local left = 0
    for _, s in ipairs(mid.snapshots) do if s.name:match("^pdlua%-c1%-") then left = left + 1 end end
    assert.equal(1, left)
    res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "c1" } })
  end)
end)
