--- pdlua.migrate.run: the state one migration run shares between its steps.
-- The plan (what to do), the client (how), the journal (what was done) and
-- the facts steps learn for later ones (a snapshot's id, a disk that no
-- longer exists). Steps run on engine worker threads but always with the
-- interpreter lock held, so this plain table is shared without more locks;
-- every fact and task state that changes is written to the journal at once.
local pd = require "pdlua"
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"
local estimate = require "pdlua.migrate.estimate"
local plan_mod = require "pdlua.migrate.plan"
local claim = require "pdlua.migrate.claim"

local M = {}
M.__index = M

--- The run's shared state (a typed pd.context): what steps learn for
-- later ones, and what the report is read from.
M.SCHEMA = {
  facts = "map<table>",       -- item or group key -> {name = value}: a snapshot's
                              -- id, the commands an undo left to a person, ...
  warnings = "map<table>",    -- item key -> {message...} left for a person
  succeeded = "map<boolean>", -- task id -> true, once it succeeded in this process
  failures = "map<string>",   -- group key -> why an earlier run of the plan failed it
  outcomes = "map<table>",    -- item or group key -> {status, error, action,
                              -- warnings, interrupted, duration_s}: the report's source
}

--- Creates a run.
-- @tparam table p {client, plan, journal (optional), resumed (journal
--   state from journal.load, optional), log (function, optional)}
function M.new(p)
  local r = setmetatable({
    client = p.client, plan = p.plan, journal = p.journal,
    by_key = plan_mod.index(p.plan), done = {}, generation = {},
    in_flight = {}, running_ops = {}, task_group = {},
    resume = p.resumed ~= nil, log_fn = p.log,
    ctx = pd.context(M.SCHEMA, { facts = p.resumed and p.resumed.facts or {} }),
    -- Part of every request id the run makes, so that no run is ever
    -- handed back an operation of another, unrelated run (which the API
    -- would do for a repeated requestId, however stale — a "stop" that
    -- returns an old DONE operation while the instance runs would be a
    -- disaster). Only a step that was in flight when its run died is
    -- re-issued with that run's nonce, so that it joins its own operation.
    nonce = naming.random_hex(8),
    -- The claim this run puts on what it changes (pdlua.migrate.claim):
    -- the plan's run id, the same in every process that continues it.
    run_id = p.plan.run_id or claim.new_run_id(), take_over = p.plan.options.take_over,
    claimed_at = os.time(),
  }, M)
  local st = p.resumed
  if st then
    for k, ops in pairs(st.running_ops or {}) do r.running_ops[k] = ops end
    for id, t in pairs(st.tasks or {}) do
      if t.state == "succeeded" then r.done[id] = true end
      -- In flight when its run died: re-issued as it was, to join its
      -- operation.
      if (t.state == "running" or t.state == "rolling_back") and t.nonce then
        r.in_flight[id] = { nonce = t.nonce, attempt = t.attempt or 1 }
      end
      r.task_group[id] = t.group
    end
    for k, g in pairs(st.groups or {}) do r.generation[k] = g.generation or 0 end
  end
  return r
end

function M:item(key) return self.by_key[key] end
function M:group(key) return self.plan.groups[key] end

--- Records a fact about an item (or group) and journals it.
function M:fact(key, name, value)
  local f = self.ctx:get("facts")[key] or {}
  f[name] = value
  self.ctx:put("facts", key, f)
  if self.journal then
    self.journal:write { type = "fact", key = key, name = name, value = value }
  end
end

--- A fact recorded earlier (in this run or, when resuming, an earlier one).
function M:get_fact(key, name)
  local f = self.ctx:get("facts")[key]
  return f and f[name]
end

--- Journals a task's state change.
function M:task_state(id, state, group, extra)
  if self.journal then
    local rec = { type = "task", id = id, state = state, group = group }
    for k, v in pairs(extra or {}) do rec[k] = v end
    self.journal:write(rec)
  end
