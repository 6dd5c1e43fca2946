-- The task graph (src/engine/graph.c through wf:task, wf:order, wf:levels,
-- wf:dot): ids, dependencies, validation errors that name the culprit.
local h = require "support.engine"

local function noop() end

local function raises(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return err
end

describe("workflow graph", function()
  it("orders tasks dependencies first, ties in the order they were added", function()
    local wf = pd.workflow("g")
    wf:task{id = "c", deps = {"a", "b"}, run = noop}
    wf:task{id = "a", run = noop}
    wf:task{id = "b", deps = "a", run = noop}
    wf:task{id = "d", run = noop}
    assert.same({"a", "d", "b", "c"}, wf:order())
    assert.equal(4, #wf)
    assert.equal("g", wf.name)
  end)

  it("groups tasks by dependency level", function()
    local wf = pd.workflow("g")
    wf:task{id = "snap", run = noop}
    wf:task{id = "label", run = noop}
    wf:task{id = "create", deps = {"snap"}, run = noop}
    wf:task{id = "swap", deps = {"create", "label"}, run = noop}
    wf:task{id = "cleanup", deps = {"swap", "snap"}, run = noop}
    assert.same({{"snap", "label"}, {"create"}, {"swap"}, {"cleanup"}}, wf:levels())
  end)

  it("ignores a dependency listed twice", function()
    local wf = pd.workflow("g")
    wf:task{id = "a", run = noop}
    wf:task{id = "b", deps = {"a", "a"}, run = noop}
    assert.same({{"a"}, {"b"}}, wf:levels())
    assert.equal(1, select(2, wf:dot():gsub("%->", "")))
  end)

  it("writes Graphviz with an edge from each dependency to its task", function()
    local wf = pd.workflow("disk \"d1\"")
    wf:task{id = "snapshot:d1", run = noop}
    wf:task{id = "create:d1", deps = {"snapshot:d1"}, run = noop}
    local dot = wf:dot()
    assert.matches('^digraph "disk \\"d1\\"" {', dot)
    assert.truthy(dot:find('"snapshot:d1" -> "create:d1";', 1, true))
    assert.matches("}\n$", dot)
  end)

  it("reports the critical path's weight", function()
    local wf = pd.workflow("g")
    wf:task{id = "a", weight = 2, run = noop}
    wf:task{id = "b", weight = 5, deps = {"a"}, run = noop}
    wf:task{id = "c", weight = 1, deps = {"a"}, run = noop}
    assert.equal(7, wf:critical_path())
  end)

  it("rejects a duplicate id, naming it", function()
    local wf = pd.workflow("g")
    wf:task{id = "a", run = noop}
    local err = raises(function() wf:task{id = "a", run = noop} end)
    assert.is_true(pd.is_error(err))
    assert.equal("invalidWorkflow", err.reason)
    assert.equal(2, err.exit_code)
    assert.matches("duplicate task id 'a'", err.message)
  end)

  it("names an unknown dependency and the task that wants it", function()
    local wf = pd.workflow("g")
    wf:task{id = "a", deps = {"nope"}, run = noop}
    local err = raises(function() wf:order() end)
    assert.matches("task 'a' depends on unknown task 'nope'", err.message)
    err = raises(function() h.run(wf) end)
    assert.matches("unknown task 'nope'", err.message)
    assert.equal(2, err.exit_code)
  end)

  it("names the whole cycle, starting at its first task", function()
    local wf = pd.workflow("g")
    wf:task{id = "x", run = noop}
    wf:task{id = "a", deps = {"c", "x"}, run = noop}
    wf:task{id = "b", deps = {"a"}, run = noop}
    wf:task{id = "c", deps = {"b"}, run = noop}
    wf:task{id = "after", deps = {"c"}, run = noop}
    local err = raises(function() wf:levels() end)
    assert.matches("dependency cycle: a %-> c %-> b %-> a", err.message)
  end)

  it("reports a task that depends on itself as a cycle", function()
    local wf = pd.workflow("g")
    wf:task{id = "self", deps = {"self"}, run = noop}
    local err = raises(function() wf:dot() end)
    assert.matches("dependency cycle: self %-> self", err.message)
  end)

  it("starts nothing when the graph is invalid", function()
    local ran = false
    local wf = pd.workflow("g")
    wf:task{id = "ok", run = function() ran = true end}
    wf:task{id = "a", deps = {"b"}, run = noop}
    wf:task{id = "b", deps = {"a"}, run = noop}
    raises(function() h.run(wf) end)
    assert.is_false(ran)
  end)

  it("checks task specs: id, run, unknown fields, types", function()
    local wf = pd.workflow("g")
    assert.matches("needs an id", raises(function() wf:task{run = noop} end).message)
    assert.matches("'run' must be a function",
                   raises(function() wf:task{id = "a"} end).message)
    assert.matches("task 'a': unknown field 'dpes'",
                   raises(function() wf:task{id = "a", run = noop, dpes = {}} end).message)
    assert.matches("'timeout' must be a number",
                   raises(function() wf:task{id = "a", run = noop, timeout = "1"} end).message)
    assert.matches("'retries' must be an integer",
                   raises(function() wf:task{id = "a", run = noop, retries = -1} end).message)
    assert.matches("deps%[2%] must be a task id",
                   raises(function() wf:task{id = "a", run = noop, deps = {"x", 3}} end).message)
    assert.equal(0, #wf)
  end)

  it("checks run options", function()
    local wf = pd.workflow("g")
    wf:task{id = "a", run = noop}
    assert.matches("unknown option 'max_paralel'",
                   raises(function() wf:run{max_paralel = 2} end).message)
    assert.matches("'engine' must be one of \"pool\", \"levels\", \"sequential\", not fast",
                   raises(function() wf:run{engine = "fast"} end).message)
    assert.matches("'max_parallel' must be an integer",
                   raises(function() wf:run{max_parallel = 0} end).message)
    assert.matches("capacities >= 1",
                   raises(function() wf:run{pools = {x = 0}} end).message)
  end)

  it("returns the id from wf:task so it can be used in deps", function()
    local wf = pd.workflow("g")
    local a = wf:task{id = "a", run = noop}
    wf:task{id = "b", deps = {a}, run = noop}
    assert.same({"a", "b"}, wf:order())
  end)

  it("runs an empty workflow", function()
    local res = h.run(pd.workflow("empty"))
    assert.is_true(res.ok)
    assert.equal(0, res.total)
  end)
end)
