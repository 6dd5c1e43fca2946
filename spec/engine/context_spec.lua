-- The typed shared context (src/engine/context.c).
local json = require "pdlua.json"

local function raises(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return err
end

describe("pd.context", function()
  local function ctx()
    return pd.context{
      name = "string", done = "integer", ratio = "number", ok = "boolean",
      info = "table", results = "list<table>", migrated = "map<string>",
      sizes = "map<list<integer>>",
    }
  end

  it("starts with counters at 0, flags false, containers empty", function()
    local c = ctx()
    assert.equal(0, c:get("done"))
    assert.equal(0, c:get("ratio"))
    assert.is_false(c:get("ok"))
    assert.same({}, c:get("results"))
    assert.same({}, c:get("migrated"))
    assert.is_nil(c:get("name"))
    assert.same({name = "string", done = "integer", ratio = "number", ok = "boolean",
                 info = "table", results = "list<table>", migrated = "map<string>",
                 sizes = "map<list<integer>>"}, c:fields())
  end)

  it("stores values of the declared types", function()
    local c = ctx()
    c:set("name", "fleet")
    c:set("done", 3)
    c:set("ratio", 0.5)
    c:set("ok", true)
    c:set("info", {any = {thing = 1}})
    c:set("results", {{disk = "a"}, {disk = "b"}})
    c:set("sizes", {d1 = {10, 20}})
    assert.equal("fleet", c:get("name"))
    assert.equal(3, c:get("done"))
    assert.same({d1 = {10, 20}}, c:get("sizes"))
    c:set("name", nil)
    assert.is_nil(c:get("name"))
  end)

  it("names the field, the expected and the given type on a wrong write", function()
    local c = ctx()
    local err = raises(function() c:set("done", "three") end)
    assert.is_true(pd.is_error(err))
    assert.equal("invalidContext", err.reason)
    assert.equal("done", err.field)
    assert.equal("context field 'done': expected integer, got string", err.message)
    assert.equal("context field 'done': expected integer, got number 1.5",
                 raises(function() c:set("done", 1.5) end).message)
    assert.equal("context field 'ok': expected boolean, got number",
                 raises(function() c:set("ok", 1) end).message)
    assert.equal("context field 'results': expected list<table>, got string at [2]",
                 raises(function() c:set("results", {{}, "x"}) end).message)
    assert.equal("context field 'results': expected list<table>, got table with key x",
                 raises(function() c:set("results", {x = {}}) end).message)
    assert.equal("context field 'migrated': expected map<string>, got number at [\"d1\"]",
                 raises(function() c:set("migrated", {d1 = 5}) end).message)
    assert.equal("context field 'sizes': expected map<list<integer>>, got string at [2] at [\"d\"]",
                 raises(function() c:set("sizes", {d = {1, "2"}}) end).message)
  end)

  it("accepts an integral float as an integer", function()
    local c = ctx()
    c:set("done", 4.0)
    assert.equal(4, c:get("done"))
    assert.equal("integer", math.type(c:get("done")))
  end)

  it("rejects unknown fields and unknown types", function()
    local c = ctx()
    local err = raises(function() c:set("nope", 1) end)
    assert.equal("unknown context field 'nope'", err.message)
    assert.matches("unknown context field 'x'", raises(function() c:get("x") end).message)
    assert.matches("context field 'a': unknown type 'strng'",
                   raises(function() pd.context{a = "strng"} end).message)
    assert.matches("unknown type 'list<>'",
                   raises(function() pd.context{a = "list<>"} end).message)
    assert.matches("unknown type 'map<string'",
                   raises(function() pd.context{a = "map<string"} end).message)
  end)

  it("puts into maps, appends to lists and counts", function()
    local c = ctx()
    c:put("migrated", "disk-1", "pd-balanced")
    c:put("migrated", "disk-2", "hyperdisk-balanced")
    assert.same({["disk-1"] = "pd-balanced", ["disk-2"] = "hyperdisk-balanced"},
                c:get("migrated"))
    assert.equal(1, c:append("results", {disk = "a"}))
    assert.equal(2, c:append("results", {disk = "b"}))
    assert.equal(1, c:incr("done"))
    assert.equal(6, c:incr("done", 5))
    assert.equal(0.25, c:incr("ratio", 0.25))
    assert.equal("context field 'migrated': expected map<string>, got number at [\"d\"]",
                 raises(function() c:put("migrated", "d", 1) end).message)
    assert.matches("expected map<string>, got number key",
                   raises(function() c:put("migrated", 1, "x") end).message)
    assert.equal("context field 'results': expected list<table>, got string at [3]",
                 raises(function() c:append("results", "x") end).message)
    assert.matches("ctx:append needs a list", raises(function() c:append("done", 1) end).message)
    assert.matches("ctx:incr needs an integer or a number",
                   raises(function() c:incr("name") end).message)
    assert.matches("expected integer, got number 0%.5",
                   raises(function() c:incr("done", 0.5) end).message)
  end)

  it("takes checked initial values", function()
    local c = pd.context({n = "integer", tags = "list<string>"}, {n = 5, tags = {"a"}})
    assert.equal(5, c:get("n"))
    assert.same({"a"}, c:get("tags"))
    assert.matches("expected integer, got string",
                   raises(function() pd.context({n = "integer"}, {n = "x"}) end).message)
    assert.matches("unknown context field 'm'",
                   raises(function() pd.context({n = "integer"}, {m = 1}) end).message)
  end)

  it("snapshots to a plain, JSON-serialisable deep copy", function()
    local c = ctx()
    c:set("name", "fleet")
    c:append("results", {disk = "a", sizes = {1, 2}})
    c:put("migrated", "d1", "pd-ssd")
    local snap = c:snapshot()
    assert.is_nil(getmetatable(snap))
    snap.results[1].disk = "changed"
    assert.equal("a", c:get("results")[1].disk)
    local doc = json.decode(json.encode(snap))
    assert.equal("fleet", doc.name)
    assert.equal("pd-ssd", doc.migrated.d1)
    assert.same({1, 2}, doc.results[1].sizes)
  end)

  it("a wrong write inside a task fails that task with the message", function()
    local c = pd.context{n = "integer"}
    local wf = pd.workflow("ctx")
    wf:task{id = "writer", run = function(_, x) x:set("n", "many") end}
    local res = wf:run{context = c, progress = false}
    assert.equal("failed", res.tasks.writer.state)
    assert.equal("invalidContext", res.tasks.writer.error.reason)
    assert.matches("context field 'n': expected integer, got string",
                   res.tasks.writer.error.message)
  end)
end)
