--- pdlua: the public Lua API (DESIGN.md, "Public Lua API").
-- `require "pdlua"` returns this table; scripts and the REPL also see it as
-- the global `pd`. The C core gives the clock, sleep and errors; the engine
-- (src/engine, bound as `pdlua.engine`) gives workflows, contexts and
-- semaphores. The Lua pieces the engine uses — the result's methods, the
-- default progress and log printers — are handed to it here.
local core = require "pdlua.core"
local engine = require "pdlua.engine"
local progress = require "pdlua.progress"
local result = require "pdlua.result"

engine.configure {
  result_mt = result.mt,
  progress_printer = progress.printer,
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
-- Add tasks with `wf:task{id=, run=, deps=, ...}`, run it with `wf:run{...}`.
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
