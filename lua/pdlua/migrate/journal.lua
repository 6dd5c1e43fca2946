--- pdlua.migrate.journal: the run's memory, as JSON lines on disk.
-- A run writes its plan here before the first change it makes, then one
-- line per state change (a task starting, succeeding, failing, being
-- rolled back; a fact a later step needs, such as a snapshot's id; an
-- item's final status). Each line goes to the kernel in one write and is
-- fsynced before `write` returns, so what a step does next is never ahead
-- of its journal, even after a power cut. A run killed at any point, kill
-- -9 included, leaves a journal whose lines are all complete but perhaps
-- the last, which `load` ignores. `--resume`, or the same command again,
-- reads it back: what succeeded is not done again, what was in flight is
-- re-checked against Compute Engine (every step is idempotent, so a line
-- lost between the API's success and its write costs one GET).
--
-- Every write is checked. The first that fails (a full disk, an I/O
-- error) is remembered in `j.failed` ("<path>: <error>"), the journal
-- writes nothing more, and the `on_failure` callback given to `open` is
-- called (once): the run must then start nothing new, since what it would
-- do could not be recorded.
--
-- Writes happen with the interpreter lock held (every task, callback and
-- the main script run Lua under it), so lines never interleave; the fsync
-- releases it (host.fsync), so other tasks run while the disk syncs.
local json = require "pdlua.json"

local host_ok, host = pcall(require, "pdlua.host")
local fsync = host_ok and host.fsync or nil
local write_atomic = host_ok and host.write_file_atomic or nil

local M = {}
M.__index = M

local encode = json.encode

--- A plan as this version names its fields: journals written before the
-- plan items' `to_type` became `target_type` are read the same way.
function M.upgrade_plan(plan)
  for _, item in ipairs(type(plan) == "table" and type(plan.items) == "table" and plan.items or {}) do
    if type(item) == "table" and item.target_type == nil then
      item.target_type, item.to_type = item.to_type, nil
    end
  end
  return plan
end

--- Creates the directory `dir` (and its parents) if missing.
function M.ensure_dir(dir)
  local ok = os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not ok then return nil, ("cannot create directory '%s'"):format(dir) end
  return true
end

--- Opens a journal for appending (creating it and its directory).
-- @tparam string path
-- @tparam[opt] table o {on_failure = function(message) called once when a
--   write fails, sync = false to skip the fsyncs (tests, benchmarks)}
-- @treturn journal|nil, string
function M.open(path, o)
  o = o or {}
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = M.ensure_dir(dir)
    if not ok then return nil, err end
  end
  local new = not M.exists(path)
  local f, err = io.open(path, "a")
  if not f then return nil, ("cannot open journal: %s"):format(err) end
  -- Unbuffered: each record is one write(2) of its whole line, and a write
  -- that fails leaves nothing behind in a buffer for close to write later.
  f:setvbuf("no")
  -- A new journal's name must outlive a crash as much as its lines.
  if new and o.sync ~= false and host_ok and host.sync_dir then
    local ok, serr = host.sync_dir(path)
    if not ok then
      f:close()
      return nil, ("cannot open journal: %s"):format(serr)
    end
  end
  return setmetatable({ path = path, file = f, lines = 0, on_failure = o.on_failure,
                        sync = o.sync ~= false and fsync ~= nil }, M)
end

-- Remembers the first failure, stops writing, tells the run.
function M:fail(err)
  if self.failed then return nil, self.failed end
  self.failed = ("%s: %s"):format(self.path, tostring(err or "write failed"))
  if self.on_failure then
    local ok, cb_err = pcall(self.on_failure, self.failed)
    if not ok then io.stderr:write("journal: on_failure: ", tostring(cb_err), "\n") end
  end
  return nil, self.failed
end

--- Appends one record, as one line, and syncs it to the disk. Adds the
-- wall-clock time as `ts`.
-- @treturn true|nil, string nil and `j.failed` once a write has failed
function M:write(rec)
  if self.failed then return nil, self.failed end
  if not self.file then return nil, self.path .. ": journal closed" end
  rec.ts = rec.ts or os.time()
  local ok, err = self.file:write(encode(rec) .. "\n")
  if ok then ok, err = self.file:flush() end
  if ok and self.sync then ok, err = fsync(self.file) end
  if not ok then return self:fail(err) end
  self.lines = self.lines + 1
  return true
end

--- Closes the journal.
-- @treturn true|nil, string nil and the failure when a write failed
function M:close()
  if self.file then
    local ok, err = self.file:close()
    self.file = nil
    if not ok and not self.failed then self:fail(err) end
  end
  if self.failed then return nil, self.failed end
  return true
end

-- Why a line cannot be read, in a few words.
local function unreadable(line, err)
  if line:match("^%s*$") then return "an empty line" end
  if err then
    err = tostring(err):gsub("^.-:%d+: ", "")
    return "not valid JSON (" .. err .. ")"
  end
  return "not a journal record"
end

--- Reads a journal back into the state a resumed run needs.
-- A line that cannot be read ends the reading: the lines after it are
-- ignored (their story may depend on it). When that line is the last one
-- it is a line cut short by a crash, which is normal and not a problem.
-- @tparam string path
-- @treturn table|nil state: {plan, tasks = {[id] = {state, attempt, group,
--   error}}, facts = {[item key] = {[name] = value}}, items = {[key] =
--   {status, error, action}}, groups = {[group key] = {generation, started,
--   failed, cancelled, rolled, restored}}, runs = n, finished = bool,
--   lines (read), bad_lines, torn (the last line was cut short),
--   good_bytes (the length of the lines read), unterminated (the last
--   line read has no newline), size,
--   problem = nil | {kind = "empty" | "no_plan" | "bad_lines", line = n,
--   what = why it cannot be read, ignored = lines ignored}}; nil (and a
--   message) when there is no journal
function M.load(path)
  local f = io.open(path, "rb")
  if not f then return nil, "no journal at " .. path end
  local text = f:read("a") or ""
  f:close()
  local st = { path = path, plan = nil, tasks = {}, facts = {}, items = {}, groups = {}, runs = 0,
               finished = false, bad_lines = 0, running_ops = {}, lines = 0, size = #text,
               good_bytes = 0 }
  local function group(k)
    local g = st.groups[k]
    if not g then
      g = { generation = 0 }
      st.groups[k] = g
    end
    return g
  end
  if not text:find("%S") then
    st.problem = { kind = "empty" }
    return st
  end
  local pos, n = 1, 0
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local stop = nl or (#text + 1)
    local line = text:sub(pos, stop - 1)
    n = n + 1
    local rec, derr = json.decode_safe(line)
    if type(rec) ~= "table" then
      st.bad_lines = st.bad_lines + 1
      local what = unreadable(line, derr)
      local rest = text:sub(stop + 1)
      if not rest:find("%S") then
        -- The last line, cut short by a crash: nothing after it to lose.
        st.torn = true
        if n == 1 then st.problem = { kind = "no_plan", line = 1, what = what } end
      else
        local ignored = 0
        for _ in rest:gmatch("[^\n]*%S[^\n]*") do ignored = ignored + 1 end
        st.bad_lines = st.bad_lines + ignored
        -- (A journal without its plan says so, whatever else is wrong.)
        st.problem = st.problem or { kind = n == 1 and "no_plan" or "bad_lines", line = n,
                                     what = what, ignored = ignored }
      end
      break
    end
    st.lines = n
    st.good_bytes = nl or #text
    st.unterminated = nl == nil
    if n == 1 and rec.type ~= "plan" then
      st.problem = { kind = "no_plan", line = 1,
                     what = ("a %s record where the plan should be"):format(tostring(rec.type)) }
    end
    if rec.type == "plan" then
      st.plan = M.upgrade_plan(rec.plan)
    elseif rec.type == "run" then
      if rec.event == "started" then
        st.runs = st.runs + 1
        st.finished = false
      elseif rec.event == "finished" then
        st.finished = true
      end
    elseif rec.type == "task" then
      st.tasks[rec.id] = { state = rec.state, attempt = rec.attempt, group = rec.group,
                           error = rec.error, nonce = rec.nonce }
    elseif rec.type == "fact" then
      st.facts[rec.key] = st.facts[rec.key] or {}
      st.facts[rec.key][rec.name] = rec.value
      if rec.name == "running_op" then
        st.running_ops[rec.key] = st.running_ops[rec.key] or {}
        table.insert(st.running_ops[rec.key], rec.value)
      end
    elseif rec.type == "item" then
      st.items[rec.key] = { status = rec.status, error = rec.error, action = rec.action,
                            new_disk = rec.new_disk, warnings = rec.warnings,
                            interrupted = rec.interrupted, duration_s = rec.duration_s }
    elseif rec.type == "group" then
      local g = group(rec.key)
      if rec.event == "restart" then
        -- The group starts over: its earlier task states no longer hold.
        g.generation = rec.generation or (g.generation + 1)
        g.restored = nil
        for id, t in pairs(st.tasks) do
          if t.group == rec.key then st.tasks[id] = nil end
        end
      elseif rec.event == "restored" then
        g.restored = true
        st.running_ops[rec.key] = nil
      end
    end
    pos = stop + 1
  end
  -- What each group went through, from its tasks' last states: a failure
  -- (a step failed, or an undo), a cancel (Ctrl-C, a deadline), undoing
  -- under way, or simply started.
  for _, t in pairs(st.tasks) do
    if t.group then
      local g = group(t.group)
      g.started = true
      if t.state == "failed" or t.state == "timed_out" or t.state == "rollback_failed" then
        g.failed = true
      elseif t.state == "cancelled" then
        g.cancelled = true
      elseif t.state == "rolling_back" or t.state == "rolled_back" then
        g.rolled = true
      end
    end
  end
  return st
end

--- What is wrong with a loaded journal, as words that follow its path
-- ("journal <path> " .. M.describe(st)); nil when nothing is.
function M.describe(st)
  local p = st and st.problem
  if not p then return nil end
  if p.kind == "empty" then return "is empty" end
  if p.kind == "no_plan" then
    return ("has no readable plan (line %d: %s)"):format(p.line, p.what)
  end
  return ("has an unreadable line %d (%s)"):format(p.line, p.what)
end

--- Moves a journal out of the way, to "<path>.broken-<UTC time>".
-- @treturn string|nil, string the new path, or nil and why not
function M.set_aside(path)
  local base = path .. ".broken-" .. os.date("!%Y%m%dT%H%M%SZ")
  local to, i = base, 1
  while M.exists(to) do
    i = i + 1
    to = base .. "-" .. i
  end
  local ok, err = os.rename(path, to)
  if not ok then return nil, err end
  if host_ok and host.sync_dir then host.sync_dir(to) end
  return to
end

-- Replaces the journal with its first `bytes` bytes (whole lines), ending
-- in a newline, so that what the next run appends starts a line of its own.
local function keep_prefix(path, bytes, from)
  local f, err = io.open(from or path, "rb")
  if not f then return nil, err end
  local text = f:read(bytes) or ""
  f:close()
  if #text > 0 and text:sub(-1) ~= "\n" then text = text .. "\n" end
  if write_atomic then return write_atomic(path, text) end
  f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(text)
  f:close()
  return ok, werr
end

local FRESH = "run the same command without --resume; it starts over from what Compute Engine " ..
              "shows (each disk's pdlua labels)"

--- What a run of a command takes from its journal: the state to go on
-- from, or nil to start a new run. A journal it cannot go on from is
-- handled here: with `resume`, an empty journal or one without a readable
-- plan is an error (the message says what to run instead); without, it is
-- set aside (M.set_aside) and a new run starts. Unreadable lines after the
-- plan are dropped with those after them (the file as it was is set
-- aside); a last line cut short by a crash is dropped silently, so that
-- what this run appends starts on a line of its own.
-- @tparam string path
-- @tparam table o {resume = bool, read_only = bool (a dry run: changes
--   nothing)}
-- @treturn table|nil state (nil: start anew), {string...} notes for stderr,
--   string|nil an error that stops the command (exit 2)
function M.recover(path, o)
  o = o or {}
  local notes = {}
  if not M.exists(path) then return nil, notes end
  local st, err = M.load(path)
  if not st then return nil, notes, err end
  local p = st.problem
  if p and p.kind ~= "bad_lines" then
    local what = ("journal %s %s"):format(path, M.describe(st))
    if o.resume then return nil, notes, what .. ": " .. FRESH end
    if o.read_only then return nil, notes end
    local to, serr = M.set_aside(path)
    if not to then
      return nil, notes, ("%s, and it cannot be moved aside (%s): move it away and run the same command again")
        :format(what, tostring(serr))
    end
    notes[#notes + 1] = ("%s; it was moved to %s and a new run starts from what Compute Engine shows.")
      :format(what, to)
    return nil, notes
  end
  if o.read_only then return st, notes end
  if p then
    -- Unreadable lines in the middle: go on from what comes before them,
    -- in a journal made of just that.
    local to, serr = M.set_aside(path)
    local ok, werr
    if to then
      ok, werr = keep_prefix(path, st.good_bytes, to)
      if not ok then os.rename(to, path) end
    end
    if not ok then
      return nil, notes, ("journal %s %s, and it cannot be trimmed (%s)"):format(path, M.describe(st),
        tostring(serr or werr))
    end
    notes[#notes + 1] = ("journal %s: line %d is unreadable (%s); it and the %d line(s) after it were ignored (the file as it was is %s)")
      :format(path, p.line, p.what, p.ignored, to)
  elseif st.good_bytes < st.size or st.unterminated then
    local ok, werr = keep_prefix(path, st.good_bytes)
    if not ok then return nil, notes, ("cannot trim the journal %s: %s"):format(path, tostring(werr)) end
  end
  return st, notes
end

--- Takes the lock of a journal ("<path>.lock"), held until this process
-- exits (host.lock_file): one run of a command at a time.
-- @treturn true|nil, string, string nil, "held", the holder's "<pid>
--   <host>"; or nil and a message
function M.lock(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = M.ensure_dir(dir)
    if not ok then return nil, err end
  end
  if not host_ok or not host.lock_file then return true end
  return host.lock_file(path .. ".lock")
end

--- Whether a file exists.
function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

return M
