--- pdlua.progress: the default progress line of `wf:run` and the default
-- printer of `t:log` lines, both on stderr.
-- On a terminal the progress line is redrawn in place; otherwise a plain
-- line is written at each tick. A run that ends before its first tick
-- prints nothing, so short runs in scripts and tests stay quiet. A later
-- issue polishes this; keep it small.
local host_ok, host = pcall(require, "pdlua.host")

local M = {}

local function is_tty()
  return host_ok and host.isatty("stderr")
end

local function fmt_time(s)
  if not s then return "?" end
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%.1fs"):format(s)
end

--- Formats a progress snapshot as one line.
-- @param p the table given to `on_progress`
-- @return string
function M.line(p)
  local c = p.counts
  local bad = c.failed + c.timed_out + c.cancelled + c.rollback_failed
  local parts = {("%s: %d/%d done"):format(p.name, p.done, p.total),
                 ("%d running"):format(c.running)}
  if bad > 0 then parts[#parts + 1] = ("%d failed"):format(bad) end
  if c.skipped > 0 then parts[#parts + 1] = ("%d skipped"):format(c.skipped) end
  if c.rolled_back > 0 then parts[#parts + 1] = ("%d rolled back"):format(c.rolled_back) end
  parts[#parts + 1] = "elapsed " .. fmt_time(p.elapsed)
  if not p.finished and p.eta then parts[#parts + 1] = "eta " .. fmt_time(p.eta) end
  return table.concat(parts, ", ")
end

--- Makes the default `on_progress` for a run.
-- @param name the workflow's name
-- @param interval seconds between ticks
-- @return function(p)
function M.printer(name, interval)
  local tty = is_tty()
  local shown = false
  return function(p)
    if p.finished and not shown then return end
    shown = true
    local line = M.line(p)
    if tty then
      io.stderr:write("\r\27[K", line, p.finished and "\n" or "")
    else
      io.stderr:write(line, "\n")
    end
    io.stderr:flush()
  end
end

--- Prints a `t:log(...)` line: "[12.3s] task-id: message".
-- @param e the log event
function M.log(e)
  local prefix = is_tty() and "\r\27[K" or ""
  io.stderr:write(prefix, ("[%s] %s: %s\n"):format(fmt_time(e.time), e.task, e.message or ""))
  io.stderr:flush()
end

return M
