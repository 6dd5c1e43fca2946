-- SIGINT/SIGTERM reaching a run (docs/design.md, "Threading model"): the
-- first signal stops the run gracefully — running tasks cancelled,
-- rollbacks run, the result returned, exit code 130 — and a second one
-- exits at once with 130.
local env = require "support.env"
local h = require "support.engine"

-- Starts `pdlua script` in the background; returns paths of its stdout,
-- stderr and exit-code files.
local function spawn(script)
  local base = os.tmpname()
  local out, err, code = base .. ".out", base .. ".err", base .. ".code"
  os.remove(base)
  local cmd = ("(%s %s >%s 2>%s </dev/null; echo $? >%s) >/dev/null 2>&1 &"):format(
    env.quote(env.pdlua), env.quote(script), env.quote(out), env.quote(err), env.quote(code))
  assert(os.execute(cmd))
  return {out = out, err = err, code = code}
end

local function cleanup(p, script)
  for _, f in pairs(p) do os.remove(f) end
  os.remove(script)
end

-- The script prints "ready <pid>" once its long task is running.
local prelude = [[
local function pid() return io.open("/proc/self/stat"):read("n") end
local wf = pd.workflow("interrupted")
wf:task{id = "step1", group = "disk", run = function() end,
        rollback = function(t) print("rolled back " .. t.id); io.stdout:flush() %s end}
wf:task{id = "step2", group = "disk", deps = {"step1"}, run = function()
  print("ready " .. pid()); io.stdout:flush()
  pd.sleep(60)
end}
wf:task{id = "step3", group = "disk", deps = {"step2"}, run = function() end}
local res = wf:run{progress = false}
print("result " .. res.tasks.step2.state .. " " .. res.tasks.step1.state .. " " ..
      res.tasks.step3.state .. " " .. tostring(res.cancelled))
]]

describe("signals", function()
  it("a first SIGINT stops the run gracefully: rollbacks run, exit 130", function()
    local script = h.script(prelude:format(""))
    local p = spawn(script)
    local pid = h.wait_for(function() return (h.slurp(p.out) or ""):match("ready (%d+)") end)
    assert.is_truthy(pid, "the child never got ready: " .. tostring(h.slurp(p.err)))
    local t0 = pd.now()
    os.execute("kill -INT " .. pid)
    local code = h.wait_for(function() return h.slurp(p.code) end)
    local out, err = h.slurp(p.out), h.slurp(p.err)
    cleanup(p, script)
    assert.is_truthy(code, "the child did not exit")
    assert.is_true(pd.now() - t0 < 20)
    assert.equal("130", code:match("%d+"))
    assert.matches("rolled back step1", out)
    assert.matches("result cancelled rolled_back skipped true", out)
    assert.matches("stopping gracefully", err)
  end)

  it("a second SIGINT exits at once with 130, even while rollbacks run", function()
    -- the rollback hangs, so only the second signal can end the process
    local script = h.script(prelude:format("pd.sleep(60)"))
    local p = spawn(script)
    local pid = h.wait_for(function() return (h.slurp(p.out) or ""):match("ready (%d+)") end)
    assert.is_truthy(pid)
    os.execute("kill -INT " .. pid)
    assert.is_truthy(h.wait_for(function()
      return (h.slurp(p.out) or ""):match("rolled back step1")
    end), "the rollback never started")
    local t0 = pd.now()
    os.execute("kill -INT " .. pid)
    local code = h.wait_for(function() return h.slurp(p.code) end)
    local err = h.slurp(p.err)
    cleanup(p, script)
    assert.is_truthy(code)
    assert.is_true(pd.now() - t0 < 10)
    assert.equal("130", code:match("%d+"))
    assert.matches("interrupted again", err)
  end)

  it("SIGTERM stops a run the same way", function()
    local script = h.script(prelude:format(""))
    local p = spawn(script)
    local pid = h.wait_for(function() return (h.slurp(p.out) or ""):match("ready (%d+)") end)
    assert.is_truthy(pid)
    os.execute("kill -TERM " .. pid)
    local code = h.wait_for(function() return h.slurp(p.code) end)
    local out = h.slurp(p.out)
    cleanup(p, script)
    assert.equal("130", (code or ""):match("%d+"))
    assert.matches("rolled back step1", out)
  end)
end)
