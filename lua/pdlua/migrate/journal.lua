--- pdlua.migrate.journal: the run's memory, as JSON lines on disk.
-- A run writes its plan here before the first change it makes, then one
-- line per state change (a task starting, succeeding, failing, being
-- rolled back; a fact a later step needs, such as a snapshot's id; an
-- item's final status), each flushed at once. A run killed at any point,
-- kill -9 included, leaves a journal whose lines are all complete but
-- perhaps the last, which `load` ignores. `--resume`, or the same command
-- again, reads it back: what succeeded is not done again, what was in
-- flight is re-checked against Compute Engine (every step is idempotent, so
-- a line lost between the API's success and its write costs one GET).
--
-- Writes happen with the interpreter lock held (every task, callback and
-- the main script run Lua under it), so lines never interleave.
local cjson = require "cjson"

local M = {}
M.__index = M

local encode = cjson.encode

-- cjson reads every number as a float; what pdlua wrote as an integer
-- (IOPS, indices, generations) must come back as one ("3000", not
-- "3000.0", when it goes into a request).
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
    return v
  end
  if math.type(v) == "float" then return math.tointeger(v) or v end
  return v
end
M.integers = integers

--- Creates the directory `dir` (and its parents) if missing.
function M.ensure_dir(dir)
  local ok = os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not ok then return nil, ("cannot create directory '%s'"):format(dir) end
  return true
end

--- Opens a journal for appending (creating it and its directory).
-- @tparam string path
-- @treturn journal|nil, string
function M.open(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = M.ensure_dir(dir)
    if not ok then return nil, err end
  end
  local f, err = io.open(path, "a")
  if not f then return nil, ("cannot open journal: %s"):format(err) end
  f:setvbuf("full", 1 << 16)
  return setmetatable({ path = path, file = f, lines = 0 }, M)
end

--- Appends one record and flushes it to the kernel, so a kill -9 right
-- after cannot lose it. Adds the wall-clock time as `ts`.
function M:write(rec)
  if not self.file then return end
  rec.ts = rec.ts or os.time()
  self.file:write(encode(rec), "\n")
  self.file:flush()
  self.lines = self.lines + 1
end

--- Closes the journal.
function M:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
end

--- Reads a journal back into the state a resumed run needs.
-- @tparam string path
-- @treturn table|nil state: {plan, tasks = {[id] = {state, attempt, group,
--   error}}, facts = {[item key] = {[name] = value}}, items = {[key] =
--   {status, error, action}}, groups = {[group key] = {generation, started,
--   failed, cancelled, rolled, restored}}, runs = n, finished = bool}; nil
--   (and a message) when there is no journal
function M.load(path)
  local f = io.open(path, "r")
  if not f then return nil, "no journal at " .. path end
  local st = { plan = nil, tasks = {}, facts = {}, items = {}, groups = {}, runs = 0,
               finished = false, bad_lines = 0, running_ops = {} }
  local function group(k)
    local g = st.groups[k]
    if not g then
      g = { generation = 0 }
      st.groups[k] = g
    end
    return g
  end
  for line in f:lines() do
    local ok, rec = pcall(cjson.decode, line)
    if ok then rec = integers(rec) end
    if not ok or type(rec) ~= "table" then
      st.bad_lines = st.bad_lines + 1
    elseif rec.type == "plan" then
      st.plan = rec.plan
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
  end
  f:close()
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

--- Whether a file exists.
function M.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

return M
