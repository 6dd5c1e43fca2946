--- pdlua.progress: what a person watching a long run sees, on stderr.
--
-- Three layers, so each can be read and tested alone:
--
-- * pure formatters: `M.block(snapshot)` turns a progress snapshot (counts,
--   running steps with their ages, retries, elapsed, eta, width, colour)
--   into the lines of the status block; `M.summary(snapshot)` into the one
--   plain line written off a terminal; `M.describe(e)` an engine event into
--   the line printed above the block (a failure, a rollback, a log line).
-- * the display (`M.new{...}`): keeps the snapshot up to date from the
--   engine's `on_event` and `on_progress` calls and writes it — on a
--   terminal one block redrawn in place (cursor up, clear to end of
--   screen) at most ~10 times a second, with failures printed above it as
--   they happen; elsewhere `HH:MM:SS` timestamped lines, never a control
--   code. `quiet` prints nothing, `verbose` every state change; NO_COLOR
--   (or TERM=dumb) turns colour off.
-- * `M.install(engine)`: makes the display the default of `wf:run` and
--   adds the run options `events = path` (every state change as a JSON
--   line, through pdlua.events) and `progress = "verbose"`.
--
-- A run that ends before its first progress tick and had nothing to say
-- prints nothing, so short runs in scripts and tests stay quiet.
local host_ok, host = pcall(require, "pdlua.host")

local M = {}

local function getenv(name)
  local v = os.getenv(name)
  return v ~= nil and v ~= "" and v or nil
end

--- Whether stderr is a terminal that understands cursor movement.
function M.is_tty()
  return host_ok and host.isatty("stderr") and getenv("TERM") ~= "dumb" or false
end

--- Whether colour is wanted on a terminal: not with NO_COLOR set
-- (https://no-color.org) nor on a dumb terminal.
function M.color_wanted()
  return getenv("NO_COLOR") == nil and getenv("TERM") ~= "dumb"
end

--- A duration as people read it: "4.2s", "3m07s", "2h05m"; "?" for none.
-- @param s seconds (number or nil)
-- @return string
function M.duration(s)
  if not s or s ~= s or s == math.huge or s < 0 then return "?" end
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, math.floor(s % 60)) end
  return ("%.1fs"):format(s)
end

local RED, GREEN, YELLOW, DIM, RESET = "\27[31m", "\27[32m", "\27[33m", "\27[2m", "\27[0m"

local function n_failed(c)
  return (c.failed or 0) + (c.timed_out or 0) + (c.rollback_failed or 0)
end

