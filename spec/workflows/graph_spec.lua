-- The task graph of a plan, checked on a recording workflow: order of steps
-- within an instance, pools, rollback groups, one stop and one start.
local fx = require "support.fixtures"
local discover = require "workflows.discover"
local plan_mod = require "pdlua.migrate.plan"
local run_mod = require "pdlua.migrate.run"
local instances_flow = require "workflows.instances"
local disks_flow = require "workflows.disks"

local function recorder()
  local wf = { tasks = {}, order = {} }
  function wf:task(spec)
    assert(not self.tasks[spec.id], "duplicate id " .. spec.id)
    self.tasks[spec.id] = spec
    self.order[#self.order + 1] = spec.id
  end
  return wf
end

local function graph(o)
  local inv = fx.fleet()
  o = fx.opts(o)
  local plan = plan_mod.build(inv, discover.select(inv, o), o)
  local r = run_mod.new { client = {}, plan = plan }
  local wf = recorder()
  for _, key in ipairs(plan.group_order) do
    local g = plan.groups[key]
    if g.kind == "instance" then instances_flow.add(r, wf, g) else disks_flow.add(r, wf, g) end
  end
  return wf, plan
end

-- Whether `a` must finish before `b` starts (a is an ancestor of b).
local function before(wf, a, b)
  local seen, stack = {}, { b }
  while #stack > 0 do
    local id = table.remove(stack)
    for _, d in ipairs(wf.tasks[id].deps or {}) do
      if d == a then return true end
      if not seen[d] then
        seen[d] = true
        stack[#stack + 1] = d
      end
    end
  end
  return false
end

local function ids(wf, pattern)
  local out = {}
  for _, id in ipairs(wf.order) do if id:match(pattern) then out[#out + 1] = id end end
  return out
end

local function all_before(wf, pa, pb)
  local as, bs = ids(wf, pa), ids(wf, pb)
  assert.is_true(#as > 0, pa)
  assert.is_true(#bs > 0, pb)
  for _, a in ipairs(as) do
    for _, b in ipairs(bs) do
      assert.is_true(before(wf, a, b), a .. " before " .. b)
    end
  end
end

describe("instance chain", function()
  it("orders stop, snapshots, creates, detaches, machine type, attaches, start, verifies, cleanups", function()
    local wf = graph { target_type = "hyperdisk-balanced", instances = { "web-1" },
                       machine_type = "n4-standard-4" }
    for _, id in ipairs(wf.order) do
      for _, d in ipairs(wf.tasks[id].deps or {}) do assert.is_not_nil(wf.tasks[d], d) end
    end
    assert.equal(1, #ids(wf, "^stop:"))
    assert.equal(1, #ids(wf, "^start:"))
    -- The claims (in begin) come before any change.
    all_before(wf, "^begin:", "^stop:")
    all_before(wf, "^stop:", "^snapshot:")
    all_before(wf, "^create:", "^detach:")
    all_before(wf, "^detach:", "^set_machine_type:")
    all_before(wf, "^set_machine_type:", "^attach:")
    all_before(wf, "^attach:", "^start:")
    all_before(wf, "^start:", "^verify:")
    all_before(wf, "^verify:", "^cleanup:")
    -- The instance's claim is released last, in its own rollback group.
    assert.equal("cleanup/instance/us-central1-a/web-1", wf.tasks["cleanup:instance/us-central1-a/web-1"].group)
    -- Disks of one instance do not wait for each other before the detaches.
    assert.is_false(before(wf, "snapshot:us-central1-a/web-1-boot", "create:us-central1-a/web-1-data"))
  end)

  it("puts steps in pools and in the instance's rollback group, cleanup apart", function()
    local wf = graph { selector = { disks = { "web-1-*" } } }
    local K = "instance/us-central1-a/web-1"
    for _, id in ipairs(wf.order) do
      local t = wf.tasks[id]
      if id:match("^cleanup:") then
        assert.equal("cleanup/" .. id:match(":(.*)$"), t.group)
      else
        assert.equal(K, t.group, id)
      end
      local pool = ({ snapshot = "snapshots", create = "disk_creates", stop = "power",
                      start = "power" })[id:match("^([%w_]+):")]
      assert.equal(pool, t.pool, id)
      assert.is_function(t.run)
    end
    assert.is_function(wf.tasks["begin:" .. K].rollback)
    assert.is_nil(wf.tasks["verify:us-central1-a/web-1-data"].rollback)
    assert.is_nil(wf.tasks["cleanup:us-central1-a/web-1-data"].rollback)
  end)

  it("with --retain-name, deletes each original only after every snapshot and its detach", function()
    local wf = graph { selector = { disks = { "web-1-*" } }, retain_name = true }
    all_before(wf, "^snapshot:", "^detach:")
    for _, id in ipairs(ids(wf, "^delete_original:")) do
      local k = id:match(":(.*)$")
      assert.is_true(before(wf, "detach:" .. k, id))
      assert.is_true(before(wf, id, "create:" .. k))
      assert.is_true(before(wf, "create:" .. k, "attach:" .. k))
    end
  end)

  it("neither stops nor starts an instance found stopped", function()
    local wf = graph { selector = { disks = { "batch-1-boot" } } }
    assert.equal(0, #ids(wf, "^stop:"))
    assert.equal(0, #ids(wf, "^start:"))
    all_before(wf, "^detach:", "^attach:")
  end)

  it("changes only the machine type of an instance with nothing to move", function()
    local wf = graph { target_type = "hyperdisk-balanced", instances = { "new-1" },
                       machine_type = "n4-standard-8" }
    assert.same({ "begin:instance/us-central1-a/new-1", "stop:instance/us-central1-a/new-1",
                  "set_machine_type:instance/us-central1-a/new-1", "start:instance/us-central1-a/new-1",
                  "cleanup:instance/us-central1-a/new-1" },
                wf.order)
    all_before(wf, "^stop:", "^set_machine_type:")
    all_before(wf, "^set_machine_type:", "^start:")
  end)
end)

describe("unattached disk chain", function()
  it("is snapshot, create, verify, cleanup, in its own group", function()
    local wf = graph { selector = { disks = { "loose-1" } } }
    assert.same({ "begin:disk/us-central1-a/loose-1", "snapshot:us-central1-a/loose-1",
                  "create:us-central1-a/loose-1", "verify:us-central1-a/loose-1",
                  "cleanup:us-central1-a/loose-1" }, wf.order)
    all_before(wf, "^snapshot:", "^create:")
    all_before(wf, "^create:", "^verify:")
    assert.equal("disk/us-central1-a/loose-1", wf.tasks["create:us-central1-a/loose-1"].group)
  end)

  it("with --retain-name deletes the original between snapshot and create", function()
    local wf = graph { selector = { disks = { "loose-1" } }, retain_name = true }
    all_before(wf, "^snapshot:", "^delete_original:")
    all_before(wf, "^delete_original:", "^create:")
  end)
end)
