-- The schedulers (src/engine/scheduler.c): pool (critical path first),
-- levels (a barrier per level), sequential; they must agree on end states.
local h = require "support.engine"

local function noop() end

-- A deterministic random DAG with failures, retries, groups, pools and
-- rollbacks (some retried, some failing); every task's outcome, and its
-- rollback's, depends only on its id and attempt.
local function mixed_workflow(seed, n)
  local rng = seed
  local function rand(k)
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng % k
  end
  local wf = pd.workflow("mixed" .. seed)
  for i = 1, n do
    local deps = {}
    if i > 1 then
      for _ = 1, rand(3) do deps[#deps + 1] = "t" .. (1 + rand(i - 1)) end
    end
    local kind = rand(10)
    wf:task{
      id = "t" .. i, deps = deps, group = "g" .. rand(6),
      pool = rand(2) == 0 and "p" or nil,
      retries = {max = 2, backoff = 0.001},
      run = function(t)
        if kind == 0 then error("fails") end
        if kind == 1 and t.attempt < 2 then
          error(pd.error{reason = "flaky", retryable = true})
        end
        if kind == 2 then pd.sleep(0.002) end
      end,
      rollback = kind ~= 3 and function(t)
        if kind == 4 and t.attempt < 2 then
          error(pd.error{reason = "flaky", retryable = true})
        end
        if kind == 5 then error("cannot undo") end
      end or nil,
    }
  end
  return wf
end

describe("schedulers", function()
  it("end every workflow in the same states under all three engines", function()
    for _, case in ipairs {
      {seed = 1, n = 40, rollback = "group"},
      {seed = 2, n = 60, rollback = "none"},
      {seed = 3, n = 30, rollback = "workflow"},
      {seed = 4, n = 50, rollback = "group"},
    } do
      local results = {}
      for _, engine in ipairs(h.engines) do
        local res = h.run(mixed_workflow(case.seed, case.n),
                          {engine = engine, max_parallel = 4, pools = {p = 2},
                           rollback = case.rollback})
        results[engine] = {states = h.states(res), attempts = {}, rb_attempts = {}}
        for id, t in pairs(res.tasks) do
          results[engine].attempts[id] = t.attempts
          results[engine].rb_attempts[id] = t.rollback and t.rollback.attempts
        end
      end
      assert.same(results.pool.states, results.levels.states)
      assert.same(results.pool.states, results.sequential.states)
      assert.same(results.pool.rb_attempts, results.levels.rb_attempts)
      assert.same(results.pool.rb_attempts, results.sequential.rb_attempts)
      if case.rollback ~= "workflow" then
        assert.same(results.pool.attempts, results.levels.attempts)
        assert.same(results.pool.attempts, results.sequential.attempts)
      end
    end
  end)

  it("the mixed workflows exercise failures, skips and rollbacks", function()
    local res = h.run(mixed_workflow(1, 40), {max_parallel = 4, pools = {p = 2}})
    assert.is_true(res.counts.failed > 0)
    assert.is_true(res.counts.skipped > 0)
    assert.is_true(res.counts.rolled_back > 0)
    assert.is_true(res.counts.rollback_failed > 0)
    assert.is_true(res.counts.succeeded > 0)
    local retried = 0
    for _, t in pairs(res.tasks) do
      if t.rollback and t.rollback.attempts > 1 then retried = retried + 1 end
    end
    assert.is_true(retried > 0)
  end)

  it("levels: no task starts before every task of the level before has ended", function()
    local wf = pd.workflow("lv")
    -- level 0: a fast and a slow task; level 1: c needs only the fast one
    wf:task{id = "fast", run = noop}
    wf:task{id = "slow", run = function() pd.sleep(0.1) end}
    wf:task{id = "c", deps = {"fast"}, run = noop}
    local res = h.run(wf, {engine = "levels", max_parallel = 4})
    assert.is_true(res.tasks.c.started >= res.tasks.slow.finished)
    local pool = h.run(wf, {engine = "pool", max_parallel = 4})
    assert.is_true(pool.tasks.c.started < pool.tasks.slow.finished)
  end)

  it("levels: a failed level still opens the next for independent tasks", function()
    local wf = pd.workflow("lv")
    wf:task{id = "bad", run = function() error("x") end}
    wf:task{id = "ok", run = noop}
    wf:task{id = "after_bad", deps = {"bad"}, run = noop}
    wf:task{id = "after_ok", deps = {"ok"}, run = noop}
    local res = h.run(wf, {engine = "levels", rollback = "none"})
    assert.equal("skipped", res.tasks.after_bad.state)
    assert.equal("succeeded", res.tasks.after_ok.state)
  end)

  it("sequential: one task at a time, in topological order", function()
    local g = h.gauge()
    local started = {}
    local wf = pd.workflow("seq")
    for _, spec in ipairs {{"c", {"a", "b"}}, {"a", {}}, {"b", {"a"}}, {"d", {}}} do
      wf:task{id = spec[1], deps = spec[2], run = function(t)
        g.enter(); started[#started + 1] = t.id; pd.sleep(0.005); g.leave()
      end}
    end
    local res = h.run(wf, {engine = "sequential", max_parallel = 8})
    assert.is_true(res.ok)
    assert.equal(1, g.peak())
    assert.same(wf:order(), started)
  end)

  it("pool: starts the ready task with the longest chain behind it first", function()
    local started = {}
    local wf = pd.workflow("cp")
    local function rec(t) started[#started + 1] = t.id end
    wf:task{id = "short", weight = 0.5, run = rec}
    wf:task{id = "long1", run = rec}
    wf:task{id = "long2", deps = {"long1"}, run = rec}
    wf:task{id = "long3", deps = {"long2"}, run = rec}
    wf:task{id = "heavy", weight = 10, run = rec}
    h.run(wf, {engine = "pool", max_parallel = 1})
    assert.same({"heavy", "long1", "long2", "long3", "short"}, started)
  end)

  it("pool: a full pool does not block ready tasks of other pools", function()
    local wf = pd.workflow("pools")
    wf:task{id = "p1", pool = "p", weight = 5, run = function() pd.sleep(0.1) end}
    wf:task{id = "p2", pool = "p", weight = 5, run = noop}
    wf:task{id = "free", run = noop}
    local res = h.run(wf, {max_parallel = 2, pools = {p = 1}})
    local t = res.tasks
    assert.is_true(t.free.finished < t.p1.finished, "free waited behind the pool")
    assert.is_true(t.p2.started >= t.p1.finished, "the pool's capacity was exceeded")
  end)
end)
