-- The example scripts and `make demo` run against the emulator, so the
-- README's first command and the examples keep working.
local e2e = require "support.e2e"
local env = require "support.env"
local invariants = require "pdlua.invariants"

if not e2e.ready() then
  describe("examples", function() pending("needs the engine and the Compute Engine client") end)
  return
end

describe("examples", function()
  local emu
  setup(function() emu = e2e.start() end)
  teardown(function() if emu then emu:stop() end end)

  local function run(script, args)
    return env.pdlua_run(env.quote(env.root .. "/examples/" .. script) .. " " .. args,
                         { env = { GOOGLE_OAUTH_ACCESS_TOKEN = "test-token" } })
  end

  it("migrate_labelled.lua moves the labelled disks only", function()
    emu:load_fleet(e2e.fleet {
      instances = { { name = "dev-vm", disks = { { name = "dev-vm-boot", boot = true, type = "pd-standard",
                                                   labels = { env = "dev" } } } } },
      disks = { { name = "dev-1", type = "pd-ssd", labels = { env = "dev" } },
                { name = "prod-1", type = "pd-ssd", labels = { env = "prod" } } },
    })
    local before = emu:state()
    local out, err, code = run("migrate_labelled.lua", ("%s %s env=dev pd-balanced %s"):format(
      e2e.PROJECT, e2e.ZONE, emu.endpoint))
    assert.equal(0, code, err)
    assert.matches("Totals: 2 migrated", out)
    invariants.check(before, emu:state(), { target_type = "pd-balanced", migrated = { "dev-vm-boot", "dev-1" } })
  end)

  it("upgrade_to_n4.lua moves an n2 to n4 with its disks, and refuses what n4 cannot carry", function()
    emu:load_fleet(e2e.fleet { instances = {
      { name = "old", machineType = "n2-standard-4", disks = {
        { name = "old-boot", boot = true, sizeGb = 20 }, { name = "old-data", deviceName = "data", type = "pd-ssd" } } },
      { name = "twin", machineType = "n2-standard-4", disks = {
        { name = "twin-boot", boot = true, sizeGb = 20 }, { source = "shared", deviceName = "shared", mode = "READ_ONLY" } } },
      { name = "twin2", machineType = "n2-standard-4", disks = {
        { name = "twin2-boot", boot = true, sizeGb = 20 }, { source = "shared", deviceName = "shared", mode = "READ_ONLY" } } },
    }, disks = { { name = "shared" } } })
    local before = emu:state()
    local _, err, code = run("upgrade_to_n4.lua", ("%s %s n4-standard-4 twin --endpoint %s"):format(
      e2e.PROJECT, e2e.ZONE, emu.endpoint))
    assert.equal(1, code)
    assert.matches("not starting", err)
    invariants.check(before, emu:state(), { target_type = "hyperdisk-balanced", migrated = {} })
    local out
    out, err, code = run("upgrade_to_n4.lua", ("%s %s n4-standard-4 old --endpoint %s"):format(
      e2e.PROJECT, e2e.ZONE, emu.endpoint))
    assert.equal(0, code, err .. out)
    invariants.check(before, emu:state(), { target_type = "hyperdisk-balanced",
                                            migrated = { "old-boot", "old-data" },
                                            machine_types = { old = "n4-standard-4" } })
  end)

  it("make demo's script migrates the demo fleet and checks it", function()
    local out, err, code = env.run(("PDLUA_BIN=%s PDLUA_EMU=%s %s %s --latency-scale 0.001 --quiet"):format(
      env.quote(env.pdlua), env.quote(env.emu), env.quote(env.pdlua),
      env.quote(env.root .. "/examples/demo.lua")))
    assert.equal(0, code, err .. out)
    assert.matches("Totals: 30 migrated", out)
    assert.matches("disks moved to pd%-balanced", out)
  end)
end)
