-- What a run's end says about each group, from the engine's result: a
-- group undone because the run stopped before its next step is an
-- interruption (run again), one undone after a failure is an outcome.
local fx = require "support.fixtures"
local discover = require "workflows.discover"
local plan_mod = require "pdlua.migrate.plan"
local run_mod = require "pdlua.migrate.run"
local migrate = require "workflows.migrate"

if type(pd) ~= "table" or type(pd.workflow) ~= "function" then
  describe("migration outcomes", function() pending("needs the engine") end)
  return
end

-- A run of the fixture fleet whose engine result gives the tasks of the
-- instance web-1 the states `states(id)` returns (others: succeeded).
local function outcome(states)
  local inv = fx.fleet()
  local o = fx.opts()
  local plan = plan_mod.build(inv, discover.select(inv, o), o)
  local r = run_mod.new { client = {}, plan = plan }
  migrate.workflow(r, "outcomes")
  local res = { tasks = {} }
  local key
  for k in pairs(r.group_tasks) do
    if k:match("web%-1$") then key = k end
  end
  assert(key, "no group for web-1")
  for k, ids in pairs(r.group_tasks) do
    for _, id in ipairs(ids) do
      res.tasks[id] = k == key and states(id) or { state = "succeeded", started = 0, finished = 1 }
    end
  end
  return migrate.outcomes(r, res), plan.groups[key]
end

describe("migration outcomes", function()
  it("a group undone because the run stopped before its next step is interrupted, to run again", function()
    local out, g = outcome(function(id)
      if id:match("^begin:") then return { state = "rolled_back" } end
      if id:match("^label:") then return { state = "rolled_back" } end
      return { state = "skipped", reason = id:match("^stop:") and "stopped" or "dependency" }
    end)
    for _, k in ipairs(g.items) do
      assert.equal("rolled_back", out[k].status)
      assert.is_true(out[k].interrupted)
      assert.matches("the run stopped", out[k].error)
    end
  end)

  it("a group undone after a step failed keeps that as its outcome", function()
    local out, g = outcome(function(id)
      if id:match("^begin:") then return { state = "rolled_back" } end
      if id:match("^stop:") then return { state = "failed", error = "boom", finished = 1 } end
      return { state = "skipped", reason = "dependency" }
    end)
    for _, k in ipairs(g.items) do
      assert.equal("rolled_back", out[k].status)
      assert.is_nil(out[k].interrupted)
      assert.matches("stop of instance .* failed: boom", out[k].error)
    end
  end)
end)
