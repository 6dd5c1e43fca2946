-- pdlua.migrate.gce: the idioms every step shares — a mutation that
-- carries the operation it left running when cut short, and the
-- create-then-settle loop of the snapshot and the new disk.
local gce = require "pdlua.migrate.gce"

local function err(reason, code, retryable)
  return pd.error { reason = reason, code = code, message = reason, retryable = retryable or false }
end

-- A resource the loop reads: a list of states it goes through, one per get.
local function script(states)
  local i = 0
  return function()
    i = math.min(i + 1, #states)
    local s = states[i]
    return s and { status = s } or nil
  end
end

describe("gce.make", function()
  it("creates at once on a fresh run", function()
    local created = 0
    gce.make { fresh = true, create = function() created = created + 1 end,
               get = function() error("not read") end, check = function() end, busy = {},
               ready = function() end, clear = function() end, what = "x" }
    assert.equal(1, created)
  end)

  it("takes a resource an earlier run made, once it is READY", function()
    local created, got = 0, nil
    gce.make { fresh = true, create = function()
                 created = created + 1
                 error(err("alreadyExists", 409), 0)
               end,
               get = script { "CREATING", "CREATING", "READY" }, busy = { CREATING = true },
               check = function() end, ready = function(r) got = r.status end,
               clear = function() error("not cleared") end, what = "x" }
    assert.equal("READY", got)
    assert.equal(2, created)   -- the fresh try, then the join of its operation
  end)

  it("clears a broken one and makes it anew", function()
    local cleared, created = 0, 0
    gce.make { fresh = false, create = function() created = created + 1 end,
               get = script { "FAILED" }, busy = {}, check = function() end,
               ready = function() error("not ready") end,
               clear = function() cleared = cleared + 1 end, what = "x" }
    assert.equal(1, cleared)
    assert.equal(1, created)
  end)

  it("refuses someone else's resource, and says when one never settles", function()
    local ok, e = pcall(gce.make, { fresh = false, create = function() end,
      get = script { "READY" }, busy = {}, ready = function() end, clear = function() end,
      check = function() gce.fail("alreadyExists", "not ours") end, what = "x" })
    assert.is_false(ok)
    assert.equal("alreadyExists", e.reason)
    ok, e = pcall(gce.make, { fresh = false,
      create = function() error(err("alreadyExists", 409), 0) end,
      get = function() return nil end, busy = {}, check = function() end,
      ready = function() end, clear = function() end, what = "disk 'd'" })
    assert.is_false(ok)
    assert.equal("resourceNotReady", e.reason)
    assert.is_true(e.retryable)
    assert.matches("disk 'd' did not settle", e.message)
  end)

  it("raises any other error of the create", function()
    local ok, e = pcall(gce.make, { fresh = true, create = function() error(err("forbidden", 403), 0) end,
      get = script {}, busy = {}, check = function() end, ready = function() end,
      clear = function() end, what = "x" })
    assert.is_false(ok)
    assert.equal("forbidden", e.reason)
  end)
end)

describe("gce.mutate", function()
  it("puts the operation a cut-short wait left running on its error", function()
    local op = { name = "operation-1" }
    local coll = { insert = function() return op end }
    local client = { wait = function() error(err("cancelled"), 0) end }
    local ok, e = pcall(gce.mutate, client, coll, "insert", {})
    assert.is_false(ok)
    assert.equal(op, e.operation_left)
    client.wait = function() error(err("backendError", 503, true), 0) end
    ok, e = pcall(gce.mutate, client, coll, "insert", {})
    assert.is_nil(e.operation_left)   -- a failed operation is not left running
    client.wait = function(_, o) return { status = "DONE", name = o.name } end
    assert.equal("DONE", gce.mutate(client, coll, "insert", {}).status)
  end)
end)
