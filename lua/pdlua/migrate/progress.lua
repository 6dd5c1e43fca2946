--- pdlua.migrate.progress: what a person watching a migration sees.
-- A status line on standard error, redrawn in place on a terminal (ninja
-- style) and printed every few seconds otherwise, plus one line for each
-- thing worth knowing as it happens: a disk done, a step failing, a group
-- being put back. `--events FILE` gets every engine event as a JSON line.
-- Callbacks run on the thread that called wf:run, never on workers.
local json = require "pdlua.migrate.json"

local M = {}

local function isatty()
  local ok, host = pcall(require, "pdlua.host")
  return ok and host.isatty and host.isatty("stderr") or false
end

--- Creates the callbacks.
-- @tparam table p {quiet, events (path), total_items, out (file, default
--   io.stderr)}
-- @treturn table {on_progress, on_event, log, close}
function M.new(p)
  local out = p.out or io.stderr
  local tty = not p.quiet and isatty() and os.getenv("TERM") ~= "dumb"
  local events
  if p.events then
    events = assert(io.open(p.events, "a"))
    events:setvbuf("line")
  end
  local last_line, last_print = nil, -math.huge
  local self = { done_items = 0 }

  local function clear()
    if tty and last_line then out:write("\r\27[K") end
  end
  local function emit(line)
    if p.quiet then return end
    clear()
    out:write(line, "\n")
    if tty and last_line then out:write(last_line) end
    out:flush()
  end
  self.log = emit

  function self.on_progress(pr)
    if p.quiet then return end
    local c = pr.counts or {}
    local total = 0
    for _, n in pairs(c) do total = total + n end
    local finished = (c.succeeded or 0) + (c.failed or 0) + (c.skipped or 0) + (c.cancelled or 0)
      + (c.timed_out or 0) + (c.rolled_back or 0) + (c.rollback_failed or 0)
    local line = ("[%d/%d steps] %d running%s%s"):format(finished, total, c.running or 0,
      ((c.failed or 0) + (c.timed_out or 0)) > 0 and (", %d failed"):format((c.failed or 0) + (c.timed_out or 0)) or "",
      pr.eta and pr.eta == pr.eta and pr.eta < math.huge and (", eta %ds"):format(math.floor(pr.eta + 0.5)) or "")
    if tty then
      out:write("\r\27[K", line)
      out:flush()
      last_line = line
    else
      local now = os.time()
      if now - last_print >= 5 then
        out:write(line, "\n")
        out:flush()
        last_print = now
      end
    end
  end

  function self.on_event(e)
    if events then events:write(json.encode(e), "\n") end
    if p.quiet or type(e) ~= "table" then return end
    local id, state = tostring(e.id or e.task or ""), e.state
    local step = id:match("^([%w_]+):") or ""
    if state == "failed" or state == "timed_out" or state == "rollback_failed" then
      emit(("%s %s: %s"):format(id, state:gsub("_", " "), tostring(e.error or "")))
    elseif state == "succeeded" and step == "verify" then
      self.done_items = self.done_items + 1
      emit(("migrated %s (%d/%d)"):format(id:match(":(.*)$"), self.done_items, p.total_items or 0))
    elseif state == "rolled_back" and step == "begin" then
      emit(("put back %s"):format(id:match(":(.*)$")))
    end
  end

  function self.close()
    if tty and last_line then
      out:write("\r\27[K")
      out:flush()
      last_line = nil
    end
    if events then events:close() end
  end
  return self
end

return M
