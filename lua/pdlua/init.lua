--- pdlua: the public Lua API (DESIGN.md, "Public Lua API").
-- `require "pdlua"` returns this table; scripts and the REPL also see it as
-- the global `pd`. The C core gives the clock, sleep and errors; the engine
-- (src/engine, bound as `pdlua.engine`) gives workflows, contexts and
-- semaphores.
local core = require "pdlua.core"

local pd = {
  version = core.version,
  now = core.now,        -- monotonic seconds, a float
  sleep = core.sleep,    -- interruptible; releases the interpreter lock
  check = core.check,    -- raises if the calling task was cancelled or timed out
  error = core.error,    -- pd.error{reason=, message=, retryable=, code=}
  is_error = core.is_error,
}

return pd
