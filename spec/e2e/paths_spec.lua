-- End to end against pdlua-emu: every kind of disk and instance a
-- migration meets, each checked by the invariant checker.
local e2e = require "support.e2e"
local invariants = require "pdlua.invariants"

if not e2e.ready() then
  describe("migrate.lua against the emulator", function()
    pending("needs the engine and the Compute Engine client")
  end)
  return
end

describe("migrate.lua against the emulator", function()
  local emu
  setup(function() emu = e2e.start() end)
  teardown(function() if emu then emu:stop() end end)

  local function load(p)
    emu:load_fleet(e2e.fleet(p))
    return emu:state()
  end

  it("migrates an unattached disk and keeps the original, labelled", function()
    local before = load { disks = { { name = "loose", type = "pd-standard", sizeGb = 50,
                                      labels = { env = "dev" }, description = "scratch" } } }
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "loose" })
    local e = e2e.entry(res.report, "loose")
    assert.equal("loose-pdssd", e.new_disk)
    assert.equal("pd-standard", e.from_type)
    assert.equal("pd-ssd", e.to_type)
    assert.matches("^pdlua%-loose%-%x+$", e.snapshot)
    assert.is_number(e.duration_s)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "loose" } })
    assert.equal("scratch", emu:find("disks", "loose-pdssd").description)
  end)

  it("writes every task event to --events as JSON lines", function()
    load { disks = { { name = "ev" } } }
    local events = os.tmpname()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes --events " .. events)
    assert.equal(0, res.code, res.err)
    local states, n = {}, 0
    for line in io.lines(events) do
      local e = require("pdlua.json").decode(line)
      n = n + 1
      if e.task == "verify:us-central1-a/ev" then states[#states + 1] = e.state end
    end
    os.remove(events)
    assert.is_true(n >= 10)
    assert.same({ "running", "succeeded" }, states)
  end)

  it("swaps an attached data disk and a boot disk of a running instance, stopping it once", function()
    local before = load { instances = { { name = "vm", machineType = "n2-standard-4", disks = {
      { name = "vm-boot", boot = true, autoDelete = true, sizeGb = 20 },
      { name = "vm-data", deviceName = "data", type = "pd-standard", sizeGb = 100, labels = { app = "db" } },
      { name = "vm-logs", deviceName = "logs", type = "pd-standard", interface = "SCSI" },
    } } } }
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "vm-boot", "vm-data", "vm-logs" })
    invariants.check(before, emu:state(), { target_type = "pd-ssd",
                                            migrated = { "vm-boot", "vm-data", "vm-logs" } })
    assert.equal(1, #emu:requests { api = "instances.stop" })
    assert.equal(1, #emu:requests { api = "instances.start" })
    local inst = res.report.instances[1]
    assert.equal("vm", inst.name)
    assert.equal("RUNNING", inst.power_state)
    assert.equal("migrated", inst.status)
  end)

  it("leaves a stopped instance stopped", function()
    local before = load { instances = { { name = "cold", status = "TERMINATED", disks = {
      { name = "cold-boot", boot = true, sizeGb = 20 }, { name = "cold-data", deviceName = "d1" },
    } } } }
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "cold-boot", "cold-data" } })
    assert.equal(0, #emu:requests { api = "instances.start" })
    assert.equal(0, #emu:requests { api = "instances.stop" })
  end)

  it("swaps a read-only data disk of a running instance without stopping it", function()
    local before = load { instances = { { name = "ro", disks = {
      { name = "ro-boot", boot = true, sizeGb = 20 },
      { name = "ro-ref", deviceName = "ref", mode = "READ_ONLY" },
    } } } }
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --disks ro-ref --yes")
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "ro-ref" } })
    assert.equal(0, #emu:requests { api = "instances.stop" })
  end)

  it("gives the new disks the originals' names with --retain-name", function()
    local before = load {
      instances = { { name = "keep", disks = { { name = "keep-boot", boot = true, sizeGb = 20 },
                                               { name = "keep-data", deviceName = "data", labels = { a = "b" } } } } },
      disks = { { name = "keep-loose", type = "pd-standard" } },
    }
    local res = e2e.run(emu, "--target-disk-type pd-ssd --retain-name --yes")
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "keep-boot", "keep-data", "keep-loose" })
    invariants.check(before, emu:state(), { target_type = "pd-ssd", retain_name = true,
                                            migrated = { "keep-boot", "keep-data", "keep-loose" } })
  end)

  it("deletes the originals with --delete-original and keeps snapshots with --keep-snapshots", function()
    local before = load {
      instances = { { name = "del", disks = { { name = "del-boot", boot = true, sizeGb = 20 } } } },
      disks = { { name = "del-loose" } },
    }
    local res = e2e.run(emu, "--target-disk-type pd-ssd --delete-original --keep-snapshots --yes")
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", delete_original = true,
                                            keep_snapshots = true, migrated = { "del-boot", "del-loose" } })
  end)

  it("carries hyperdisk settings, or sets the asked ones", function()
    local before = load { disks = {
      { name = "hd", type = "hyperdisk-balanced", sizeGb = 100, provisionedIops = 6000,
        provisionedThroughput = 400 },
      { name = "plain", type = "pd-ssd", sizeGb = 100 },
    } }
    local res = e2e.run(emu, "--target-disk-type hyperdisk-extreme --disks hd --yes")
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "hyperdisk-extreme", migrated = { "hd" },
                                            new_fields = { hd = { provisionedIops = "6000" } } })
    local mid = emu:state()
    res = e2e.run(emu, "--target-disk-type hyperdisk-balanced --disks plain --iops 8000 --throughput 500 --yes")
    assert.equal(0, res.code, res.err)
    invariants.check(mid, emu:state(), { target_type = "hyperdisk-balanced", migrated = { "plain" },
                                         new_fields = { plain = { provisionedIops = "8000",
                                                                  provisionedThroughput = "500" } } })
  end)

  it("moves an n2 to n4 with hyperdisk in instance mode, stopping and starting it once", function()
    local before = load { instances = {
      { name = "app", machineType = "n2-standard-4", disks = {
        { name = "app-boot", boot = true, sizeGb = 20 },
        { name = "app-data", deviceName = "data", type = "pd-ssd", sizeGb = 100 },
        { name = "app-logs", deviceName = "logs", type = "pd-standard", sizeGb = 50 },
      } },
      { name = "other", disks = { { name = "other-boot", boot = true, sizeGb = 20 } } },
    } }
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type hyperdisk-balanced --instances app --machine-type n4-standard-4 --yes")
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "app-boot", "app-data", "app-logs" })
    invariants.check(before, emu:state(), { target_type = "hyperdisk-balanced",
                                            migrated = { "app-boot", "app-data", "app-logs" },
                                            machine_types = { app = "n4-standard-4" } })
    assert.equal(1, #emu:requests { api = "instances.stop" })
    assert.equal(1, #emu:requests { api = "instances.start" })
    assert.equal(1, #emu:requests { api = "instances.setMachineType" })
    assert.equal("n4-standard-4", res.report.instances[1].to_machine_type)
  end)

  it("refuses incompatible combinations in a dry run, and changes nothing", function()
    local before = load { instances = {
      { name = "n2vm", machineType = "n2-standard-4", disks = {
        { name = "n2vm-boot", boot = true, sizeGb = 20 }, { name = "n2vm-data", deviceName = "data" } } },
      { name = "n4vm", machineType = "n4-standard-2", disks = {
        { name = "n4vm-boot", boot = true, type = "hyperdisk-balanced", sizeGb = 20 } } },
    }, disks = { { name = "small", sizeGb = 10 }, { name = "small-hdb" } } }
    emu:clear_requests()
    -- hyperdisk on n2 (disk mode), a taken name, throughput out of range
    local res = e2e.run(emu, "--target-disk-type hyperdisk-balanced --dry-run --plan json --throughput 2000")
    assert.equal(1, res.code, res.err)
    local by = {}
    for _, d in ipairs(res.report.disks) do by[d.name] = d end
    assert.is_true(by["n2vm-data"].would_fail)
    assert.matches("cannot be used by n2%-standard%-4", by["n2vm-data"].reason)
    assert.is_true(by["small"].would_fail)
    assert.matches("throughput", by["small"].reason)
    -- a pd type on an n4; a non-bootable type for a boot disk
    res = e2e.run(emu, "--target-disk-type pd-ssd --instances n4vm --dry-run --plan json")
    assert.equal(1, res.code)
    assert.matches("Hyperdisk%-only", res.report.disks[1].reason)
    res = e2e.run(emu, "--target-disk-type hyperdisk-extreme --instances n2vm --dry-run --plan json")
    assert.equal(1, res.code)
    local boot
    for _, d in ipairs(res.report.disks) do if d.name == "n2vm-boot" then boot = d end end
    assert.matches("cannot be a boot disk", boot.reason)
    -- a dry run that would succeed exits 0
    res = e2e.run(emu, "--target-disk-type pd-ssd --disks small --dry-run", { text = true })
    assert.equal(0, res.code, res.err)
    assert.matches("small%-pdssd", res.out)
    -- the task graph, for Graphviz
    res = e2e.run(emu, "--target-disk-type pd-ssd --instances n2vm --dry-run --plan dot", { text = true })
    assert.equal(0, res.code, res.err)
    assert.matches("digraph", res.out)
    assert.matches("stop:instance/us%-central1%-a/n2vm", res.out)
    for _, r in ipairs(emu:requests()) do
      assert.is_true(r.method == "GET", r.method .. " " .. r.path)
    end
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = {} })
  end)

  it("asks before changing anything, and does nothing without a yes", function()
    local before = load { disks = { { name = "ask" } } }
    local f = os.tmpname()
    local h = io.open(f, "w") h:write("no\n") h:close()
    local res = e2e.run(emu, "--target-disk-type pd-ssd", { stdin = f, text = true })
    assert.equal(1, res.code)
    assert.matches("Type 'yes'", res.err)
    assert.matches("nothing was changed", res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = {} })
    h = io.open(f, "w") h:write("yes\n") h:close()
    res = e2e.run(emu, "--target-disk-type pd-ssd", { stdin = f })
    os.remove(f)
    assert.equal(0, res.code, res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "ask" } })
  end)

  it("skips what is already done when the same command runs again, making no change", function()
    local before = load { instances = { { name = "again", disks = { { name = "again-boot", boot = true } } } },
                          disks = { { name = "again-loose" } } }
    local dir = e2e.state_dir()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    local after1 = emu:state()
    emu:clear_requests()
    res = e2e.run(emu, "--target-disk-type pd-ssd --yes", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "again-boot", "again-loose" })
    for _, r in ipairs(emu:requests()) do
      assert.is_true(r.method == "GET", r.method .. " " .. r.path)
    end
    -- Without the journal, discovery sees the labels and skips them too.
    res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(0, res.code, res.err)
    for _, d in ipairs(res.report.disks) do assert.equal("skipped", d.status) end
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "again-boot", "again-loose" } })
    assert.same(after1.disks, emu:state().disks)
  end)
end)
