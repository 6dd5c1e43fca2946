-- Waiting for operations: long-polling operations.wait (no sleep-polling),
-- and stopping a blocked wait promptly on cancel, on the task's deadline,
-- on the wait's own timeout, and on SIGINT.
local env = require "support.env"
local fx = require "support.gcp"

describe("gcp operation waiting", function()
  local emu, c

  setup(function()
    -- at this scale a disk delete takes ~0.3 s and a wait long-polls 6 s
    emu = fx.start{latency_scale = 0.05}
    c = fx.client(emu)
  end)

  teardown(function()
    emu:stop()
  end)

  before_each(function()
    emu:reset()
  end)

  it("long-polls: one operations.wait request per wait, not a polling loop", function()
    local op = c.disks:delete{disk = "spare"}
    assert.are_not.equal("DONE", op.status)
    emu:clear_requests()
    local done = c:wait(op)
    assert.equal("DONE", done.status)
    assert.equal(1, #fx.requests(emu, "zoneOperations.wait"))
    assert.equal(0, #fx.requests(emu, "zoneOperations.get"))
  end)

  local function long_op()
    emu:faults{latency = {["*"] = 10000}}    -- an hour at this scale
    return c.disks:delete{disk = "spare"}
  end

  it("a cancelled wait returns within 100 ms", function()
    local op = long_op()
    local res, cancelled_at = gcp.core._run_threads(4, function() return c:wait(op) end,
                                                     {cancel_after = 0.3})
    for i = 1, 4 do
      assert.is_false(res[i].ok)
      assert.equal("cancelled", res[i].error.reason)
      assert.is_true(res[i].finished - cancelled_at < 0.1,
                     ("thread %d took %.3f s"):format(i, res[i].finished - cancelled_at))
    end
  end)

  it("a wait stops at the task's deadline with reason timeout", function()
    local op = long_op()
    local t0 = pd.now()
    local res = gcp.core._run_threads(2, function() return c:wait(op) end, {timeout = 0.3})
    for i = 1, 2 do
      assert.equal("timeout", res[i].error.reason)
      assert.is_false(res[i].error.retryable)
      assert.is_true(res[i].finished - t0 >= 0.3)
      assert.is_true(res[i].finished - t0 < 0.3 + 0.1 * 5)   -- generous under sanitizers
    end
  end)

  it("c:wait honours its own timeout", function()
    local op = long_op()
    local t0 = pd.now()
    local err = fx.error_of(c.wait, c, op, {timeout = 0.2})
    assert.equal("timeout", err.reason)
    assert.is_true(pd.now() - t0 < 0.2 + 0.5)
  end)

  it("SIGINT stops a script blocked in c:wait at once", function()
    local op = long_op()
    local dir = os.tmpname()
    local script = dir .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write(([[
      local c = gcp.client{project = %q, zone = %q, endpoint = %q, credentials = {access_token = "t"}}
      local op = c.zone_operations:get{operation = %q}
      io.stdout:write("waiting\n") io.stdout:flush()
      local ok, err = pcall(c.wait, c, op)
      io.stdout:write(("%%s %%.6f\n"):format(err.reason, pd.now())) io.stdout:flush()
    ]]):format(emu.project, fx.zone, emu.endpoint, op.name))
    f:close()
    os.execute(("%s %s >%s 2>&1 </dev/null & echo $! >%s"):format(env.quote(env.pdlua),
      env.quote(script), env.quote(dir .. ".out"), env.quote(dir .. ".pid")))
    local pidf = assert(io.open(dir .. ".pid"))
    local pid = pidf:read("l")
    pidf:close()
    local out = ""
    for _ = 1, 400 do
      pd.sleep(0.025)
      local o = io.open(dir .. ".out")
      out = o and o:read("a") or ""
      if o then o:close() end
      if out:find("waiting") then break end
    end
    assert.matches("waiting", out)
    pd.sleep(0.2)     -- well inside the wait request
    local sent = pd.now()
    os.execute("kill -INT " .. pid)
    local reason, at
    for _ = 1, 400 do
      pd.sleep(0.025)
      local o = io.open(dir .. ".out")
      out = o and o:read("a") or ""
      if o then o:close() end
      reason, at = out:match("\n(%a+) ([%d%.]+)\n")
      if reason then break end
    end
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    os.remove(script) os.remove(dir .. ".out") os.remove(dir .. ".pid") os.remove(dir)
    assert.equal("cancelled", reason, out)
    assert.is_true(tonumber(at) - sent < 0.1, ("took %.3f s"):format(tonumber(at) - sent))
  end)
end)

describe("gcp operation waiting across long-polls", function()
  it("loops on operations.wait until DONE, one request per long-poll", function()
    -- long-polls last 120 s x 0.002 = 0.24 s; the delete is made to last ~1.2 s
    local emu = fx.start{latency_scale = 0.002}
    local c = fx.client(emu)
    emu:faults{latency = {delete = 100}}
    local op = c.disks:delete{disk = "spare"}
    emu:clear_requests()
    local t0 = pd.now()
    assert.equal("DONE", c:wait(op).status)
    local took = pd.now() - t0
    local waits = #fx.requests(emu, "zoneOperations.wait")
    emu:stop()
    assert.is_true(took > 0.5)
    assert.is_true(waits >= 2, "waits: " .. waits)
    assert.is_true(waits <= math.ceil(took / 0.24) + 2, "waits: " .. waits)
  end)
end)
