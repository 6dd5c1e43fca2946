-- Rollbacks in the executor (src/engine/executor.c, scheduler.c): retries
-- of rollbacks that raise retryable errors, newest-first order with
-- retries, rollbacks inside their task's pool, attempts in the result and
-- the events. Timing checks are orderings or ratios with wide margins.
local h = require "support.engine"

local function noop() end

local function retryable(msg)
  error(pd.error{reason = "backendError", message = msg or "try again", retryable = true})
end

describe("rollback", function()
  describe("retries", function()
    it("retries a rollback that raises a retryable error; t.attempt counts its attempts", function()
      local seen = {}
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop,
              retries = {max = 3, backoff = 0.01, max_backoff = 0.02},
              rollback = function(t)
                assert.is_true(t.rollback)
                seen[#seen + 1] = t.attempt
                if t.attempt < 3 then retryable() end
              end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      local res = h.run(wf)
      assert.same({1, 2, 3}, seen)
      local a = res.tasks.a
      assert.equal("rolled_back", a.state)
      assert.equal(1, a.attempts)               -- its run's attempts
      assert.equal("rolled_back", a.rollback.state)
      assert.equal(3, a.rollback.attempts)
      assert.is_nil(a.rollback.error)
      assert.is_true(a.rollback.finished >= a.rollback.started)
    end)

    it("fails a rollback at once on an error that is not retryable", function()
      local calls = 0
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop, retries = 5,
              rollback = function()
                calls = calls + 1
                error(pd.error{code = 404, reason = "notFound", message = "gone"})
              end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      local res = h.run(wf)
      assert.equal(1, calls)
      assert.equal("rollback_failed", res.tasks.a.state)
      assert.equal(1, res.tasks.a.rollback.attempts)
      assert.equal("notFound", res.tasks.a.rollback.error.reason)
    end)

    it("gives up after the task's retries, keeping the last error", function()
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop, retries = {max = 2, backoff = 0.001},
              rollback = function(t) retryable("attempt " .. t.attempt) end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      local res = h.run(wf)
      assert.equal("rollback_failed", res.tasks.a.state)
      assert.equal(3, res.tasks.a.rollback.attempts)
      assert.is_true(res.tasks.a.rollback.error.retryable)
      assert.equal("attempt 3", res.tasks.a.rollback.error.message)
    end)

    it("uses the run's default retries for rollbacks too", function()
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop,
              rollback = function(t) if t.attempt == 1 then retryable() end end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      local res = h.run(wf, {retries = {max = 1, backoff = 0.001}})
      assert.equal("rolled_back", res.tasks.a.state)
      assert.equal(2, res.tasks.a.rollback.attempts)
    end)

    for _, engine in ipairs(h.engines) do
      it("keeps newest-first order within a group while a rollback retries (" .. engine .. ")",
         function()
        local log = {}
        local wf = pd.workflow("order")
        local prev
        for i = 1, 4 do
          local id = "s" .. i
          wf:task{id = id, group = "g", deps = prev and {prev} or nil, run = noop,
                  retries = {max = 3, backoff = 0.01, max_backoff = 0.02},
                  rollback = function(t)
                    log[#log + 1] = t.id .. ":" .. t.attempt
                    if t.id == "s3" and t.attempt < 3 then retryable() end
                  end}
          prev = id
        end
        wf:task{id = "bad", group = "g", deps = {prev}, run = function() error("x") end}
        -- an unrelated group rolls back at the same time
        wf:task{id = "o1", group = "other", run = noop,
                rollback = function(t) pd.sleep(0.01) end}
        wf:task{id = "o2", group = "other", deps = {"o1"}, run = function() error("y") end}
        local res = h.run(wf, {engine = engine, max_parallel = 4})
        local mine = {}
        for _, e in ipairs(log) do if e:match("^s") then mine[#mine + 1] = e end end
        assert.same({"s4:1", "s3:1", "s3:2", "s3:3", "s2:1", "s1:1"}, mine)
        for i = 1, 4 do assert.equal("rolled_back", res.tasks["s" .. i].state) end
        assert.equal(3, res.tasks.s3.rollback.attempts)
        assert.is_true(res.tasks.s3.rollback.started >= res.tasks.s4.rollback.finished)
        assert.is_true(res.tasks.s2.rollback.started >= res.tasks.s3.rollback.finished)
        assert.equal("rolled_back", res.tasks.o1.state)
      end)
    end

    it("a rollback waiting for its retry holds no worker", function()
      local ctx = pd.context{times = "map<number>"}
      local wf = pd.workflow("rb")
      -- one worker; `a` and `bad` go first (heavier), the w's are left
      wf:task{id = "a", group = "g", weight = 10, run = noop,
              retries = {max = 1, backoff = 0.5, max_backoff = 0.5},
              rollback = function(t, c)
                c:put("times", "rb" .. t.attempt, pd.now())
                if t.attempt == 1 then retryable() end
              end}
      wf:task{id = "bad", group = "g", weight = 10, deps = {"a"},
              run = function() error("x") end}
      for i = 1, 3 do
        wf:task{id = "w" .. i, run = function(t, c) c:put("times", t.id, pd.now()) end}
      end
      local res = h.run(wf, {max_parallel = 1, context = ctx, seed = 11})
      assert.equal("rolled_back", res.tasks.a.state)
      assert.equal(2, res.tasks.a.rollback.attempts)
      local tm = ctx:get("times")
      -- the forward tasks ran on the only worker while the rollback waited
      assert.is_true(tm.rb1 < tm.w1 and tm.w1 < tm.rb2, "w1 did not run during the backoff")
    end)

    it("still retries rollbacks after the run is cancelled", function()
      local wf = pd.workflow("rb")
      wf:task{id = "done", group = "g", run = noop, retries = {max = 2, backoff = 0.01},
              rollback = function(t) if t.attempt < 3 then retryable() end end}
      wf:task{id = "hang", group = "g", deps = {"done"}, run = function() pd.sleep(30) end}
      wf:task{id = "stop", run = function() pd.sleep(0.1); wf:cancel() end}
      local t0 = pd.now()
      local res = h.run(wf, {max_parallel = 2})
      assert.is_true(pd.now() - t0 < 10)
      assert.is_true(res.cancelled)
      assert.equal("cancelled", res.tasks.hang.state)
      assert.equal("rolled_back", res.tasks.done.state)
      assert.equal(3, res.tasks.done.rollback.attempts)
    end)

    it("still retries rollbacks after the run deadline", function()
      local wf = pd.workflow("rb")
      wf:task{id = "done", group = "g", run = noop, retries = {max = 2, backoff = 0.05},
              rollback = function(t) if t.attempt < 3 then retryable() end end}
      wf:task{id = "hang", group = "g", deps = {"done"}, run = function() pd.sleep(30) end}
      local res = h.run(wf, {deadline = 0.1})
      assert.equal("deadline", res.stopped)
      assert.equal("timed_out", res.tasks.hang.state)
      assert.equal("rolled_back", res.tasks.done.state)
      assert.equal(3, res.tasks.done.rollback.attempts)
    end)

    it("does not retry a rollback that timed out", function()
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop, retries = 3, rollback_timeout = 0.05,
              rollback = function() pd.sleep(30) end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      local res = h.run(wf)
      assert.equal("rollback_failed", res.tasks.a.state)
      assert.equal(1, res.tasks.a.rollback.attempts)
      assert.equal("timeout", res.tasks.a.rollback.error.reason)
    end)
  end)

  describe("events", function()
    it("reports a rollback's retry as the run's retries are reported", function()
      local rec = h.recorder()
      local wf = pd.workflow("rb")
      wf:task{id = "a", group = "g", run = noop,
              retries = {max = 2, backoff = 0.01, max_backoff = 0.02},
              rollback = function(t)
                t:log("undo", t.attempt)
                if t.attempt < 3 then retryable("busy") end
              end}
      wf:task{id = "bad", group = "g", deps = {"a"}, run = function() error("x") end}
      h.run(wf, {on_event = rec.on_event})
      assert.same({"running", "succeeded", "pending", "pending", "rolled_back"}, rec.by_task.a)
      local starts, retries, logs = {}, 0, {}
      for _, e in ipairs(rec.events) do
        if e.task == "a" then
          if e.type == "rollback" then
            starts[#starts + 1] = e.attempt
            assert.is_true(e.rollback)
          elseif e.type == "state" and e.retry_in then
            retries = retries + 1
            assert.equal("pending", e.state)
            assert.is_true(e.rollback)
            assert.equal("busy", e.error.message)
            assert.is_true(e.retry_in >= 0 and e.retry_in <= 0.02 + 1e-9)
          elseif e.type == "state" and e.state == "rolled_back" then
            assert.equal(3, e.attempt)
            assert.equal("pending", e.previous)
            assert.is_true(e.rollback)
          elseif e.type == "state" then
            assert.is_nil(e.rollback)
          elseif e.type == "log" then
            logs[#logs + 1] = e.message .. "@" .. e.attempt
            assert.is_true(e.rollback)
          end
        end
      end
      assert.same({1, 2, 3}, starts)
      assert.equal(2, retries)
      assert.same({"undo 1@1", "undo 2@2", "undo 3@3"}, logs)
    end)
  end)

  describe("pools", function()
    -- runs and rollbacks of pool tasks enter/leave the gauge
    local function pooled(g, sleep, after)
      return function(t)
        g.enter()
        local ok, err = pcall(pd.sleep, sleep)
        g.leave()
        if not ok then error(err, 0) end
        if after then after(t) end
      end
    end

    for _, retry in ipairs {false, true} do
      it("rollbacks of a pool of 1 never overlap each other or the pool's forward tasks"
         .. (retry and " (with retries)" or ""), function()
        local g = h.gauge()
        local wf = pd.workflow("pool")
        for i = 1, 4 do
          wf:task{id = "s" .. i, group = "g" .. i, pool = "p", run = pooled(g, 0.01),
                  retries = {max = 1, backoff = 0.005},
                  rollback = pooled(g, 0.02, function(t)
                    if retry and i <= 2 and t.attempt == 1 then retryable() end
                  end)}
          wf:task{id = "bad" .. i, group = "g" .. i, deps = {"s" .. i},
                  run = function() error("x") end}
        end
        for i = 1, 6 do
          wf:task{id = "w" .. i, pool = "p", weight = 0.1, run = pooled(g, 0.02)}
        end
        local res = h.run(wf, {max_parallel = 6, pools = {p = 1}})
        for i = 1, 4 do assert.equal("rolled_back", res.tasks["s" .. i].state) end
        for i = 1, 6 do assert.equal("succeeded", res.tasks["w" .. i].state) end
        assert.equal(1, g.peak())
        if retry then assert.equal(2, res.tasks.s1.rollback.attempts) end
      end)
    end

    it("a rollback waiting for its pool goes ahead of the pool's waiting tasks", function()
      local ctx = pd.context{order = "list<string>"}
      local wf = pd.workflow("pool")
      wf:task{id = "s", group = "g", pool = "p", weight = 100, run = noop,
              rollback = function(_, c) c:append("order", "rollback") end}
      wf:task{id = "bad", group = "g", deps = {"s"}, weight = 100,
              run = function() error("x") end}
      for i = 1, 6 do
        wf:task{id = "w" .. i, pool = "p", run = function(t, c)
          c:append("order", t.id)
          pd.sleep(0.03)
        end}
      end
      local res = h.run(wf, {max_parallel = 3, pools = {p = 1}, context = ctx})
      assert.equal("rolled_back", res.tasks.s.state)
      local order = ctx:get("order")
      assert.equal(7, #order)
      -- `bad` fails at once: the rollback gets the pool long before the last w
      assert.is_true(order[#order] ~= "rollback" and order[#order - 1] ~= "rollback",
                     table.concat(order, " "))
    end)

    it("rollbacks count against max_parallel", function()
      local g = h.gauge()
      local wf = pd.workflow("par")
      for i = 1, 6 do
        wf:task{id = "s" .. i, group = "g" .. i, run = pooled(g, 0.005),
                rollback = pooled(g, 0.02)}
        wf:task{id = "bad" .. i, group = "g" .. i, deps = {"s" .. i},
                run = function() error("x") end}
        wf:task{id = "w" .. i, run = pooled(g, 0.02)}
      end
      local res = h.run(wf, {max_parallel = 2})
      assert.equal(6, res.counts.rolled_back)
      assert.is_true(g.peak() <= 2, "peak " .. g.peak())
    end)

    it("ends when every pool is full of work whose groups wait to roll back", function()
      -- many groups in one pool of 1; every group fails; fail_fast cancels
      -- whatever runs, and all of them roll back through the one slot
      local g = h.gauge()
      local wf = pd.workflow("jam")
      for i = 1, 8 do
        local prev
        for step = 1, 3 do
          local id = ("g%d_%d"):format(i, step)
          wf:task{id = id, group = "g" .. i, pool = "p", deps = prev and {prev} or nil,
                  retries = {max = 1, backoff = 0.001},
                  run = pooled(g, 0.002, function()
                    if step == 3 then error("step 3 of " .. i) end
                  end),
                  rollback = pooled(g, 0.002, function(t)
                    if step == 1 and t.attempt == 1 then retryable() end
                  end)}
          prev = id
        end
      end
      for _, fail in ipairs {"continue", "fail_fast"} do
        local t0 = pd.now()
        local res = h.run(wf, {max_parallel = 4, pools = {p = 1}, fail = fail})
        assert.is_true(pd.now() - t0 < 20)
        assert.is_false(res.ok)
        assert.equal(0, res.counts.succeeded)
        assert.equal(0, res.counts.pending)
        assert.equal(0, res.counts.running)
        assert.equal(0, res.counts.rollback_failed)
        assert.equal(1, g.peak())
      end
    end)
  end)
end)
