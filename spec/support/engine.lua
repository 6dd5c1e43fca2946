--- Shared by the engine specs: small workflow builders and checks.
local M = {}

M.engines = {"pool", "levels", "sequential"}

--- Runs wf with progress printing off, merging opts.
function M.run(wf, opts)
  opts = opts or {}
  if opts.progress == nil then opts.progress = false end
  return wf:run(opts)
end

--- Maps id -> state of a result.
function M.states(res)
  local out = {}
  for id, t in pairs(res.tasks) do out[id] = t.state end
  return out
end

--- Records the state events of a run: a list of "id:state" strings.
function M.recorder()
  local rec = {events = {}, by_task = {}}
  function rec.on_event(e)
    rec.events[#rec.events + 1] = e
    if e.type == "state" then
      local l = rec.by_task[e.task] or {}
      l[#l + 1] = e.state
      rec.by_task[e.task] = l
    end
  end
  return rec
end

--- A concurrency gauge backed by a context (its counters are atomic).
-- g.enter() / g.leave() around the work; g.peak() afterwards.
function M.gauge()
  local ctx = pd.context{cur = "integer", samples = "list<integer>"}
  local g = {ctx = ctx}
  function g.enter() ctx:append("samples", ctx:incr("cur", 1)) end
  function g.leave() ctx:incr("cur", -1) end
  function g.peak()
    local m = 0
    for _, v in ipairs(ctx:get("samples")) do if v > m then m = v end end
    return m
  end
  return g
end

--- Writes a script to a temporary file; returns its path.
function M.script(src)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  return path
end

--- Reads a whole file, or nil.
M.slurp = require("pdlua.fs").read

--- Polls pred() every 20 ms until it returns a true value or `timeout`
-- seconds pass; returns its last value.
function M.wait_for(pred, timeout)
  local limit = pd.now() + (timeout or 20)
  local v = pred()
  while not v and pd.now() < limit do
    pd.sleep(0.02)
    v = pred()
  end
  return v
end

return M