end

--- Whether a task succeeded in an earlier run of this plan (and its group
-- was not started over since).
function M:already_done(id)
  return self.done[id] == true
end

--- Whether a task succeeded, in this process or an earlier run of the plan.
function M:succeeded(id)
  return self.ctx:get("succeeded")[id] == true or self.done[id] == true
end

--- The requestId for a step: the same when the step is re-issued within
-- its run (the client's HTTP retries) or joined after its run died; new
-- for another run and for the engine's next attempt, which only follows a
-- failure (check-before-act finds what a failed attempt may have left).
-- @tparam table t the step's handle (M:handle), or nil
function M:request_id(group_key, step, zone, resource, t)
  return naming.request_id {
    project = self.plan.project, zone = zone, resource = resource, step = step,
    target = self.plan.target_type, generation = (t and t.nonce or self.nonce) .. "/" ..
      tostring(self.generation[group_key] or 0),
    attempt = t and t.attempt or 1,
  }
end

--- Whether a step may trust the plan instead of reading the resource
-- first: a fresh run's first attempt on an item that no earlier run
-- touched. Anything else (a retry, a resumed run, an item whose labels say
-- a run was at it) reads before it acts.
function M:fresh(item, t)
  if self.resume or (t and (t.attempt or 1) > 1) then return false end
  if item and item.group and (self.generation[item.group] or 0) > 0 then return false end
  return not (item and item.resumed)
end

--- Notes a warning on an item (something left for a person, not a failure).
function M:warn(key, message)
  local w = self.ctx:get("warnings")[key] or {}
  w[#w + 1] = message
  self.ctx:put("warnings", key, w)
  if self.journal then
    self.journal:write { type = "fact", key = key, name = "warning", value = message }
  end
end

-- How a step's error is journaled: a cancel, a timeout, a failure the
-- engine will try again, or a failure.
local function classify(err, t, retries)
  if pd.is_error(err) then
    if err.reason == "cancelled" then return "cancelled" end
    if err.reason == "timeout" then return "timed_out" end
    if err.retryable and t and (t.attempt or 1) <= retries then return "retrying" end
  end
  return "failed"
end

--- Adds one step to the workflow, wrapped so that the journal hears of
-- every state change and a step that an earlier run finished is not run
-- again (its undo still is, if its group fails).
-- @tparam table wf the pd.workflow
-- @tparam table spec {id, step = task module ({run, rollback}), subject
--   (item or group), deps, pool, group (rollback group), plan_group}
function M:add_task(wf, spec)
  local r = self
  local mod, subj, id, pg = spec.step, spec.subject, spec.id, spec.plan_group
  local retries = r.retries or { max = 3, backoff = 1, max_backoff = 30 }
  local weight = estimate.seconds(mod.step, subj and subj.size_gb)
  local task = {
    id = id, deps = spec.deps, pool = spec.pool, group = spec.group,
    -- A step may take its timeout, or four times what it usually takes on
    -- this disk, whichever is longer: a 10 TB snapshot takes hours.
    timeout = r.task_timeout and math.max(r.task_timeout, 4 * weight) or nil,
    retries = retries, weight = weight,
    run = function(t)
      if r:already_done(id) then return end
      local h = r:handle(t, id)
      r:task_state(id, "running", pg, { attempt = h.attempt, nonce = h.nonce })
      -- Nothing is done that the journal could not record first.
      if r.journal and r.journal.failed then
        error(pd.error { reason = "cancelled", retryable = false,
                         message = "not started: cannot write the journal " .. r.journal.failed }, 0)
      end
      local ok, err = pcall(mod.run, r, subj, h)
      if ok then
        r.ctx:put("succeeded", id, true)
        r:task_state(id, "succeeded", pg, { attempt = t.attempt })
        return
      end
      local state = classify(err, t, retries.max or 0)
      if state == "cancelled" or state == "timed_out" then r:left_running(pg, err.operation_left) end
      r:task_state(id, state, pg, { attempt = t.attempt, error = tostring(err) })
      error(err, 0)
    end,
  }
  if mod.rollback then
    task.rollback = function(t)
      local h = r:handle(t, id)
      r:task_state(id, "rolling_back", pg, { attempt = h.attempt, nonce = h.nonce })
      -- Nothing is undone on a group that is no longer this run's.
      local ok, err = pcall(function()
        local g = r:group(spec.group)
        if g and not mod.checks_claim and not claim.holds_group(r, g) then
          gce.fail("claimLost", "%s is no longer this run's (its claim is gone); its undo was left alone", g.key)
        end
        return mod.rollback(r, subj, h)
      end)
      if not ok and gce.interrupted(err) then r:left_running(pg, err.operation_left) end
      if ok then
        r:task_state(id, "rolled_back", pg)
        return
      end
      -- An undo the engine tries again is still under way (its journal
      -- state stays rolling_back); only the last failure is final.
      if classify(err, t, retries.max or 0) ~= "retrying" then
        r:task_state(id, "rollback_failed", pg, { error = tostring(err) })
      end
      error(err, 0)
    end
  end
  wf:task(task)
  return id
end

--- A function that adds a step of group `key` to `wf` (its rollback group
-- unless the spec names another), collects its id in `ids` and returns it.
function M:adder(wf, key, ids)
  return function(spec)
    spec.group = spec.group or key
    spec.plan_group = spec.plan_group or spec.group
    ids[#ids + 1] = self:add_task(wf, spec)
    return spec.id
  end
end

--- The handle a step sees: the engine's, with the nonce and attempt its
-- request ids are made of (those of the dead run for a step that was in
-- flight in it).
function M:handle(t, id)
  local f = self.in_flight[id]
  local h = { id = id, nonce = self.nonce, attempt = (t and t.attempt) or 1 }
  if f and h.attempt == 1 then
    h.nonce, h.attempt = f.nonce, f.attempt
  end
  return setmetatable(h, { __index = t })
end

--- The handle of a group's restore sweep: request ids of their own, new
-- on each attempt of the task sweeping (an undo the engine retries).
function M:sweep_handle(g, t)
  return { nonce = self.nonce, attempt = 100 + ((t and t.attempt) or 1), id = "restore:" .. g.key }
end

--- Remembers (and journals) an operation a step left running when it was
-- interrupted, so the group's restore waits for it first.
function M:left_running(group, op)
  if not op or not group then return end
  self.running_ops[group] = self.running_ops[group] or {}
  local rec = { name = op.name, zone = op.zone, region = op.region, selfLink = op.selfLink,
                status = "RUNNING" }
  table.insert(self.running_ops[group], rec)
  if self.journal then
    self.journal:write { type = "fact", key = group, name = "running_op", value = rec }
  end
end

--- Waits for the operations a group's interrupted steps left running.
function M:settle(group)
  local ops = self.running_ops[group]
  if not ops then return end
  self.running_ops[group] = nil
  gce.settle(self.client, ops)
end

--- Forgets which of a group's steps an earlier run finished (the group
-- will be put back and run from its start).
function M:forget(g)
  for id in pairs(self.done) do
    if self.task_group and self.task_group[id] == g.key then self.done[id] = nil end
  end
end

--- Starts a group over (a resumed run retrying it): a new generation of
-- request ids, and its steps no longer count as done.
function M:restart(g)
  local gen = (self.generation[g.key] or 0) + 1
  self.generation[g.key] = gen
  self:forget(g)
  if self.journal then
    self.journal:write { type = "group", key = g.key, event = "restart", generation = gen }
  end
end

--- Logs a line (the progress display decides where it goes).
function M:log(fmt, ...)
  if self.log_fn then self.log_fn(fmt:format(...)) end
end

return M
