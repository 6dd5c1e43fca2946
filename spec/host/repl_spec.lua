-- pdlua.repl: compiling input, completion, and a whole session on a pipe.
local repl = require "pdlua.repl"
local env = require "support.env"

describe("repl.compile", function()
  it("treats an expression as a value to print", function()
    local fn = assert(repl.compile("1 + 2"))
    assert.equal(3, fn())
  end)

  it("runs statements", function()
    local fn = assert(repl.compile("local x = 2; return x * 3"))
    assert.equal(6, fn())
  end)

  it("says when a chunk is incomplete", function()
    local fn, err, incomplete = repl.compile("for i = 1, 3 do")
    assert.is_nil(fn)
    assert.is_true(incomplete)
    assert.matches("<eof>", err)
  end)

  it("says when a chunk is wrong", function()
    local fn, _, incomplete = repl.compile("x = = 1")
    assert.is_nil(fn)
    assert.is_false(incomplete)
  end)
end)

describe("repl.complete", function()
  local e = {pd = pd, alpha = 1, alpine = 2, beta = {gamma = 1, gone = 2}}
  local obj = setmetatable({field = 1}, {__index = {method = function() end, other = 3}})
  e.obj = obj

  it("completes globals", function()
    assert.same({"alpha", "alpine"}, repl.complete("alp", e))
  end)

  it("completes table fields", function()
    assert.same({"beta.gamma", "beta.gone"}, repl.complete("beta.g", e))
  end)

  it("completes methods through __index after a colon", function()
    assert.same({"obj:method"}, repl.complete("obj:", e))
  end)

  it("completes pd's functions", function()
    local got = repl.complete("pd.sl", e)
    assert.same({"pd.sleep"}, got)
  end)

  it("returns nothing for unknown bases", function()
    assert.same({}, repl.complete("nope.x", e))
  end)
end)

describe("the REPL on a pipe", function()
  it("prints values, continues incomplete chunks and reports errors", function()
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write("x = 20\nfunction add(a,\nb) return a + b end\nadd(x, 22)\nerror('boom')\n{a = 1}\n")
    f:close()
    local out, err, code = env.pdlua_run("-i", {stdin = input, env = {HOME = os.tmpname()}})
    os.remove(input)
    assert.equal(0, code)
    assert.truthy(out:find("42\n", 1, true), out)
    assert.truthy(out:find("{\n  a = 1,\n}", 1, true), out)
    assert.matches("stdin:1: boom", err)
  end)
end)
