-- The executor (src/engine/executor.c): parallelism, limits, timeouts,
-- cancellation, retries, failure policies, rollback, events, progress and
-- the result. Timing checks are ratios with wide margins: the suite also
-- runs under sanitizers on two cores.
local h = require "support.engine"
local json = require "pdlua.json"

local function noop() end

describe("executor", function()
  describe("parallelism", function()
    it("runs blocking tasks in parallel: 16 sleeps finish far sooner than in a row", function()
      local function build()
        local wf = pd.workflow("par")
        for i = 1, 16 do wf:task{id = "s" .. i, run = function() pd.sleep(0.05) end} end
        return wf
      end
      local par = h.run(build(), {max_parallel = 16})
      local seq = h.run(build(), {max_parallel = 1})
      assert.is_true(par.ok and seq.ok)
      assert.is_true(seq.makespan >= 16 * 0.05)
      -- ideal speed-up is 16; ask for 4
      assert.is_true(par.makespan * 4 < seq.makespan,
                     ("parallel %.3fs vs sequential %.3fs"):format(par.makespan, seq.makespan))
    end)

    it("never runs more than max_parallel tasks at once", function()
      local g = h.gauge()
      local wf = pd.workflow("limit")
      for i = 1, 24 do
        wf:task{id = "t" .. i, run = function() g.enter(); pd.sleep(0.01); g.leave() end}
      end
      local res = h.run(wf, {max_parallel = 3})
      assert.is_true(res.ok)
      assert.equal(3, g.peak())
      assert.equal(3, res.workers)
    end)

    it("never runs more tasks of a pool than its capacity, and others go past it", function()
      local gs, go = h.gauge(), h.gauge()
      local wf = pd.workflow("pools")
      for i = 1, 12 do
        wf:task{id = "snap" .. i, pool = "snapshots",
                run = function() gs.enter(); pd.sleep(0.01); gs.leave() end}
      end
      for i = 1, 12 do
        wf:task{id = "other" .. i,
                run = function() go.enter(); pd.sleep(0.01); go.leave() end}
      end
      local res = h.run(wf, {max_parallel = 6, pools = {snapshots = 2}})
      assert.is_true(res.ok)
      assert.equal(2, gs.peak())
      -- tasks waiting for the pool hold no worker: the other tasks got 4+
      assert.is_true(go.peak() >= 4, "other tasks peaked at " .. go.peak())
    end)

    it("runs tasks of a pool not listed in `pools` without a limit", function()
      local g = h.gauge()
      local wf = pd.workflow("unlisted")
      for i = 1, 6 do
        wf:task{id = "t" .. i, pool = "elsewhere",
                run = function() g.enter(); pd.sleep(0.02); g.leave() end}
      end
      assert.is_true(h.run(wf, {max_parallel = 6}).ok)
      assert.is_true(g.peak() >= 2)
    end)

    it("passes the task handle and the context to run", function()
      local ctx = pd.context{seen = "map<integer>"}
      local wf = pd.workflow("args")
      wf:task{id = "a", data = {disk = "d1"}, run = function(t, c)
        assert.equal(ctx, c)
        c:put("seen", t.id .. ":" .. t.data.disk, t.attempt)
      end}
      assert.is_true(h.run(wf, {context = ctx}).ok)
      assert.same({["a:d1"] = 1}, ctx:get("seen"))
    end)

    it("counts from many tasks with ctx:incr without losing any", function()
      local ctx = pd.context{n = "integer"}
      local wf = pd.workflow("count")
      for i = 1, 200 do
        wf:task{id = "t" .. i, run = function(_, c)
          for _ = 1, 50 do c:incr("n") end
          if i % 10 == 0 then pd.sleep(0.001) end
        end}
      end
      assert.is_true(h.run(wf, {context = ctx, max_parallel = 8}).ok)
      assert.equal(200 * 50, ctx:get("n"))
    end)
  end)

  describe("timeouts", function()
    it("times out a task blocked in pd.sleep", function()
      local wf = pd.workflow("t")
      wf:task{id = "slow", timeout = 0.1, run = function() pd.sleep(30) end}
      wf:task{id = "after", deps = {"slow"}, run = noop}
      wf:task{id = "free", run = noop}
      local t0 = pd.now()
      local res = h.run(wf)
      assert.is_true(pd.now() - t0 < 10)
      assert.equal("timed_out", res.tasks.slow.state)
      assert.equal("timeout", res.tasks.slow.error.reason)
      assert.equal("skipped", res.tasks.after.state)
      assert.equal("succeeded", res.tasks.free.state)
      assert.is_false(res.ok)
    end)

    it("times out a task spinning in Lua, and others still run meanwhile", function()
      local ctx = pd.context{ticks = "integer"}
      local wf = pd.workflow("spin")
      wf:task{id = "spin", timeout = 0.3, run = function() while true do end end}
      wf:task{id = "ticker", run = function(_, c)
        for _ = 1, 5 do pd.sleep(0.01); c:incr("ticks") end
      end}
      local t0 = pd.now()
      local res = h.run(wf, {context = ctx, max_parallel = 2})
      assert.is_true(pd.now() - t0 < 10)
      assert.equal("timed_out", res.tasks.spin.state)
      assert.equal("timeout", res.tasks.spin.error.reason)
      assert.equal("succeeded", res.tasks.ticker.state)
      assert.equal(5, ctx:get("ticks"))
    end)

    it("applies task_timeout to tasks without their own timeout", function()
      local wf = pd.workflow("t")
      wf:task{id = "a", run = function() pd.sleep(30) end}
      wf:task{id = "b", timeout = false, run = function() pd.sleep(0.2) end}
      local res = h.run(wf, {task_timeout = 0.05})
      assert.equal("timed_out", res.tasks.a.state)
      assert.equal("succeeded", res.tasks.b.state)
    end)

    it("stops at the run deadline: running tasks time out, the rest is skipped", function()
      local wf = pd.workflow("d")
      wf:task{id = "long", run = function() pd.sleep(30) end}
      wf:task{id = "next", deps = {"long"}, run = noop}
      local t0 = pd.now()
      local res = h.run(wf, {deadline = 0.15})
      assert.is_true(pd.now() - t0 < 10)
      assert.equal("timed_out", res.tasks.long.state)
      assert.equal("skipped", res.tasks.next.state)
      assert.equal("deadline", res.stopped)
    end)

    it("stops a timed-out task that catches the error and keeps spinning", function()
      local wf = pd.workflow("stubborn")
      wf:task{id = "s", timeout = 0.1, run = function()
        for _ = 1, 3 do pcall(function() while true do end end) end
        while true do end
      end}
      local res = h.run(wf)
      assert.equal("timed_out", res.tasks.s.state)
    end)
  end)

  describe("cancellation", function()
    it("wf:cancel() from a task stops the run: the caller finishes, the rest stops", function()
      local wf = pd.workflow("c")
      wf:task{id = "sleeper", run = function() pd.sleep(30) end}
      wf:task{id = "canceller", run = function() pd.sleep(0.05); wf:cancel() end}
      wf:task{id = "later", deps = {"canceller"}, run = noop}
      local t0 = pd.now()
      local res = h.run(wf, {max_parallel = 2})
      assert.is_true(pd.now() - t0 < 10)
      assert.equal("cancelled", res.tasks.sleeper.state)
      assert.equal("cancelled", res.tasks.sleeper.error.reason)
      assert.equal("succeeded", res.tasks.canceller.state)
      assert.equal("skipped", res.tasks.later.state)
      assert.equal("stopped", res.tasks.later.reason)
      assert.is_true(res.cancelled)
      assert.equal(130, res.exit_code)
    end)

    it("wf:cancel() from an on_event callback stops the run", function()
      local wf = pd.workflow("c")
      wf:task{id = "first", run = noop}
      wf:task{id = "long", run = function() pd.sleep(30) end}
      for i = 1, 5 do wf:task{id = "n" .. i, deps = {"first"}, run = noop} end
      local res = h.run(wf, {max_parallel = 2, engine = "sequential", on_event = function(e)
        if e.task == "first" and e.state == "succeeded" then wf:cancel() end
      end})
      assert.equal("succeeded", res.tasks.first.state)
      for i = 1, 5 do assert.equal("skipped", res.tasks["n" .. i].state) end
      assert.is_true(res.cancelled)
    end)

    it("wf:cancel{drain = true} starts nothing new but lets what runs finish, then rolls back", function()
      local wf = pd.workflow("d")
      local undone = {}
      wf:task{id = "slow", group = "g1", run = function() pd.sleep(0.3) end,
              rollback = function() undone[#undone + 1] = "slow" end}
      wf:task{id = "after_slow", group = "g1", deps = {"slow"}, run = noop}
      wf:task{id = "drainer", run = function() pd.sleep(0.05); wf:cancel{drain = true} end}
      wf:task{id = "later", deps = {"drainer"}, run = noop}
      local res = h.run(wf, {max_parallel = 3, rollback = "group", fail = "continue"})
      assert.equal("succeeded", res.tasks.drainer.state)
      assert.equal("rolled_back", res.tasks.slow.state)
      assert.same({"slow"}, undone)
      assert.equal("skipped", res.tasks.after_slow.state)
      assert.equal("skipped", res.tasks.later.state)
      assert.is_true(res.cancelled)
    end)

    it("wf:cancel() is false when the workflow is not running", function()
      local wf = pd.workflow("idle")
      assert.is_false(wf:cancel())
    end)

    it("stops a task spinning in Lua on cancel", function()
      local wf = pd.workflow("c")
      wf:task{id = "spin", run = function() while true do end end}
      wf:task{id = "c", run = function() pd.sleep(0.05); wf:cancel() end}
      local res = h.run(wf, {max_parallel = 2})
      assert.equal("cancelled", res.tasks.spin.state)
    end)
  end)

  describe("retries", function()
    it("retries retryable errors with backoff, one event per attempt", function()
      local rec = h.recorder()
      local calls = 0
      local wf = pd.workflow("r")
      wf:task{id = "flaky", retries = {max = 3, backoff = 0.02, max_backoff = 0.05},
              run = function(t)
                calls = calls + 1
                assert.equal(calls, t.attempt)
                if t.attempt < 3 then
                  error(pd.error{reason = "rateLimitExceeded", code = 403, retryable = true})
                end
              end}
      local res = h.run(wf, {on_event = rec.on_event})
      local r = res.tasks.flaky
      assert.equal("succeeded", r.state)
      assert.equal(3, r.attempts)
      assert.same({"running", "pending", "running", "pending", "running", "succeeded"},
                  rec.by_task.flaky)
      local retries = 0
      for _, e in ipairs(rec.events) do
        if e.retry_in then
          retries = retries + 1
          assert.equal("rateLimitExceeded", e.error.reason)
          -- full jitter: between 0 and the capped exponential step
          assert.is_true(e.retry_in >= 0 and e.retry_in <= 0.02 * 2 ^ (e.attempt - 1) + 1e-9)
        end
      end
      assert.equal(2, retries)
    end)

    it("gives up after max retries, recording every attempt", function()
      local wf = pd.workflow("r")
      wf:task{id = "down", retries = {max = 2, backoff = 0.001},
              run = function() error(pd.error{reason = "backendError", retryable = true}) end}
      local res = h.run(wf)
      assert.equal("failed", res.tasks.down.state)
      assert.equal(3, res.tasks.down.attempts)
      assert.is_true(res.tasks.down.error.retryable)
    end)

    it("does not retry errors that are not retryable", function()
      local wf = pd.workflow("r")
      wf:task{id = "a", retries = 5, run = function() error("plain failure") end}
      wf:task{id = "b", retries = 5,
              run = function() error(pd.error{code = 404, reason = "notFound"}) end}
      local res = h.run(wf)
      assert.equal(1, res.tasks.a.attempts)
      assert.equal(1, res.tasks.b.attempts)
      assert.equal("failed", res.tasks.a.state)
      assert.matches("plain failure", res.tasks.a.error.message)
      assert.equal(404, res.tasks.b.error.code)
    end)

    it("spaces attempts by the backoff: waits grow, capped by max_backoff", function()
      -- seed fixes the jitter; total waits must stay under the caps' sum
      local times = {}
      local wf = pd.workflow("r")
      wf:task{id = "x", retries = {max = 4, backoff = 0.01, max_backoff = 0.03},
              run = function(t)
                times[t.attempt] = pd.now()
                error(pd.error{reason = "x", retryable = true})
              end}
      local res = h.run(wf, {seed = 7})
      assert.equal(5, res.tasks.x.attempts)
      local total = times[5] - times[1]
      assert.is_true(total <= 0.01 + 0.02 + 0.03 + 0.03 + 1.0, "waited " .. total)
    end)

    it("a waiting retry holds no worker", function()
      local g = h.gauge()
      local wf = pd.workflow("r")
      wf:task{id = "retrying", retries = {max = 1, backoff = 0.3, max_backoff = 0.3},
              run = function(t)
                if t.attempt == 1 then error(pd.error{reason = "x", retryable = true}) end
              end}
      for i = 1, 4 do
        wf:task{id = "w" .. i, run = function() g.enter(); pd.sleep(0.02); g.leave() end}
      end
      -- one worker: the others can only run while the retry waits
      local res = h.run(wf, {max_parallel = 1, seed = 3})
      assert.is_true(res.ok)
      assert.equal(2, res.tasks.retrying.attempts)
    end)
  end)

  describe("failure policy", function()
    local function build(order)
      local wf = pd.workflow("f")
      wf:task{id = "bad", run = function()
        pd.sleep(0.05)   -- `slow` is surely running by then
        order[#order + 1] = "bad"
        error("broken")
      end}
      wf:task{id = "child", deps = {"bad"}, run = noop}
      wf:task{id = "grandchild", deps = {"child"}, run = noop}
      wf:task{id = "slow", run = function() pd.sleep(0.3); order[#order + 1] = "slow" end}
      wf:task{id = "later", deps = {"slow"}, run = noop}
      return wf
    end

    it("continue: dependents are skipped, independent branches go on", function()
      local order = {}
      local res = h.run(build(order), {max_parallel = 2})
      local s = h.states(res)
      assert.same({bad = "failed", child = "skipped", grandchild = "skipped",
                   slow = "succeeded", later = "succeeded"}, s)
      assert.equal("dependency", res.tasks.child.reason)
      assert.equal("bad", res.tasks.child.cause)
      assert.equal("child", res.tasks.grandchild.cause)
      assert.is_false(res.ok)
      assert.equal(1, res.exit_code)
    end)

    it("fail_fast: the first failure cancels running tasks and skips the rest", function()
      local order = {}
      local res = h.run(build(order), {max_parallel = 2, fail = "fail_fast"})
      assert.equal("failed", res.tasks.bad.state)
      assert.equal("cancelled", res.tasks.slow.state)
      assert.equal("skipped", res.tasks.later.state)
      assert.equal("fail_fast", res.stopped)
      assert.same({"bad"}, order)
    end)
  end)

  describe("rollback", function()
    -- two groups of three steps; step 3 of disk/b fails
    local function build(log, opts)
      opts = opts or {}
      local wf = pd.workflow("rb")
      for _, disk in ipairs {"a", "b"} do
        local prev
        for step = 1, 3 do
          local id = disk .. step
          wf:task{id = id, group = "disk/" .. disk, deps = prev and {prev} or nil,
                  run = function()
                    pd.sleep(0.005)
                    if disk == "b" and step == 3 then error("step failed") end
                  end,
                  rollback = function(t)
                    assert.is_true(t.rollback)
                    log[#log + 1] = t.id
                    if opts.fail_rollback == t.id then error("cannot undo " .. t.id) end
                    if opts.hang_rollback == t.id then pd.sleep(30) end
                  end,
                  rollback_timeout = opts.rollback_timeout}
          prev = id
        end
      end
      return wf
    end

    it("compensates the failed task's group, newest first; other groups stay", function()
      local log = {}
      local res = h.run(build(log), {max_parallel = 4})
      assert.same({"b2", "b1"}, log)
      local s = h.states(res)
      assert.same({a1 = "succeeded", a2 = "succeeded", a3 = "succeeded",
                   b1 = "rolled_back", b2 = "rolled_back", b3 = "failed"}, s)
      assert.equal("rolled_back", res.tasks.b1.rollback.state)
      assert.is_true(res.tasks.b1.rollback.started >= res.tasks.b2.rollback.finished)
      assert.is_nil(res.tasks.a1.rollback)
    end)

    it("rollback = workflow compensates every succeeded task, newest first", function()
      local log = {}
      local res = h.run(build(log), {max_parallel = 1, engine = "sequential",
                                     rollback = "workflow"})
      -- newest first: the reverse of the order in which the runs finished
      local done = {"a1", "a2", "a3", "b1", "b2"}
      table.sort(done, function(x, y) return res.tasks[x].finished > res.tasks[y].finished end)
      assert.same(done, log)
      assert.same({"a3", "b2", "a2", "b1", "a1"}, log)   -- sequential: a1 b1 a2 b2 a3
      assert.is_nil(res.stopped)
      assert.equal(5, res.counts.rolled_back)
    end)

    it("rollback = none leaves everything as it is", function()
      local log = {}
      local res = h.run(build(log), {rollback = "none"})
      assert.same({}, log)
      assert.equal(5, res.counts.succeeded)
    end)

    it("a failing rollback is recorded and the others still run", function()
      local log = {}
      local res = h.run(build(log, {fail_rollback = "b2"}))
      assert.same({"b2", "b1"}, log)
      assert.equal("rollback_failed", res.tasks.b2.state)
      assert.matches("cannot undo b2", res.tasks.b2.rollback.error.message)
      assert.equal("rolled_back", res.tasks.b1.state)
    end)

    it("each rollback has its own timeout", function()
      local log = {}
      local t0 = pd.now()
      local res = h.run(build(log, {hang_rollback = "b2", rollback_timeout = 0.1}))
      assert.is_true(pd.now() - t0 < 10)
      assert.equal("rollback_failed", res.tasks.b2.state)
      assert.equal("timeout", res.tasks.b2.rollback.error.reason)
      assert.equal("rolled_back", res.tasks.b1.state)
    end)

    it("runs rollback only for tasks whose run succeeded", function()
      local log = {}
      local wf = pd.workflow("rb")
      wf:task{id = "ok", group = "g", run = noop, rollback = function() log[#log + 1] = "ok" end}
      wf:task{id = "bad", group = "g", deps = {"ok"}, run = function() error("x") end,
              rollback = function() log[#log + 1] = "bad" end}
      wf:task{id = "never", group = "g", deps = {"bad"}, run = noop,
              rollback = function() log[#log + 1] = "never" end}
      local res = h.run(wf)
      assert.same({"ok"}, log)
      assert.equal("skipped", res.tasks.never.state)
    end)

    it("waits for every task of a failed group to end, then compensates them all", function()
      -- `late` does not depend on `bad`: it still runs (so the outcome does
      -- not depend on timing) and is compensated with the rest of its group
      local log = {}
      local wf = pd.workflow("rb")
      local function undo(t) log[#log + 1] = t.id end
      wf:task{id = "early", group = "g", run = noop, rollback = undo}
      wf:task{id = "bad", group = "g", deps = {"early"}, run = function() error("x") end}
      wf:task{id = "gate", run = function() pd.sleep(0.05) end}
      wf:task{id = "late", group = "g", deps = {"gate"}, run = noop, rollback = undo}
      local res = h.run(wf, {max_parallel = 2})
      assert.same({"late", "early"}, log)
      assert.equal("rolled_back", res.tasks.late.state)
      assert.is_true(res.tasks.early.rollback.started >= res.tasks.late.finished)
    end)

    it("rolls back a group whose task was cancelled", function()
      local log = {}
      local wf = pd.workflow("rb")
      wf:task{id = "done", group = "g", run = noop,
              rollback = function(t) log[#log + 1] = t.id end}
      wf:task{id = "hang", group = "g", deps = {"done"}, run = function() pd.sleep(30) end}
      wf:task{id = "stop", run = function() pd.sleep(0.1); wf:cancel() end}
      local res = h.run(wf, {max_parallel = 2})
      assert.equal("cancelled", res.tasks.hang.state)
      assert.same({"done"}, log)
      assert.equal("rolled_back", res.tasks.done.state)
    end)
  end)

  describe("events and progress", function()
    it("reports every state change in order for each task", function()
      local rec = h.recorder()
      local wf = pd.workflow("e")
      wf:task{id = "a", run = noop}
      wf:task{id = "b", deps = {"a"}, run = function() error("x") end}
      wf:task{id = "c", deps = {"b"}, run = noop}
      h.run(wf, {on_event = rec.on_event})
      assert.same({"running", "succeeded"}, rec.by_task.a)
      assert.same({"running", "failed"}, rec.by_task.b)
      assert.same({"skipped"}, rec.by_task.c)
      local last = -1
      for _, e in ipairs(rec.events) do
        assert.is_true(e.time >= 0)
        if e.task == "b" and e.state == "failed" then
          assert.equal("running", e.previous)
          assert.matches("x", e.error.message)
        end
        last = e.time
      end
      assert.is_true(last >= 0)
    end)

    it("delivers t:log lines as events", function()
      local rec = h.recorder()
      local wf = pd.workflow("e")
      wf:task{id = "talker", run = function(t) t:log("disk", 42, "ok") end}
      h.run(wf, {on_event = rec.on_event})
      local logs = {}
      for _, e in ipairs(rec.events) do
        if e.type == "log" then logs[#logs + 1] = e.task .. ": " .. e.message end
      end
      assert.same({"talker: disk 42 ok"}, logs)
    end)

    it("calls on_progress each interval with counts, running ids and an ETA", function()
      local ticks = {}
      local wf = pd.workflow("p")
      for i = 1, 6 do wf:task{id = "t" .. i, run = function() pd.sleep(0.06) end} end
      local res = h.run(wf, {max_parallel = 2, progress_interval = 0.02,
                             on_progress = function(p) ticks[#ticks + 1] = p end})
      assert.is_true(res.ok)
      assert.is_true(#ticks >= 3, "ticks: " .. #ticks)
      local mid
      for _, p in ipairs(ticks) do
        assert.equal(6, p.total)
        assert.equal("p", p.name)
        if not p.finished and p.done > 0 and #p.running > 0 then mid = mid or p end
      end
      assert.is_truthy(mid, "no tick caught the run in the middle")
      assert.is_true(mid.eta > 0)
      assert.is_true(#mid.running <= 2)
      assert.matches("^t%d$", mid.running[1])
      assert.equal(mid.counts.running, #mid.running)
      local final = ticks[#ticks]
      assert.is_true(final.finished)
      assert.equal(6, final.counts.succeeded)
      assert.equal(0, final.eta)
    end)

    it("raises an error from a callback after the run stops", function()
      local ran = {}
      local wf = pd.workflow("e")
      wf:task{id = "a", run = function() ran.a = true end}
      wf:task{id = "b", deps = {"a"}, run = function() ran.b = true end}
      local ok, err = pcall(h.run, wf, {engine = "sequential", on_event = function(e)
        if e.state == "succeeded" then error("callback broke") end
      end})
      assert.is_false(ok)
      assert.matches("callback broke", tostring(err))
      assert.is_true(ran.a)
    end)

    it("prints a progress line to stderr by default for runs longer than a tick", function()
      local env = require "support.env"
      local path = h.script([[
        local wf = pd.workflow("printer")
        for i = 1, 4 do wf:task{id = "t" .. i, run = function() pd.sleep(0.1) end} end
        wf:task{id = "talker", run = function(t) t:log("hello", 1) end}
        local res = wf:run{max_parallel = 1, progress_interval = 0.1}
        print(res.ok)
      ]])
      local out, err, code = env.pdlua_run(env.quote(path))
      os.remove(path)
      assert.equal(0, code, err)
      assert.equal("true\n", out)
      assert.matches("printer: %d/5 done", err)
      assert.matches("%] talker: hello 1\n", err)
      local quiet = h.script([[
        local wf = pd.workflow("q")
        wf:task{id = "t", run = function() pd.sleep(0.3) end}
        wf:run{progress = false, progress_interval = 0.05}
      ]])
      local _, err2 = env.pdlua_run(env.quote(quiet))
      os.remove(quiet)
      assert.equal("", err2)
    end)
  end)

  describe("result", function()
    it("has per-task state, attempts, times, errors, totals and the makespan", function()
      local wf = pd.workflow("res")
      wf:task{id = "a", run = function() pd.sleep(0.02) end}
      wf:task{id = "b", deps = {"a"}, run = function() error(pd.error{code = 409,
              reason = "alreadyExists", message = "disk exists"}) end}
      local res = h.run(wf)
      assert.is_false(res.ok)
      assert.equal(2, res.total)
      assert.equal(1, res.counts.succeeded)
      assert.equal(1, res.counts.failed)
      assert.equal(0, res.counts.skipped)
      local a, b = res.tasks.a, res.tasks.b
      assert.is_true(a.duration >= 0.02)
      assert.is_true(b.started >= a.finished)
      assert.is_true(res.makespan >= b.finished)
      assert.same({"a", "b"}, res.ids)
      assert.equal(409, b.error.code)
      assert.equal("alreadyExists", b.error.reason)
      assert.is_false(b.error.retryable)
      assert.equal("res: 1 succeeded, 1 failed in", res:summary():sub(1, 29))
    end)

    it("turns any error value into a pdlua error", function()
      local wf = pd.workflow("odd")
      wf:task{id = "str", run = function() error("plain", 0) end}
      wf:task{id = "custom", run = function()
        error(setmetatable({}, {__tostring = function() return "custom text" end}))
      end}
      wf:task{id = "broken", run = function()
        error(setmetatable({}, {__tostring = function() error("no") end}))
      end}
      wf:task{id = "yields", run = function() coroutine.yield() end}
      local res = h.run(wf)
      for _, id in ipairs {"str", "custom", "broken", "yields"} do
        assert.equal("failed", res.tasks[id].state)
        assert.is_true(pd.is_error(res.tasks[id].error))
      end
      assert.equal("plain", res.tasks.str.error.message)
      assert.equal("custom text", res.tasks.custom.error.message)
      assert.matches("cannot be turned into a string", res.tasks.broken.error.message)
      assert.matches("yielded", res.tasks.yields.error.message)
    end)

    it("serialises to JSON", function()
      local wf = pd.workflow("json")
      wf:task{id = "a", run = noop}
      wf:task{id = "b", run = function() error(pd.error{reason = "x", message = "y"}) end}
      local doc = json.decode(h.run(wf):to_json())
      assert.equal("json", doc.name)
      assert.equal("succeeded", doc.tasks.a.state)
      assert.equal("y", doc.tasks.b.error.message)
      assert.equal(1, doc.counts.failed)
    end)
  end)

  describe("nesting", function()
    it("runs a workflow from inside a task", function()
      local wf = pd.workflow("outer")
      local inner_res
      wf:task{id = "outer", run = function()
        local inner = pd.workflow("inner")
        for i = 1, 4 do inner:task{id = "i" .. i, run = function() pd.sleep(0.01) end} end
        inner_res = h.run(inner, {max_parallel = 2})
      end}
      wf:task{id = "sibling", run = function() pd.sleep(0.01) end}
      local res = h.run(wf, {max_parallel = 2})
      assert.is_true(res.ok)
      assert.is_true(inner_res.ok)
      assert.equal(4, inner_res.counts.succeeded)
    end)

    it("refuses to run a workflow that is already running", function()
      local wf = pd.workflow("self")
      local err
      wf:task{id = "a", run = function() local ok, e = pcall(wf.run, wf, {}) err = e end}
      h.run(wf)
      assert.matches("already running", err.message)
    end)
  end)
end)