-- A line is a list of segments {text, colour}; it is cut to the width on
-- its plain text, so escape codes never count and never get cut in half.
local function render(segs, width, color)
  local out, used = {}, 0
  for _, s in ipairs(segs) do
    local text = s[1]
    if width and used + #text > width then
      text = text:sub(1, math.max(0, width - used))
    end
    used = used + #text
    if color and s[2] and text ~= "" then
      out[#out + 1] = s[2] .. text .. RESET
    else
      out[#out + 1] = text
    end
    if width and used >= width then break end
  end
  return table.concat(out)
end

--- The status block for a progress snapshot: a pure function.
--
-- Snapshot fields: `name`, `done`, `total`, `counts` (per task state),
-- `running` (a list of `{id =, age =}`, slowest first), `retries`,
-- `elapsed`, `eta`, `width` (columns; 80 if absent), `color` (boolean),
-- `slowest` (how many running steps to list; 3 if absent).
-- @return list of strings, none longer than `width - 1` visible columns
function M.block(p)
  local width = (p.width or 80) - 1   -- never the last column: no autowrap
  local c = p.counts or {}
  local total, done = p.total or 0, p.done or 0
  local pct = total > 0 and math.floor(done * 100 / total) or 100
  local head = ("[%d/%d] "):format(done, total)
  local tail = (" %3d%%  %s"):format(pct, p.name or "")
  local barw = math.max(0, math.min(40, width - #head - #tail - 2))
  local lines = {}
  if barw >= 5 then
    local fill = total > 0 and math.floor(barw * done / total) or barw
    lines[1] = render({{head}, {"["}, {("#"):rep(fill), GREEN},
                       {("-"):rep(barw - fill), DIM}, {"]"}, {tail}}, width, p.color)
  else
    lines[1] = render({{head}, {tail:sub(2)}}, width, p.color)
  end
  local failed, rolled = n_failed(c), c.rolled_back or 0
  local segs = {{("%d running, "):format(c.running or 0)},
                {("%d failed"):format(failed), failed > 0 and RED or nil},
                {", "},
                {("%d rolled back"):format(rolled), rolled > 0 and YELLOW or nil},
                {(", %d retries, elapsed %s"):format(p.retries or 0, M.duration(p.elapsed))}}
  if (c.skipped or 0) > 0 then table.insert(segs, 5, {(", %d skipped"):format(c.skipped)}) end
  if (c.cancelled or 0) > 0 then table.insert(segs, 5, {(", %d cancelled"):format(c.cancelled)}) end
  if p.eta and done < total then segs[#segs + 1] = {", eta " .. M.duration(p.eta)} end
  lines[2] = render(segs, width, p.color)
  local running = p.running or {}
  for i = 1, math.min(p.slowest or 3, #running) do
    local r = running[i]
    lines[#lines + 1] = render({{("  %7s  "):format(M.duration(r.age)), DIM}, {r.id}},
                               width, p.color)
  end
  return lines
end

--- The plain progress line written off a terminal (no time stamp; the
-- display adds it): "name: 3/10 done, 2 running, 1 failed, ..., eta 4.0s".
function M.summary(p)
  local c = p.counts or {}
  local parts = {("%s: %d/%d done"):format(p.name or "", p.done or 0, p.total or 0),
                 ("%d running"):format(c.running or 0)}
  local failed = n_failed(c)
  if failed > 0 then parts[#parts + 1] = ("%d failed"):format(failed) end
  if (c.cancelled or 0) > 0 then parts[#parts + 1] = ("%d cancelled"):format(c.cancelled) end
  if (c.skipped or 0) > 0 then parts[#parts + 1] = ("%d skipped"):format(c.skipped) end
  if (c.rolled_back or 0) > 0 then parts[#parts + 1] = ("%d rolled back"):format(c.rolled_back) end
  if (p.retries or 0) > 0 then parts[#parts + 1] = ("%d retries"):format(p.retries) end
  parts[#parts + 1] = "elapsed " .. M.duration(p.elapsed)
  if p.eta and (p.done or 0) < (p.total or 0) then
    parts[#parts + 1] = "eta " .. M.duration(p.eta)
  end
  return table.concat(parts, ", ")
end

local loud = {failed = true, timed_out = true, rollback_failed = true, rolled_back = true}

local function err_text(err)
  if err == nil then return nil end
  local s = tostring(err)
  return (s:gsub("\n.*$", ""))   -- tracebacks belong in the events file
end

--- The line an engine event deserves above the block, or nil.
-- Failures, rollbacks and `t:log` lines always; with `verbose` every
-- state change, retries and skips too.
-- @param e the event given to `on_event`
-- @param verbose boolean
-- @return string and whether it is bad news (for colour), or nil
function M.describe(e, verbose)
  if e.type == "log" then
    return ("[%s] %s: %s"):format(M.duration(e.time), e.task, e.message or "")
  elseif e.type == "rollback" then
    if verbose then return ("%s rolling back"):format(e.task) end
    return nil
  end
  local s = e.state
  if s == "pending" and e.retry_in then
    if not verbose then return nil end
    return ("%s %s %d failed, retry in %s: %s"):format(e.task,
      e.rollback and "rollback attempt" or "attempt", e.attempt or 0,
      M.duration(e.retry_in), err_text(e.error) or "?")
  end
  if not (loud[s] or verbose) then return nil end
  local words = s:gsub("_", " ")
  local line = ("%s %s"):format(e.task, words)
  if (e.attempt or 0) > 1 then line = line .. (" (attempt %d)"):format(e.attempt) end
  if e.error ~= nil then line = line .. ": " .. err_text(e.error) end
  if s == "skipped" and e.cause then line = line .. " (" .. (e.reason or "") .. " " .. e.cause .. ")" end
  return line, s ~= "rolled_back" and loud[s] or false
end

--- A display for one run.
-- @param o `{name, total, out (file; io.stderr), tty (boolean; detected),
--   color (boolean; detected), quiet, verbose, width (columns; the
--   terminal's, else $COLUMNS, else 80), redraw (seconds between terminal redraws; 0.1), summary_every
--   (seconds between plain lines; 10), clock (function; os.date)}`
-- @return the display: `on_event(e)`, `on_progress(p)`, `print(line, bad)`,
--   `finish(p)`
function M.new(o)
  o = o or {}
  local out = o.out or io.stderr
  local tty = o.tty
  if tty == nil then tty = M.is_tty() end
  local color = tty and (o.color == nil and M.color_wanted() or o.color) or false
  local function width()
    return o.width or (host_ok and host.term_width and host.term_width())
      or tonumber(getenv("COLUMNS") or "") or 80
  end
  local redraw = o.redraw or 0.1
  local summary_every = o.summary_every or 10
  local clock = o.clock or function() return os.date("%H:%M:%S") end
  local d = {retries = 0}
  local since = {}          -- running task id -> the run time it started
  local drawn = 0           -- lines of the block on screen
  local last_draw, last_summary = -math.huge, -math.huge
  local last_p, shown = nil, false

  -- The signal thread writes "\npdlua: interrupted: ...\n" below the block
  -- when Ctrl-C arrives: the cursor is no longer where the block ends, so
  -- the old block stays on screen as it was and a new one starts below.
  local function signals()
    return host_ok and host.signal_count and host.signal_count() or 0
  end
  local seen_signals = signals()

  local function clear()
    local n = signals()
    if n ~= seen_signals then
      seen_signals = n
      drawn = 0
    end
    if drawn > 0 then
      out:write("\r", drawn > 1 and ("\27[" .. (drawn - 1) .. "A") or "", "\27[J")
      drawn = 0
    end
  end

  local function snapshot(p)
    local running = {}
    for _, id in ipairs(p.running or {}) do
      running[#running + 1] = {id = id, age = since[id] and (p.elapsed - since[id]) or nil}
    end
    table.sort(running, function(a, b) return (a.age or -1) > (b.age or -1) end)
    return {name = p.name or o.name, done = p.done, total = p.total or o.total,
            counts = p.counts, running = running, retries = d.retries,
            elapsed = p.elapsed, eta = p.eta, width = tty and width() or nil, color = color}
  end

  local function draw(p)
    local lines = M.block(snapshot(p))
    clear()
    out:write(table.concat(lines, "\n"))
    drawn = #lines
    out:flush()
  end

  --- Prints a line above the block (time-stamped off a terminal).
  function d.print(line, bad)
    if o.quiet then return end
    shown = true
    if tty then
      clear()
      out:write(color and bad and (RED .. line .. RESET) or line, "\n")
      if last_p then draw(last_p) end
    else
      out:write(clock(), " ", line, "\n")
    end
    out:flush()
  end

  function d.on_event(e)
    if e.type == "state" then
      if e.state == "running" then
        since[e.task] = e.time
      elseif e.previous == "running" then
        since[e.task] = nil
      end
      if e.state == "pending" and e.retry_in then d.retries = d.retries + 1 end
    end
    local line, bad = M.describe(e, o.verbose)
    if line then d.print(line, bad) end
  end

  function d.on_progress(p)
    if p.finished then return d.finish(p) end
    last_p = p
    if o.quiet then return end
    local now = p.elapsed or 0
    if tty then
      if now - last_draw >= redraw * 0.9 then
        last_draw = now
        shown = true
        draw(p)
      end
    elseif now - last_summary >= summary_every * 0.99 then
      last_summary = now
      shown = true
      out:write(clock(), " ", M.summary(snapshot(p)), "\n")
      out:flush()
    end
  end

  --- Ends the display: the block gives way to one final summary line.
  function d.finish(p)
    p = p or last_p
    if o.quiet or not shown or not p then clear(); return end
    clear()
    local line = M.summary(snapshot(p))
    if tty then out:write(line, "\n") else out:write(clock(), " ", line, "\n") end
    out:flush()
    shown = false
  end

  return d
end

--- The engine's default printer of `t:log(...)` lines.
function M.log(e)
  local line = M.describe(e)
  if line then
    io.stderr:write((M.is_tty() and "\r\27[K" or os.date("%H:%M:%S ")), line, "\n")
    io.stderr:flush()
  end
end

--- The one observer of a run (the engine calls it at the start of every
-- `wf:run`, pdlua.engine.configure{observe = ...}): the status display
-- unless `on_progress` is given or `progress = false` (`progress =
-- "verbose"` prints every state change), the events file (`events`, a path
-- appended to or an open file, with `run_id`), and the caller's own
-- `on_event`, all fed from one stream of events.
-- @treturn table {on_event, on_progress, finish(res, err), interval}
function M.observer(wf, opts)
  local events = require "pdlua.events"
  local mode = opts.progress
  local user_event, obs = opts.on_event, { on_progress = opts.on_progress }
  local display, writer
  if opts.on_progress == nil and mode ~= false then
    display = M.new{name = wf.name, total = #wf, verbose = mode == "verbose",
                    summary_every = opts.progress_interval}
    obs.on_progress = display.on_progress
    if opts.progress_interval == nil and M.is_tty() then obs.interval = 0.1 end
  end
  if opts.events ~= nil then
    local err
    writer, err = events.open(opts.events, {run = opts.run_id, workflow = wf.name})
    if not writer then
      error(require("pdlua.core").error{code = 400, reason = "invalidArgument", exit_code = 2,
        message = "wf:run: cannot open the events file: " .. tostring(err)}, 2)
    end
    writer:run_started(#wf)
  end
  if display or writer then
    obs.on_event = function(e)
      if writer then writer:event(e) end
      if display and (e.type ~= "log" or not user_event) then display.on_event(e) end
      if user_event then user_event(e) end
    end
  else
    obs.on_event = user_event
  end
  obs.finish = function(res, err)
    if display and err ~= nil then display.finish() end
    if writer then
      if res then writer:run_finished(res) end
      writer:close()
    end
  end
  return obs
end

return M
