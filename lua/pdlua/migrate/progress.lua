--- pdlua.migrate.progress: what a person watching a migration sees.
-- The shared display of pdlua.progress — one status block redrawn in place
-- on a terminal, `HH:MM:SS` lines elsewhere, failures and rollbacks printed
-- as they happen — plus the lines only a migration can say: a disk done, a
-- group being put back, the run's own log lines. `--events FILE` gets
-- every engine event as a JSON line through the shared writer
-- (pdlua.events). Callbacks run on the thread that called wf:run, never on
-- workers.
local progress = require "pdlua.progress"
local events_mod = require "pdlua.events"

local M = {}

--- Creates the callbacks.
-- @tparam table p {quiet, verbose, events (path), run (the run id for the
--   events file), name, total_items, out (file, default io.stderr), tty,
--   color, clock (tests)}
-- @treturn table {on_progress, on_event, log, close(res)}
function M.new(p)
  local display = progress.new { name = p.name, quiet = p.quiet, verbose = p.verbose,
                                 out = p.out, tty = p.tty, color = p.color, clock = p.clock,
                                 summary_every = p.summary_every }
  local events
  if p.events then
    events = assert(events_mod.open(p.events, { run = p.run, workflow = p.name }))
    events:run_started(nil)
  end
  -- On a terminal the block redraws ~10 times a second: pdlua.migrate (m:run)
  -- asks the engine for ticks that often.
  local self = { done_items = 0, tty = not p.quiet and (p.tty == nil and progress.is_tty() or p.tty) }

  --- A line above the status (a migration's own news).
  function self.log(line)
    display.print(line)
  end

  function self.on_progress(pr)
    display.on_progress(pr)
  end

  function self.on_event(e)
    if events then events:event(e) end
    if type(e) ~= "table" then return end
    display.on_event(e)
    local id, state = tostring(e.task or ""), e.state
    local step = id:match("^([%w_]+):") or ""
    if state == "succeeded" and step == "verify" then
      self.done_items = self.done_items + 1
      display.print(("migrated %s (%d/%d)"):format(id:match(":(.*)$"), self.done_items,
                                                   p.total_items or 0))
    elseif state == "rolled_back" and step == "begin" then
      display.print(("put back %s"):format(id:match(":(.*)$")))
    end
  end

  --- Ends the display; with the engine's result, closes the events file's
  -- run with its counts.
  function self.close(res)
    display.finish()
    if events then
      if res then events:run_finished(res) end
      events:close()
      events = nil
    end
  end
  return self
end

return M
