-- Selection and planning: which disks a run takes, what it does to each
-- instance, and what it refuses before changing anything.
local fx = require "support.fixtures"
local discover = require "workflows.discover"
local plan_mod = require "pdlua.migrate.plan"
local rules = require "pdlua.migrate.rules"

local function build(o, inv)
  inv = inv or fx.fleet()
  o = fx.opts(o)
  local sel = discover.select(inv, o)
  return plan_mod.build(inv, sel, o), sel, inv
end

local function item(plan, name)
  for _, it in ipairs(plan.items) do if it.name == name then return it end end
end

local function names(list, field)
  local out = {}
  for _, x in ipairs(list) do out[#out + 1] = field and x[field] or x end
  table.sort(out)
  return out
end

describe("selection", function()
  it("takes every disk of the zone in disk mode, skipping those already of the target type", function()
    local plan = build { target_type = "hyperdisk-balanced" }
    assert.equal("skipped", item(plan, "already").status)
    assert.matches("already hyperdisk%-balanced", item(plan, "already").reason)
    assert.equal("planned", item(plan, "loose-1").status)
  end)

  it("selects by label, name, exclusion, type and attachment", function()
    local _, sel = build { selector = { labels = { { key = "env", value = "prod" } } } }
    assert.same({ "loose-1", "web-1-data" }, names(sel.disks, "name"))
    _, sel = build { selector = { disks = { "web-1-*" }, exclude = { "*-logs" } } }
    assert.same({ "web-1-boot", "web-1-data" }, names(sel.disks, "name"))
    _, sel = build { selector = { types = { "pd-standard" } } }
    assert.same({ "loose-2", "web-1-logs" }, names(sel.disks, "name"))
    _, sel = build { selector = { attached = false } }
    assert.same({ "already", "loose-1", "loose-2" }, names(sel.disks, "name"))
  end)

  it("skips disks pdlua made or already migrated, and multi-attached disks", function()
    local inv = fx.fleet()
    inv.disks[#inv.disks + 1] = fx.disk("x-pdssd", { labels = { ["pdlua-migrated-from"] = "x" } })
    inv.disks[#inv.disks + 1] = fx.disk("y", { labels = { ["pdlua-state"] = "migrated", ["pdlua-target"] = "pd-ssd" } })
    local shared = fx.disk("shared")
    inv.disks[#inv.disks + 1] = shared
    fx.attach(inv.instances[1], shared, { mode = "READ_ONLY", deviceName = "shared" })
    fx.attach(inv.instances[2], shared, { mode = "READ_ONLY", deviceName = "shared" })
    local plan = build({}, inv)
    assert.matches("made by pdlua from 'x'", item(plan, "x-pdssd").reason)
    assert.matches("already migrated", item(plan, "y").reason)
    assert.matches("attached to 2 instances", item(plan, "shared").reason)
  end)

  it("takes every disk of the chosen instances in instance mode", function()
    local plan, sel = build { instances = { "web-1" } }
    assert.same({ "web-1-boot", "web-1-data", "web-1-logs" }, names(sel.disks, "name"))
    assert.equal(1, #plan.group_order)
    assert.is_true(plan.groups[plan.group_order[1]].stop)
    local _, sel2 = build { instances = { "*" } }
    assert.equal(3, #sel2.instances)
    plan = build { instances = { "nope" } }
    assert.matches("instance 'nope' not found", plan.problems[1])
  end)
end)

describe("plan", function()
  it("groups disks by instance, boot disk first, and stops a running instance once", function()
    local plan = build { selector = { disks = { "web-1-*" } } }
    assert.equal(1, #plan.group_order)
    local g = plan.groups[plan.group_order[1]]
    assert.equal("instance", g.kind)
    assert.equal("instance/us-central1-a/web-1", g.key)
    assert.is_true(g.stop)
    assert.equal("RUNNING", g.status)
    assert.equal("us-central1-a/web-1-boot", g.items[1])
    local boot = item(plan, "web-1-boot")
    assert.same({ deviceName = "web-1-boot", boot = true, mode = "READ_WRITE", autoDelete = true,
                  interface = "SCSI", index = 0 }, boot.attachment)
    assert.equal("web-1-boot-pdssd", boot.new_name)
    assert.matches("^pdlua%-web%-1%-boot%-%x+$", boot.snapshot_name)
  end)

  it("does not stop a running instance for read-only disks, nor a stopped one", function()
    local plan = build { selector = { disks = { "web-1-logs" } } }
    assert.is_false(plan.groups["instance/us-central1-a/web-1"].stop)
    plan = build { selector = { disks = { "batch-1-boot" } } }
    local g = plan.groups["instance/us-central1-a/batch-1"]
    assert.is_false(g.stop)
    assert.equal("TERMINATED", g.status)
  end)

  it("makes an unattached disk a group of its own", function()
    local plan = build { selector = { disks = { "loose-1" } } }
    assert.same({ "disk/us-central1-a/loose-1" }, plan.group_order)
  end)

  it("refuses hyperdisk on a series that cannot take it, suggesting a machine type change", function()
    local plan = build { target_type = "hyperdisk-balanced", selector = { disks = { "web-1-data" } } }
    local it = item(plan, "web-1-data")
    assert.equal("skipped", it.status)
    assert.is_true(it.refused)
    assert.matches("hyperdisk%-balanced disk type cannot be used by n2%-standard%-4", it.reason)
    assert.matches("%-%-machine%-type", it.reason)
    assert.equal(0, #plan.group_order)
  end)

  it("refuses a pd type on a hyperdisk-only series", function()
    local plan = build { target_type = "pd-balanced", selector = { disks = { "new-1-boot" } } }
    assert.matches("Hyperdisk%-only", item(plan, "new-1-boot").reason)
  end)

  it("accepts n2 -> n4 with hyperdisk in instance mode, and refuses n4 with pd", function()
    local plan = build { target_type = "hyperdisk-balanced", instances = { "web-1" },
                         machine_type = "n4-standard-4" }
    local g = plan.groups["instance/us-central1-a/web-1"]
    assert.equal("n4-standard-4", g.target_machine_type)
    assert.equal("n2-standard-4", g.machine_type)
    assert.equal(3, #g.items)
    plan = build { target_type = "pd-ssd", instances = { "web-1" }, machine_type = "n4-standard-4" }
    assert.equal(0, #plan.group_order)
    assert.matches("Hyperdisk%-only", item(plan, "web-1-boot").reason)
  end)

  it("refuses a non-bootable type for a boot disk, sizes out of range and IOPS out of range", function()
    local plan = build { target_type = "hyperdisk-throughput", instances = { "web-1" },
                         machine_type = "n4-standard-4" }
    assert.matches("cannot be a boot disk", item(plan, "web-1-boot").reason)
    assert.matches("at least 2048 GB", item(plan, "web-1-data").reason)
    plan = build { target_type = "hyperdisk-balanced", iops = 200000, selector = { disks = { "loose-1" } } }
    assert.matches("IOPS must be within 3000%-160000", item(plan, "loose-1").reason)
    plan = build { target_type = "hyperdisk-balanced", iops = 60000, selector = { disks = { "loose-1" } } }
    assert.matches("at most 500 IOPS per GB", item(plan, "loose-1").reason)
    plan = build { target_type = "hyperdisk-balanced", iops = 5000, throughput = 300,
                   selector = { disks = { "loose-1" } } }
    assert.equal("planned", item(plan, "loose-1").status)
    assert.equal(5000, item(plan, "loose-1").new_iops)
  end)

  it("carries hyperdisk settings over from a hyperdisk original", function()
    local inv = fx.fleet()
    inv.disks[#inv.disks + 1] = fx.disk("hx", { type = "hyperdisk-balanced", provisionedIops = "4000",
                                                provisionedThroughput = "250" })
    local plan = build({ target_type = "hyperdisk-extreme", selector = { disks = { "hx" } } }, inv)
    local it = item(plan, "hx")
    assert.equal(4000, it.new_iops)
    assert.is_nil(it.new_throughput)   -- extreme takes no throughput
  end)

  it("refuses names that collide with someone else's disk or snapshot", function()
    local inv = fx.fleet()
    inv.disks[#inv.disks + 1] = fx.disk("loose-1-pdssd")
    inv.snapshots[#inv.snapshots + 1] = { name = require("pdlua.migrate.naming").snapshot_name(
      fx.P, fx.Z, "loose-2", inv.disks[2].id, "pd-ssd"), labels = {} }
    local plan = build({ selector = { disks = { "loose-*" } } }, inv)
    assert.matches("already exists", item(plan, "loose-1").reason)
    assert.matches("snapshot named", item(plan, "loose-2").reason)
  end)

  it("recognises its own half-made disk as something to resume, not a collision", function()
    local inv = fx.fleet()
    inv.disks[#inv.disks + 1] = fx.disk("loose-1-pdssd", { labels = { ["pdlua-migrated-from"] = "loose-1" } })
    local plan = build({ selector = { disks = { "loose-1" } } }, inv)
    assert.equal("planned", item(plan, "loose-1").status)
    assert.is_true(item(plan, "loose-1").new_exists)
  end)

  it("remembers a running instance stopped by a killed run from the disks' labels", function()
    local inv = fx.fleet()
    inv.instances[1].status = "TERMINATED"
    for _, d in ipairs(inv.disks) do
      if d.name == "web-1-data" then
        d.labels = { env = "prod", ["pdlua-state"] = "migrating", ["pdlua-target"] = "pd-ssd",
                     ["pdlua-was-running"] = "true" }
      end
    end
    local plan = build({ selector = { disks = { "web-1-data" } } }, inv)
    local g = plan.groups["instance/us-central1-a/web-1"]
    assert.equal("RUNNING", g.status)
    assert.is_true(g.stop)
    assert.same({ env = "prod" }, item(plan, "web-1-data").labels)
  end)

  it("checks quota headroom when the project reports it", function()
    local inv = fx.fleet()
    inv.quotas = { regions = { ["us-central1"] = { SSD_TOTAL_GB = { limit = 150, usage = 100 } } } }
    local plan = build({ selector = { disks = { "loose-1" } } }, inv)
    assert.matches("quota SSD_TOTAL_GB in us%-central1: the new disks need 100 GB, 50 GB are free",
                   plan.problems[1])
  end)

  it("counts hyperdisk volumes against the per-VM limit", function()
    local probs = rules.check_instance("n4-standard-2", (function()
      local t = {}
      for i = 1, 20 do t[i] = { name = "d" .. i, type = "hyperdisk-balanced" } end
      return t
    end)())
    assert.matches("20 hyperdisk volumes exceed the limit of 16", probs[1])
  end)
end)

describe("rules", function()
  it("reads machine series and vCPUs", function()
    assert.equal("n2", rules.machine_series("n2-standard-16"))
    assert.equal("n2d", rules.machine_series("n2d-highmem-8"))
    assert.equal("c4a", rules.machine_series("c4a-standard-4"))
    assert.equal("n1", rules.machine_series("custom-4-8192"))
    assert.equal(16, rules.machine_vcpus("n2-standard-16"))
    assert.equal(4, rules.machine_vcpus("n2-custom-4-8192"))
  end)
end)
