-- pdlua.migrate.run: the state one migration run shares between its
-- steps — its claim id, its typed context, its request ids, and what an
-- earlier run of the plan left.
local run_mod = require "pdlua.migrate.run"

local function plan(run_id)
  return { project = "p", target_type = "pd-ssd", run_id = run_id, options = {},
           items = { { key = "z/d", name = "d", zone = "z", group = "disk/z/d" } },
           groups = { ["disk/z/d"] = { key = "disk/z/d", kind = "disk", zone = "z", items = { "z/d" } } },
           group_order = { "disk/z/d" } }
end

describe("a migration run", function()
  it("claims under its plan's run id, or a new random one", function()
    assert.equal("0123456789ab", run_mod.new { client = {}, plan = plan("0123456789ab") }.run_id)
    local a, b = run_mod.new { client = {}, plan = plan() }, run_mod.new { client = {}, plan = plan() }
    assert.matches("^%x+$", a.run_id)
    assert.equal(12, #a.run_id)
    assert.are_not.equal(a.run_id, b.run_id)
    assert.are_not.equal(a.nonce, b.nonce)
  end)

  it("keeps facts, warnings and finished steps in its typed context, from an earlier run too", function()
    local r = run_mod.new { client = {}, plan = plan("r"), resumed = {
      facts = { ["z/d"] = { snapshot_id = "7" } }, tasks = { ["snapshot:z/d"] = { state = "succeeded" } },
      groups = {}, running_ops = {} } }
    assert.equal("7", r:get_fact("z/d", "snapshot_id"))
    r:fact("z/d", "new_disk_id", "9")
    assert.same({ snapshot_id = "7", new_disk_id = "9" }, r.ctx:get("facts")["z/d"])
    r:warn("z/d", "kept")
    assert.same({ "kept" }, r.ctx:get("warnings")["z/d"])
    assert.is_true(r:succeeded("snapshot:z/d"))
    assert.is_true(r:already_done("snapshot:z/d"))
    assert.is_false(r:succeeded("create:z/d"))
    -- The schema holds: a fact set is a table, a warning list too.
    assert.has_error(function() r.ctx:put("facts", "z/d", "not a table") end)
    -- A resumed run reads before it acts.
    assert.is_false(r:fresh(r:item("z/d"), { attempt = 1 }))
  end)

  it("makes request ids that rejoin within a run and differ across runs and attempts", function()
    local r = run_mod.new { client = {}, plan = plan("r") }
    local other = run_mod.new { client = {}, plan = plan("r") }
    local h1, h2 = { nonce = r.nonce, attempt = 1 }, { nonce = r.nonce, attempt = 2 }
    local id = r:request_id("disk/z/d", "create", "z", "d", h1)
    assert.equal(id, r:request_id("disk/z/d", "create", "z", "d", h1))
    assert.are_not.equal(id, r:request_id("disk/z/d", "create", "z", "d", h2))
    assert.are_not.equal(id, other:request_id("disk/z/d", "create", "z", "d", { nonce = other.nonce, attempt = 1 }))
    assert.are_not.equal(id, r:request_id("disk/z/d", "snapshot", "z", "d", h1))
    -- The sweep that puts a group back gets new ids on each attempt.
    local g = r:group("disk/z/d")
    assert.are_not.equal(r:sweep_handle(g, { attempt = 1 }).attempt, r:sweep_handle(g, { attempt = 2 }).attempt)
    assert.is_true(r:fresh(r:item("z/d"), h1))
    assert.is_false(r:fresh(r:item("z/d"), h2))
  end)

  it("adds a group's steps in its rollback group unless a step names another", function()
    local r = run_mod.new { client = {}, plan = plan("r") }
    local wf = { tasks = {} }   -- records what is added
    function wf:task(spec) self.tasks[spec.id] = spec end
    local ids = {}
    local add = r:adder(wf, "disk/z/d", ids)
    local step = { step = "x", run = function() end }
    assert.equal("a", add { id = "a", step = step })
    add { id = "b", step = step, deps = { "a" }, group = "cleanup/z/d" }
    assert.same({ "a", "b" }, ids)
    assert.equal("disk/z/d", wf.tasks.a.group)
    assert.equal("cleanup/z/d", wf.tasks.b.group)
  end)
end)
