--- pdlua: the public Lua API (docs/design.md, "Public Lua API"; docs/api.md).
-- `require "pdlua"` returns this table; scripts and the REPL also see it as
-- the global `pd`. The C core gives the clock, sleep and errors; the engine
-- (src/engine, bound as `pdlua.engine`) gives workflows, contexts and
-- semaphores. The Lua pieces the engine uses — the result's methods, the
-- observer of every run, the printer of log lines — are handed to it here.
local core = require "pdlua.core"
local engine = require "pdlua.engine"
local progress = require "pdlua.progress"
local result = require "pdlua.result"

engine.configure {
  result_mt = result.mt,
  observe = progress.observer,   -- the status display, `events = path`
  logger = progress.log,
}

local pd = {
  version = core.version,
  now = core.now,        -- monotonic seconds, a float
  sleep = core.sleep,    -- interruptible; releases the interpreter lock
  check = core.check,    -- raises if the calling task was cancelled or timed out
  error = core.error,    -- pd.error{reason=, message=, retryable=, code=}
  is_error = core.is_error,
  states = engine.states, -- task states, in life-cycle order
}

--- A new, empty workflow.
--
-- `wf:task{...}` adds a task and returns its id. Fields: `id` (unique),
-- `run = function(t, ctx)`, `rollback = function(t, ctx)`, `deps` (ids, or
-- one id), `timeout` and `rollback_timeout` (seconds; `false` for none),
-- `retries` (a number, or `{max =, backoff =, max_backoff =}`), `pool`,
-- `group`, `weight` (estimated cost, for critical-path ordering; 1 by
-- default), `data` (any value, seen as `t.data`). `t` has `id`, `attempt`
-- (in a rollback, the rollback's), `data`, `rollback` (true in a rollback)
-- and `t:log(...)`.
--
-- `wf:order()`, `wf:levels()`, `wf:dot()`, `wf:critical_path()` analyse the
-- graph; an unknown dependency or a cycle raises an error naming it
-- (reason "invalidWorkflow", `exit_code = 2`).
--
-- `wf:run{...}` options: `max_parallel` (10), `engine` ("pool", "levels",
-- "sequential"), `pools = {name = capacity}` (a pool not listed is
-- unlimited), `task_timeout`, `deadline` (seconds for the whole run),
-- `retries` (default for tasks), `fail` ("continue" or "fail_fast"),
-- `rollback` ("group", "workflow" or "none"), `context`, `on_event`,
-- `on_progress`, `progress_interval` (1 s), `progress = false` (no default
-- progress line), `seed` (backoff jitter). Callbacks run on the thread
-- that called `wf:run`, in order; an error in one cancels the run and is
-- raised once it has stopped. `wf:cancel()` (from a task or a callback)
-- stops the run gracefully.
--
-- Policies: `fail = "continue"` skips what depends on a failed task and
-- runs everything else; `"fail_fast"` starts nothing more after the first
-- failure and cancels what runs. Rollback is separate: once every task of
-- a group (`rollback = "group"`) or of the workflow (`"workflow"`) has
-- ended and one of them did not succeed, the succeeded ones are rolled back
-- newest first, one at a time, each with its own timeout, even when the
-- run was cancelled. A rollback runs in its task's pool and is retried on
-- retryable errors like a run (the task's `retries`). Which tasks run
-- never depends on timing, so the three engines end a workflow in the same
-- states.
--
-- Events (`on_event(e)`): `e.type` is "state" (`task`, `state`,
-- `previous`, `attempt`, `time`, `error`; a failed attempt that will be
-- retried has `state = "pending"` and `retry_in`; a skip has `reason` and
-- `cause`), "rollback" (a rollback attempt starts) or "log" (`message`);
-- events from a rollback (a retry of it too) have `rollback = true`.
-- Progress (`on_progress(p)`): `p.counts` per state, `p.running` (ids),
-- `p.done`, `p.total`, `p.elapsed`, `p.eta`, `p.finished` (the last call).
--
-- The result: `ok`, `counts`, `total`, `makespan`, `stopped` ("cancelled",
-- "deadline", "fail_fast" or nil), `cancelled`, `exit_code` (0, 1, 130),
-- `ids` (in the order added), `tasks[id]` = {`state`, `attempts`,
-- `started`, `finished`, `duration` (seconds from the run's start),
-- `error`, `reason`, `cause`, `rollback` = {`state`, `attempts`, `error`,
-- `started`, `finished`, `duration`}}, and the methods `to_json()` and
-- `summary()`.
--
-- Tasks share one interpreter: Lua code runs one task at a time and the
-- others run while it waits (pd.sleep, a semaphore, HTTP). A task that
-- computes for more than a few milliseconds without waiting is paused now
-- and then so the others are not starved, so a read-modify-write of shared
-- Lua state across such a stretch is not atomic: keep shared counters and
-- lists in the context, whose methods are.
-- @param name shown in progress lines, results and `wf:dot()`
-- @return the workflow
function pd.workflow(name)
  return engine.workflow(name)
end

--- A typed shared context for a run.
-- @param fields `{name = "type"}`; types: string, integer, number, boolean,
--   table, list<T>, map<T>
-- @param initial optional `{name = value}`, checked like `ctx:set`
-- @return the context (`get`, `set`, `put`, `append`, `incr`, `snapshot`)
function pd.context(fields, initial)
  return engine.context(fields, initial)
end

--- A counting semaphore for limits inside tasks.
-- `:acquire([timeout])` waits with the interpreter lock released and stops
-- when the calling task times out or is cancelled; `:release()`;
-- `:with(fn, ...)` runs fn holding a permit.
-- @param n permits
function pd.semaphore(n)
  return engine.semaphore(n)
end

return pd
