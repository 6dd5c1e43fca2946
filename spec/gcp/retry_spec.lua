-- Retries against pdlua-emu with injected faults: which answers are
-- retried (and how often), which are not, requestId reuse across a lost
-- response, Retry-After, quota errors, and the deadline bounding it all.
local fx = require "support.gcp"

describe("gcp retries", function()
  local emu, c

  setup(function()
    emu = fx.start()
    c = fx.client(emu)
  end)

  teardown(function()
    emu:stop()
  end)

  before_each(function()
    emu:reset()
    c:reset_stats()
  end)

  for _, status in ipairs {429, 500, 502, 503, 504} do
    it("retries " .. status .. " and succeeds", function()
      emu:faults{once = {{method = "disks.get", action = "error", status = status}}}
      assert.equal("spare", c.disks:get{disk = "spare"}.name)
      local log = fx.requests(emu, "disks.get")
      assert.equal(2, #log)
      assert.equal(status, log[1].status)
      assert.equal(200, log[2].status)
      local m = c:stats().methods["disks.get"]
      assert.equal(1, m.retries)
      assert.equal(status == 429 and 1 or 0, m.throttled)
    end)
  end

  it("retries 403 rateLimitExceeded and userRateLimitExceeded", function()
    emu:faults{once = {{method = "disks.get", action = "error", status = 403, reason = "rateLimitExceeded"},
                       {method = "disks.get", action = "error", status = 403, reason = "userRateLimitExceeded"}}}
    assert.equal("spare", c.disks:get{disk = "spare"}.name)
    assert.equal(3, #fx.requests(emu, "disks.get"))
    assert.equal(2, c:stats().methods["disks.get"].rate_limited)
  end)

  it("retries a connection reset", function()
    emu:faults{once = {{method = "disks.get", action = "reset", count = 2}}}
    assert.equal("spare", c.disks:get{disk = "spare"}.name)
    local log = fx.requests(emu, "disks.get")
    assert.equal(3, #log)
    assert.equal("reset", log[1].fault)
    assert.equal("reset", log[2].fault)
    assert.equal(200, log[3].status)
  end)

  it("retries a hung request after its own timeout", function()
    emu:faults{hang_seconds = 5, once = {{method = "disks.get", action = "hang", seconds = 5}}}
    local quick = fx.client(emu, {timeout = 0.3})
    local t0 = pd.now()
    assert.equal("spare", quick.disks:get{disk = "spare"}.name)
    assert.is_true(pd.now() - t0 < 4)
    assert.equal(1, quick:stats().methods["disks.get"].retries)
  end)

  for _, case in ipairs {{400, "invalid"}, {401, "required"}, {403, "forbidden"}, {404, "notFound"},
                         {409, "alreadyExists"}, {412, "conditionNotMet"}} do
    it("does not retry " .. case[1] .. " " .. case[2], function()
      emu:faults{once = {{method = "disks.get", action = "error", status = case[1], reason = case[2]}}}
      local err = fx.error_of(c.disks.get, c.disks, {disk = "spare"})
      assert.equal(case[1], err.code)
      assert.equal(case[2], err.reason)
      assert.equal(1, err.attempts)
      assert.equal(1, #fx.requests(emu, "disks.get"))
    end)
  end

  it("gives up after max_attempts with a retryable error", function()
    emu:faults{errors = {["disks.get"] = {["503"] = 1.0}}}
    local c3 = fx.client(emu, {max_attempts = 3})
    local err = fx.error_of(c3.disks.get, c3.disks, {disk = "spare"})
    assert.equal(503, err.code)
    assert.is_true(err.retryable)
    assert.equal(3, err.attempts)
    assert.matches("after 3 attempts", err.message)
    assert.equal(3, #fx.requests(emu, "disks.get"))
  end)

  it("a mutation retried after a lost response creates exactly one resource", function()
    emu:faults{once = {{method = "disks.insert", name = "once-only", action = "drop_response"}}}
    local op = c.disks:insert{body = {name = "once-only", sizeGb = "10"}}
    c:wait(op)
    local log = fx.requests(emu, "disks.insert")
    assert.equal(2, #log)
    assert.equal("drop_response", log[1].fault)   -- applied, answer dropped
    assert.equal(200, log[2].status)
    assert.is_string(log[1].query.requestId)
    assert.equal(log[1].query.requestId, log[2].query.requestId)
    assert.equal(log[1].query.requestId, op.clientOperationId)
    local n = 0
    for _, d in ipairs(emu:state().disks) do
      if d.name == "once-only" then n = n + 1 end
    end
    assert.equal(1, n)
  end)

  it("each call gets its own requestId; a given one is used as it is", function()
    c:wait(c.disks:insert{body = {name = "r1", sizeGb = "10"}})
    c:wait(c.disks:insert{body = {name = "r2", sizeGb = "10"}})
    local log = fx.requests(emu, "disks.insert")
    assert.are_not.equal(log[1].query.requestId, log[2].query.requestId)
    local id = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    local op1 = c.disks:insert{body = {name = "r3", sizeGb = "10"}, requestId = id}
    local op2 = c.disks:insert{body = {name = "r3", sizeGb = "10"}, requestId = id}
    assert.equal(op1.name, op2.name)            -- the same operation, not a 409
  end)

  it("waits out a per-minute quota (403 rateLimitExceeded) and counts it", function()
    emu:quota{read_per_minute = 4, window_seconds = 1}
    local patient = fx.client(emu, {backoff_initial = 0.1, backoff_max = 0.4, max_attempts = 20})
    for _ = 1, 10 do patient.disks:get{disk = "spare"} end
    emu:quota{read_per_minute = 0}
    local m = patient:stats().methods["disks.get"]
    assert.equal(10, m.calls)
    assert.is_true(m.rate_limited > 0)
    local denied = 0
    for _, r in ipairs(fx.requests(emu, "disks.get")) do
      if r.status == 403 then denied = denied + 1 end
    end
    assert.equal(m.rate_limited, denied)
  end)

  it("retries the concurrent-operations quota until an operation finishes", function()
    emu:quota{concurrent_operations = 1}
    local ops = {}
    for i = 1, 3 do ops[i] = c.disks:insert{body = {name = "cq-" .. i, sizeGb = "10"}} end
    for i = 1, 3 do c:wait(ops[i]) end
    emu:quota{concurrent_operations = 500}
    local denied = 0
    for _, r in ipairs(fx.requests(emu, "disks.insert")) do
      if r.status == 403 then denied = denied + 1 end
    end
    assert.is_true(denied > 0)
    assert.is_true(c:stats().methods["disks.insert"].retries >= denied)
  end)

  it("never retries past the deadline: the last error comes back in time", function()
    emu:faults{errors = {["disks.get"] = {["503"] = 1.0}}}
    local slow = fx.client(emu, {backoff_initial = 0.2, backoff_max = 0.2, max_attempts = 50})
    local res = gcp.core._run_threads(1, function()
      return slow.disks:get{disk = "spare"}
    end, {timeout = 0.6})
    local err = res[1].error
    assert.is_false(res[1].ok)
    assert.equal(503, err.code)
    assert.is_true(err.attempts < 50)
    assert.is_true(#fx.requests(emu, "disks.get") < 50)
  end)
end)
