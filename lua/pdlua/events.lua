--- pdlua.events: the events file — every state change of a run as one JSON
-- line, for dashboards and audits (`wf:run{events = path}`,
-- `migrate.lua --events FILE`). One writer for every run so that a
-- dashboard reads one format.
--
-- Each line is an object:
--
--   time      wall-clock time, ISO 8601 UTC with milliseconds
--   run       the run id (given, or made from the workflow name and time)
--   workflow  the workflow's name
--   kind      "run" (the run starts or ends), "state" (a task changes
--             state), "retry" (a failed attempt, of a run or a rollback,
--             will be retried), "rollback" (an attempt of a task's
--             rollback starts) or "log" (`t:log`)
--   task      the task id (not on "run" lines)
--   state     the new state ("started"/"finished" on "run" lines)
--   previous  the state before
--   attempt   the attempt number (1 for the first), of the rollback on
--             lines about one
--   rollback  true on lines about a task's rollback (its start, a retry
--             of it, its end, its `t:log` lines)
--   elapsed   seconds since the run started
--   duration  seconds the attempt or rollback ran, on the line that ends it
--   error     {code, reason, message, retryable} or a string, on failures
--   retry_in, reason, cause, message — as the engine gives them
--
-- The "run" line that ends a run carries `counts`, `ok`, `exit_code` and
-- `makespan`. Lines are written whole and flushed, so a crash loses at most
-- the line being written; the file is appended to, so a resumed run adds
-- to the same audit trail. A file the writer opened is fsynced when it is
-- closed. A write that fails (a full disk) is said once on stderr and the
-- file gets nothing more: the run goes on (the events file is for people
-- and dashboards; the run's own memory is its journal).
local json = require "pdlua.json"
local host_ok, host = pcall(require, "pdlua.host")

local M = {}

local function r6(x) return x and math.floor(x * 1e6 + 0.5) / 1e6 end

local function realtime()
  if host_ok and host.realtime then return host.realtime() end
  return os.time()
end

--- Formats a wall-clock time (seconds since the epoch) as ISO 8601 UTC.
function M.iso(t)
  local s = math.floor(t)
  local ms = math.floor((t - s) * 1000 + 0.5)
  if ms >= 1000 then s, ms = s + 1, 0 end
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. (".%03dZ"):format(ms)
end

--- An error value as plain JSON data.
function M.plain_error(err)
  if err == nil then return nil end
  if type(err) == "table" then
    return {code = err.code, reason = err.reason, message = err.message ~= nil
            and tostring(err.message) or tostring(err), retryable = err.retryable,
            operation = err.operation}
  end
  return tostring(err)
end

local ends = {succeeded = true, failed = true, timed_out = true, cancelled = true,
              rolled_back = true, rollback_failed = true}

--- A new writer.
-- @param target a path (opened for appending) or an open file
-- @param o `{run = id, workflow = name}`
-- @return the writer (`event(e)`, `run_started(total)`,
--   `run_finished(res)`, `close()`), or nil and a message
function M.open(target, o)
  o = o or {}
  local f, owned = target, false
  if type(target) == "string" then
    local err
    f, err = io.open(target, "a")
    if not f then return nil, err end
    f:setvbuf("no")   -- one write(2) a line: a failed one leaves nothing buffered
    owned = true
  elseif io.type(target) ~= "file" then
    return nil, "expected a path or an open file, got " .. type(target)
  end
  local t0 = realtime()
  local run = o.run or ((o.workflow or "run"):gsub("[^%w_.-]+", "-") .. "-"
    .. os.date("!%Y%m%dT%H%M%SZ", math.floor(t0)))
  local w = {run = run}
  local began = {}   -- task id -> elapsed when its attempt or rollback began
  local name = type(target) == "string" and target or "(events file)"

  -- The first failure, said once; nothing is written after it.
  local function failed(err)
    if w.failed then return end
    w.failed = ("%s: %s"):format(name, tostring(err or "write failed"))
    io.stderr:write("pdlua: cannot write the events file ", w.failed,
                    "; the events after this point are not in it\n")
  end

  local function put(rec)
    if w.failed then return end
    rec.run = run
    rec.workflow = o.workflow
    local ok, line = pcall(json.encode, rec)
    if not ok then
      line = json.encode{run = run, time = rec.time, kind = rec.kind, task = rec.task,
                         state = rec.state, error = "unencodable event: " .. tostring(line)}
    end
    local wok, err = f:write(line .. "\n")
    if wok then wok, err = f:flush() end
    if not wok then failed(err) end
  end

  --- Writes one engine event (the table given to `on_event`).
  function w:event(e)
    local rec = {time = M.iso(t0 + (e.time or 0)), elapsed = r6(e.time), task = e.task,
                 attempt = e.attempt, kind = e.type}
    if e.type == "state" then
      rec.state, rec.previous = e.state, e.previous
      if e.state == "running" then
        began[e.task] = e.time
      elseif began[e.task] and (ends[e.state] or e.retry_in) then
        rec.duration = r6(e.time - began[e.task])
        began[e.task] = nil
      end
      if e.retry_in then rec.kind, rec.retry_in = "retry", e.retry_in end
      rec.reason, rec.cause = e.reason, e.cause
    elseif e.type == "rollback" then
      rec.state = "rolling_back"
      began[e.task] = e.time
    elseif e.type == "log" then
      rec.message = e.message
    end
    rec.rollback = e.rollback
    rec.error = M.plain_error(e.error)
    put(rec)
  end

  --- Writes the line that opens a run.
  function w:run_started(total)
    put{time = M.iso(t0), elapsed = 0, kind = "run", state = "started", total = total}
  end

  --- Writes the line that closes a run, with its counts.
  function w:run_finished(res)
    local now = realtime()
    put{time = M.iso(now), elapsed = r6(now - t0), kind = "run", state = "finished",
        ok = res.ok, exit_code = res.exit_code, makespan = res.makespan,
        counts = res.counts, stopped = res.stopped}
  end

  --- Closes the file (one the writer opened is synced to the disk
  -- first). Returns true, or nil and the first failure.
  function w:close()
    if owned and io.type(f) == "file" then
      if not w.failed then
        local ok, err = f:flush()
        if ok and host_ok and host.fsync then ok, err = host.fsync(f) end
        if not ok then failed(err) end
      end
      local ok, err = f:close()
      if not ok then failed(err) end
    end
    if w.failed then return nil, w.failed end
    return true
  end

  return w
end

return M
