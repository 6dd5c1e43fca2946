-- pdlua.progress: the status block (a pure function of a snapshot), the
-- plain lines off a terminal, the display's terminal layer, and wf:run's
-- default display and events file seen from outside.
local progress = require "pdlua.progress"
local env = require "support.env"
local json = require "pdlua.json"

local function counts(t)
  local c = {}
  for _, s in ipairs(pd.states) do c[s] = 0 end
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- A file-like sink that keeps what is written.
local function sink()
  local s = {buf = {}}
  function s:write(...) for _, x in ipairs{...} do self.buf[#self.buf + 1] = x end return self end
  function s:flush() end
  function s:text() return table.concat(self.buf) end
  return s
end

local function script(src)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  return path
end

describe("progress.duration", function()
  it("reads like a person would say it", function()
    assert.equal("0.0s", progress.duration(0))
    assert.equal("4.2s", progress.duration(4.24))
    assert.equal("3m07s", progress.duration(187.9))
    assert.equal("2h05m", progress.duration(7500))
    assert.equal("?", progress.duration(nil))
    assert.equal("?", progress.duration(math.huge))
  end)
end)

describe("progress.block", function()
  local snap = {
    name = "migrate p-z", done = 412, total = 1000, width = 80, color = false,
    counts = counts{running = 12, failed = 2, timed_out = 1, rolled_back = 1, succeeded = 408},
    running = {{id = "snapshot:data-17", age = 123}, {id = "create:data-9", age = 100.2},
               {id = "swap:data-3", age = 55}, {id = "label:data-1", age = 1}},
    retries = 5, elapsed = 252, eta = 361,
  }

  it("draws a bar, [done/total], counts, elapsed, eta and the slowest steps", function()
    assert.same({
      "[412/1000] [################------------------------]  41%  migrate p-z",
      "12 running, 3 failed, 1 rolled back, 5 retries, elapsed 4m12s, eta 6m01s",
      "    2m03s  snapshot:data-17",
      "    1m40s  create:data-9",
      "    55.0s  swap:data-3",
    }, progress.block(snap))
  end)

  it("never writes into the last column and shrinks the bar to fit", function()
    local s = setmetatable({width = 60}, {__index = snap})
    local lines = progress.block(s)
    for _, l in ipairs(lines) do assert.is_true(#l <= 59, l) end
    assert.equal("[412/1000] [###########-----------------]  41%  migrate p-z", lines[1])
    assert.equal("12 running, 3 failed, 1 rolled back, 5 retries, elapsed 4m1", lines[2])
  end)

  it("drops the bar on a very narrow terminal", function()
    local lines = progress.block(setmetatable({width = 30}, {__index = snap}))
    assert.equal("[412/1000]  41%  migrate p-z", lines[1])
  end)

  it("colours only when asked, and the visible text stays the same", function()
    local s = setmetatable({color = true}, {__index = snap})
    local lines = progress.block(s)
    assert.matches("\27%[32m#+\27%[0m", lines[1])
    assert.matches("\27%[31m3 failed\27%[0m", lines[2])
    for i, l in ipairs(lines) do
      assert.equal(progress.block(snap)[i], (l:gsub("\27%[%d+m", "")))
    end
  end)

  it("says skipped and cancelled only when there are some, and no eta when done", function()
    local lines = progress.block{name = "w", done = 3, total = 3, width = 100, elapsed = 2,
      counts = counts{succeeded = 1, skipped = 1, cancelled = 1}, running = {}}
    assert.same({"[3/3] [########################################] 100%  w",
                 "0 running, 0 failed, 0 rolled back, 1 cancelled, 1 skipped, 0 retries, elapsed 2.0s"},
                lines)
  end)
end)

describe("progress.summary and describe", function()
  it("makes one plain line off a terminal", function()
    assert.equal("w: 3/10 done, 2 running, 1 failed, 1 rolled back, 4 retries, elapsed 1.5s, eta 3.5s",
      progress.summary{name = "w", done = 3, total = 10, elapsed = 1.5, eta = 3.5, retries = 4,
                       counts = counts{running = 2, failed = 1, rolled_back = 1}})
  end)

  it("speaks of failures, rollbacks and logs; of the rest only when verbose", function()
    local err = pd.error{code = 404, reason = "notFound", message = "no disk"}
    assert.equal("snapshot:d failed (attempt 2): " .. tostring(err), progress.describe(
      {type = "state", task = "snapshot:d", state = "failed", attempt = 2, error = err}))
    assert.equal("create:d rolled back", progress.describe(
      {type = "state", task = "create:d", state = "rolled_back", attempt = 1}))
    assert.equal("[1.5s] t: hi", progress.describe({type = "log", task = "t", time = 1.5, message = "hi"}))
    local ok = {type = "state", task = "t", state = "succeeded", attempt = 1}
    assert.is_nil(progress.describe(ok))
    assert.equal("t succeeded", progress.describe(ok, true))
    local retry = {type = "state", task = "t", state = "pending", attempt = 1, retry_in = 2,
                   error = "boom"}
    assert.is_nil(progress.describe(retry))
    assert.equal("t attempt 1 failed, retry in 2.0s: boom", progress.describe(retry, true))
    local rb_retry = {type = "state", task = "t", state = "pending", attempt = 2, retry_in = 1,
                      error = "busy", rollback = true}
    assert.is_nil(progress.describe(rb_retry))
    assert.equal("t rollback attempt 2 failed, retry in 1.0s: busy",
                 progress.describe(rb_retry, true))
  end)
end)

describe("progress display", function()
  local function p(done, elapsed, extra)
    local t = {name = "w", done = done, total = 4, elapsed = elapsed,
               counts = counts{running = 1, succeeded = done}, running = {"b"}}
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end

  it("on a terminal redraws one block in place and prints failures above it", function()
    local out = sink()
    local d = progress.new{tty = true, color = false, out = out, width = 80, redraw = 0.1}
    d.on_event{type = "state", task = "b", state = "running", previous = "pending", time = 0.2, attempt = 1}
    d.on_progress(p(1, 1.0))
    d.on_progress(p(1, 1.05))                   -- within the redraw interval: nothing
    local first = out:text()
    assert.equal("[1/4] [##########------------------------------]  25%  w\n" ..
                 "1 running, 0 failed, 0 rolled back, 0 retries, elapsed 1.0s\n" ..
                 "     0.8s  b", first)
    d.on_event{type = "state", task = "c", state = "failed", previous = "running", time = 1.1,
               attempt = 1, error = "broken"}
    local after = out:text():sub(#first + 1)
    -- up two lines, clear, the failure, then the block again
    local clear_and_say = "\r\27[2A\27[Jc failed: broken\n"
    assert.equal(clear_and_say, after:sub(1, #clear_and_say))
    assert.matches("^%[1/4%]", after:sub(#clear_and_say + 1))
    d.on_progress(p(4, 2.0, {finished = true, counts = counts{succeeded = 3, failed = 1}, running = {}}))
    assert.matches("\r\27%[2A\27%[Jw: 4/4 done, 0 running, 1 failed, elapsed 2.0s\n$", out:text())
  end)

  it("off a terminal writes time-stamped lines and no control codes", function()
    local out = sink()
    local d = progress.new{tty = false, out = out, summary_every = 1,
                           clock = function() return "12:00:00" end}
    d.on_progress(p(0, 0.5))
    d.on_progress(p(1, 0.9))                    -- less than a second later: nothing
    d.on_event{type = "state", task = "c", state = "timed_out", attempt = 1, time = 1, error = "late"}
    d.on_progress(p(2, 1.6))
    d.on_progress(p(4, 2.0, {finished = true, counts = counts{succeeded = 3, timed_out = 1}}))
    assert.equal(table.concat({
      "12:00:00 w: 0/4 done, 1 running, elapsed 0.5s",
      "12:00:00 c timed out: late",
      "12:00:00 w: 2/4 done, 1 running, elapsed 1.6s",
      "12:00:00 w: 4/4 done, 0 running, 1 failed, elapsed 2.0s", ""}, "\n"), out:text())
    assert.is_nil(out:text():find("\27", 1, true))
  end)

  it("says nothing for a run that ends before its first tick, or when quiet", function()
    local out = sink()
    local d = progress.new{tty = true, out = out}
    d.on_progress(p(4, 0.01, {finished = true}))
    assert.equal("", out:text())
    local q = progress.new{tty = false, quiet = true, out = out}
    q.on_event{type = "state", task = "c", state = "failed", attempt = 1, time = 1}
    q.on_progress(p(1, 5))
    q.on_progress(p(4, 6, {finished = true}))
    assert.equal("", out:text())
  end)

  it("verbose prints every state change", function()
    local out = sink()
    local d = progress.new{tty = false, verbose = true, out = out, clock = function() return "T" end}
    d.on_event{type = "state", task = "a", state = "running", previous = "pending", attempt = 1, time = 0}
    d.on_event{type = "state", task = "a", state = "succeeded", previous = "running", attempt = 1, time = 1}
    assert.equal("T a running\nT a succeeded\n", out:text())
  end)
end)

describe("wf:run's default display and events file", function()
  it("off a terminal prints time-stamped progress and the failure, never an escape", function()
    local path = script([[
      local wf = pd.workflow("shown")
      for i = 1, 3 do wf:task{id = "t" .. i, run = function() pd.sleep(0.1) end} end
      wf:task{id = "bad", run = function() error("disk on fire") end}
      local res = wf:run{max_parallel = 1, progress_interval = 0.05}
      print(res.ok)
    ]])
    local out, err, code = env.pdlua_run(env.quote(path))
    os.remove(path)
    assert.equal(0, code, err)
    assert.equal("false\n", out)
    assert.matches("^%d%d:%d%d:%d%d shown: %d/4 done, 1 running", err)
    assert.matches("\n%d%d:%d%d:%d%d bad failed: [^\n]*disk on fire\n", err)
    assert.matches("\n%d%d:%d%d:%d%d shown: 4/4 done, 0 running, 1 failed, elapsed [%d.]+s\n$", err)
    assert.is_nil(err:find("\27", 1, true))
  end)

  it("progress = false stays silent even with failures", function()
    local path = script([[
      local wf = pd.workflow("q")
      wf:task{id = "bad", run = function() pd.sleep(0.1) error("x") end}
      wf:run{progress = false, progress_interval = 0.02}
    ]])
    local _, err = env.pdlua_run(env.quote(path))
    os.remove(path)
    assert.equal("", err)
  end)

  it("writes every state change as a JSON line that accounts for every task", function()
    local events = os.tmpname()
    os.remove(events)
    local path = script(([[
      local wf = pd.workflow("audit")
      local n = 0
      wf:task{id = "a", run = function(t) t:log("hello") end}
      wf:task{id = "flaky", retries = {max = 2, backoff = 0.01}, run = function(t)
        if t.attempt < 2 then error(pd.error{reason = "rateLimitExceeded", code = 429,
                                             message = "slow", retryable = true}) end end}
      wf:task{id = "b", deps = {"a"}, group = "g", run = function() end,
              rollback = function() end}
      wf:task{id = "c", deps = {"b"}, group = "g", run = function() error("nope") end}
      wf:task{id = "d", deps = {"c"}, run = function() end}
      local seen = 0
      local res = wf:run{progress = false, events = %q, run_id = "r-1",
                         on_event = function() seen = seen + 1 end}
      print(res.exit_code, seen > 0)
    ]]):format(events))
    local out, err, code = env.pdlua_run(env.quote(path))
    os.remove(path)
    assert.equal(0, code, err)
    assert.equal("1\ttrue\n", out)
    local lines = {}
    for l in io.lines(events) do lines[#lines + 1] = json.decode(l) end
    os.remove(events)
    local final, kinds = {}, {}
    for _, r in ipairs(lines) do
      assert.equal("r-1", r.run)
      assert.equal("audit", r.workflow)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.time)
      kinds[r.kind] = (kinds[r.kind] or 0) + 1
      if r.task then final[r.task] = r.state end
    end
    assert.same({kind = "run", state = "started", total = 5},
                {kind = lines[1].kind, state = lines[1].state, total = lines[1].total})
    local last = lines[#lines]
    assert.equal("finished", last.state)
    assert.equal(1, last.exit_code)
    assert.same({a = "succeeded", flaky = "succeeded", b = "rolled_back", c = "failed",
                 d = "skipped"}, final)
    assert.equal(1, kinds.retry)
    assert.equal(1, kinds.log)
    assert.equal(1, kinds.rollback)
    for _, r in ipairs(lines) do
      if r.kind == "state" and r.state == "failed" then
        assert.matches("nope", r.error.message)
        assert.is_true(r.duration >= 0)
      end
      if r.kind == "retry" then
        assert.same({code = 429, reason = "rateLimitExceeded", message = "slow", retryable = true},
                    r.error)
      end
    end
  end)

  it("marks the lines of a rollback, its retries included, in the events file", function()
    local events = os.tmpname()
    os.remove(events)
    local wf = pd.workflow("audit")
    wf:task{id = "b", group = "g", retries = {max = 1, backoff = 0.01}, run = function() end,
            rollback = function(t)
              if t.attempt == 1 then
                error(pd.error{reason = "backendError", message = "busy", retryable = true})
              end
            end}
    wf:task{id = "c", deps = {"b"}, group = "g", run = function() error("nope") end}
    local res = wf:run{progress = false, events = events, run_id = "r-2"}
    assert.equal("rolled_back", res.tasks.b.state)
    local lines = {}
    for l in io.lines(events) do
      local r = json.decode(l)
      if r.task == "b" then lines[#lines + 1] = r end
    end
    os.remove(events)
    local got = {}
    for _, r in ipairs(lines) do
      got[#got + 1] = ("%s:%s:%d:%s"):format(r.kind, r.state, r.attempt, tostring(r.rollback))
    end
    assert.same({"state:running:1:nil", "state:succeeded:1:nil",
                 "rollback:rolling_back:1:true", "retry:pending:1:true",
                 "rollback:rolling_back:2:true", "state:rolled_back:2:true"}, got)
    assert.equal("busy", lines[4].error.message)
    assert.is_true(lines[4].duration >= 0)
  end)

  it("refuses an events file it cannot open, before starting anything", function()
    local wf = pd.workflow("x")
    local ran = false
    wf:task{id = "a", run = function() ran = true end}
    local ok, err = pcall(wf.run, wf, {progress = false, events = "/nonexistent/dir/ev.jsonl"})
    assert.is_false(ok)
    assert.equal("invalidArgument", err.reason)
    assert.equal(2, err.exit_code)
    assert.is_false(ran)
  end)
end)
