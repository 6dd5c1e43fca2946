-- The client inside the engine (pd.workflow): tasks on worker threads
-- share one client; a task's timeout aborts a long c:wait; wf:cancel()
-- aborts it too; the client's retryable errors make the engine retry.
local fx = require "support.gcp"

describe("gcp in workflows", function()
  local emu, c

  setup(function()
    emu = fx.start{latency_scale = 0.05}
    c = fx.client(emu)
  end)

  teardown(function()
    emu:stop()
  end)

  before_each(function()
    emu:reset()
  end)

  local function long_op()
    emu:faults{latency = {["*"] = 10000}}
    return c.disks:delete{disk = "spare"}
  end

  it("tasks on many workers share one client", function()
    local wf = pd.workflow("gets")
    for i = 1, 24 do
      wf:task{id = "get-" .. i, run = function()
        for _ = 1, 5 do assert(c.disks:get{disk = "vm-1-data"}.name == "vm-1-data") end
      end}
    end
    c:reset_stats()
    local res = wf:run{max_parallel = 8}
    assert.is_true(res.ok)
    assert.equal(24, res.counts.succeeded)
    assert.equal(120, c:stats().methods["disks.get"].calls)
    assert.is_true(c:stats().connections <= 8)
  end)

  it("a task's timeout aborts its long c:wait promptly", function()
    local op = long_op()
    local wf = pd.workflow("timeout")
    wf:task{id = "wait", timeout = 0.3, run = function() c:wait(op) end}
    local t0 = pd.now()
    local res = wf:run{}
    local took = pd.now() - t0
    local t = res.tasks.wait
    assert.equal("timed_out", t.state)
    assert.equal("timeout", t.error.reason)
    assert.is_true(took < 0.3 + 0.1 * 5, ("run took %.3f s"):format(took))   -- generous under sanitizers
  end)

  it("wf:cancel() aborts a task blocked in c:wait", function()
    local op = long_op()
    local wf = pd.workflow("cancel")
    wf:task{id = "wait", run = function() c:wait(op) end}
    local t0 = pd.now()
    local cancelled_at
    local res = wf:run{progress_interval = 0.05, on_progress = function()
      if not cancelled_at and pd.now() - t0 > 0.3 then
        cancelled_at = pd.now()
        wf:cancel()
      end
    end}
    assert.equal("cancelled", res.tasks.wait.state)
    assert.is_true(pd.now() - cancelled_at < 0.5, ("took %.3f s"):format(pd.now() - cancelled_at))
  end)

  it("a retryable client error lets the engine retry the task", function()
    emu:faults{errors = {["disks.get"] = {["503"] = 1.0}}}
    local quick = fx.client(emu, {max_attempts = 2})
    local wf = pd.workflow("retry")
    wf:task{id = "get", retries = {max = 2, backoff = 0.01}, run = function()
      quick.disks:get{disk = "spare"}
    end}
    local res = wf:run{fail = "continue"}
    assert.equal("failed", res.tasks.get.state)
    assert.equal(3, res.tasks.get.attempts)
    assert.equal(503, res.tasks.get.error.code)
    assert.equal(6, #fx.requests(emu, "disks.get"))
  end)

  it("a non-retryable client error is not retried by the engine", function()
    local wf = pd.workflow("noretry")
    wf:task{id = "missing", retries = {max = 3, backoff = 0.01}, run = function()
      c.disks:get{disk = "nope"}
    end}
    local res = wf:run{}
    assert.equal("failed", res.tasks.missing.state)
    assert.equal(1, res.tasks.missing.attempts)
    assert.equal("notFound", res.tasks.missing.error.reason)
  end)
end)
