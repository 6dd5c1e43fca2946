-- pd.semaphore (src/engine/semaphore.c): limits inside tasks; waiting
-- releases the interpreter lock and obeys the task's timeout and cancel.
local h = require "support.engine"

describe("pd.semaphore", function()
  it("limits a section inside tasks to n at a time", function()
    local sem = pd.semaphore(2)
    local g = h.gauge()
    local wf = pd.workflow("sem")
    for i = 1, 10 do
      wf:task{id = "t" .. i, run = function()
        sem:with(function() g.enter(); pd.sleep(0.01); g.leave() end)
      end}
    end
    local res = h.run(wf, {max_parallel = 8})
    assert.is_true(res.ok)
    assert.equal(2, g.peak())
    assert.equal(2, sem:available())
  end)

  it("lets other tasks run while one waits", function()
    local sem = pd.semaphore(1)
    local order = {}
    local wf = pd.workflow("sem")
    wf:task{id = "holder", run = function()
      sem:acquire(); pd.sleep(0.1); order[#order + 1] = "holder"; sem:release()
    end}
    wf:task{id = "waiter", run = function()
      pd.sleep(0.02); sem:acquire(); order[#order + 1] = "waiter"; sem:release()
    end}
    wf:task{id = "free", run = function() pd.sleep(0.04); order[#order + 1] = "free" end}
    assert.is_true(h.run(wf, {max_parallel = 3}).ok)
    assert.same({"free", "holder", "waiter"}, order)
  end)

  it("a task waiting on a semaphore times out", function()
    local sem = pd.semaphore(1)
    sem:acquire()
    local wf = pd.workflow("sem")
    wf:task{id = "stuck", timeout = 0.1, run = function() sem:acquire() end}
    local t0 = pd.now()
    local res = h.run(wf)
    assert.is_true(pd.now() - t0 < 10)
    assert.equal("timed_out", res.tasks.stuck.state)
    assert.matches("semaphore", res.tasks.stuck.error.message)
    sem:release()
    assert.equal(1, sem:available())
  end)

  it("a task waiting on a semaphore is cancelled with the run", function()
    local sem = pd.semaphore(1)
    sem:acquire()
    local wf = pd.workflow("sem")
    wf:task{id = "stuck", run = function() sem:acquire() end}
    wf:task{id = "stopper", run = function() pd.sleep(0.05); wf:cancel() end}
    local res = h.run(wf, {max_parallel = 2})
    assert.equal("cancelled", res.tasks.stuck.state)
    sem:release()
  end)

  it("acquire with a timeout returns false when it passes", function()
    local sem = pd.semaphore(1)
    assert.is_true(sem:acquire())
    assert.is_false(sem:try_acquire())
    local t0 = pd.now()
    assert.is_false(sem:acquire(0.05))
    assert.is_true(pd.now() - t0 >= 0.05)
    sem:release()
    assert.is_true(sem:acquire(0))
    sem:release()
  end)

  it("with() releases the permit when the function raises", function()
    local sem = pd.semaphore(1)
    local ok, err = pcall(sem.with, sem, function() error("inside") end)
    assert.is_false(ok)
    assert.matches("inside", err)
    assert.equal(1, sem:available())
    assert.same({3, 4}, {sem:with(function(a, b) return a, b end, 3, 4)})
  end)

  it("refuses a release without an acquire", function()
    local sem = pd.semaphore(2)
    local ok, err = pcall(sem.release, sem)
    assert.is_false(ok)
    assert.matches("release without a matching acquire", err.message)
    assert.has_error(function() pd.semaphore(0) end)
  end)
end)
