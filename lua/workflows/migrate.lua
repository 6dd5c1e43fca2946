--- workflows.migrate: disk and instance migration as one task graph.
--
--     local migrate = require "workflows.migrate"
--     local ctx = {client = gcp.client{project = "p"}, project = "p",
--                  zones = {"us-central1-a"}, target_type = "hyperdisk-balanced"}
--     local result = migrate.migrate_disks(ctx, {"data-1", "data-2"})
--     local result = migrate.migrate_instances(ctx, {"web-1"})   -- or {"*"}
--     io.write(migrate.report(result))
--
-- Every selected disk and instance becomes a group of tasks
-- (workflows.disks, workflows.instances) in one workflow: groups run in
-- parallel within `max_parallel` and the pools (snapshots, disk_creates,
-- power), each group fails and rolls back on its own (rollback = "group",
-- fail = "continue"). The journal records the plan before the first change
-- and every state change after it, so a run killed at any point continues
-- where it stopped when run again.
local pd = require "pdlua"
local discover = require "workflows.discover"
local disks_flow = require "workflows.disks"
local instances_flow = require "workflows.instances"
local guard = require "workflows.guard"
local restore = require "workflows.restore"
local cleanup = require "tasks.cleanup"
local plan_mod = require "pdlua.migrate.plan"
local run_mod = require "pdlua.migrate.run"
local report_mod = require "pdlua.migrate.report"
local json = require "pdlua.json"
local claim = require "pdlua.migrate.claim"
local labels = require "pdlua.migrate.labels"
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"

local M = {}

local DEFAULTS = {
  max_parallel = 32, task_timeout = 1800,
  pools = { snapshots = 16, disk_creates = 16, power = 16 },
  retries = { max = 3, backoff = 1, max_backoff = 30 },
  retain_name = false, delete_original = false, keep_snapshots = false,
}

--- Fills a context's defaults (see the module's header for its fields;
-- the rest are those of pdlua.migrate.cli's options).
function M.options(ctx)
  local o = {}
  for k, v in pairs(ctx) do o[k] = v end
  for k, v in pairs(DEFAULTS) do
    if o[k] == nil then o[k] = v end
  end
  o.selector = o.selector or {}
  if not o.zones and not o.region and o.zone then o.zones = { o.zone } end
  o.project = o.project or (o.client and o.client.project)
  -- The id this run claims disks under (pdlua.migrate.claim); a plan read
  -- back from a journal brings its own.
  o.run_id = o.run_id or claim.new_run_id()
  assert(o.client, "migrate: ctx.client (a gcp.client) is required")
  assert(o.project, "migrate: ctx.project is required")
  assert(o.target_type, "migrate: ctx.target_type is required")
  assert(o.zones or o.region, "migrate: ctx.zones or ctx.region is required")
  return o
end

--- Reads the project and builds the plan (no change is made).
-- @treturn table plan (pdlua.migrate.plan)
function M.prepare(o)
  local inv = discover.inventory(o.client, o)
  local sel = discover.select(inv, o)
  return plan_mod.build(inv, sel, o)
end

local FINAL = { migrated = true, rolled_back = true, failed = true, skipped = true }

-- What to do with each group of a plan, given what a journal says happened
-- to it: "run" (continue: steps done are not repeated), "restore" (finish
-- putting back a group whose failure was being undone), "done" (its disks'
-- outcome is final). A group cut short by a cancel is put back and run
-- again; with retry_failed, so is one that failed.
local function group_modes(plan, st, retry_failed)
  local modes = {}
  for _, key in ipairs(plan.group_order) do
    local g = plan.groups[key]
    local gs = st and st.groups[key] or {}
    -- The group's outcome so far, from its disks' (or its own) entries.
    local keys = #g.items > 0 and g.items or { key }
    local final, failed, rolled, interrupted = true, false, false, false
    for _, k in ipairs(keys) do
      local it = st and st.items[k]
      if not it or not FINAL[it.status] then final = false end
      if it and it.interrupted then interrupted = true end
      if it and it.status == "failed" then failed = true end
      if it and it.status == "rolled_back" then rolled = true end
    end
    local mode = "run"
    if not st then
      mode = "run"
    elseif final and not failed and not rolled then
      mode = "done"
      -- A migrated disk whose cleanup did not finish gets it done now
      -- (and so does an instance whose claim was not released).
      for _, k in ipairs(M.cleanup_keys(g)) do
        local c = st.tasks["cleanup:" .. k]
        if (st.items[k] or st.items[g.items[1]]).status == "migrated"
            and not (c and c.state == "succeeded") then
          mode = "cleanup"
        end
      end
    elseif failed or rolled or gs.failed or gs.rolled or gs.cancelled then
      -- Something went wrong (or was cut short) in an earlier run: put the
      -- group back first. Then run it again if it was only interrupted, or
      -- if asked to retry; else its outcome stands.
      if interrupted or retry_failed or (not final and gs.cancelled and not gs.failed) then
        mode = "run"
        g.needs_restore = true
      elseif failed or not final then
        mode = "restore"
      else
        mode = "done"
      end
    end
    modes[key] = mode
  end
  return modes
end

--- The keys whose cleanup task ends a group: its disks', and its
-- instance's (the claim's release).
function M.cleanup_keys(g)
  local keys = { table.unpack(g.items) }
  if g.kind == "instance" then keys[#keys + 1] = g.key end
  return keys
end

--- Builds the workflow of a run.
-- @treturn table the pd.workflow
function M.workflow(r, name)
  local wf = pd.workflow(name or "migrate")
  r.group_tasks = {}
  for _, key in ipairs(r.plan.group_order) do
    local g = r.plan.groups[key]
    local mode = r.modes and r.modes[key] or "run"
    if mode == "run" then
      if g.needs_restore then r:forget(g) end
      if g.kind == "disk" then
        r.group_tasks[key] = disks_flow.add(r, wf, g)
      else
        r.group_tasks[key] = instances_flow.add(r, wf, g)
      end
    elseif mode == "restore" then
      r.group_tasks[key] = { r:add_task(wf, { id = "restore:" .. key, step = guard.restore_only,
                                              subject = g, group = key, plan_group = key }) }
    elseif mode == "cleanup" then
      r.group_tasks[key] = {}
      for _, k in ipairs(M.cleanup_keys(g)) do
        local c = r.resumed_state and r.resumed_state.tasks["cleanup:" .. k]
        if not (c and c.state == "succeeded") then
          local step, subject = cleanup, r:item(k)
          if k == key then step, subject = instances_flow.release, g end
          table.insert(r.group_tasks[key], r:add_task(wf, {
            id = "cleanup:" .. k, step = step, subject = subject,
            group = "cleanup/" .. k, plan_group = "cleanup/" .. k }))
        end
      end
    end
  end
  return wf
end

local BAD = { failed = true, timed_out = true, cancelled = true }

-- The first failure among a group's tasks: its id, its error, and whether
-- it was a cancel.
local function first_failure(r, res, key)
  local best
  for _, id in ipairs(r.group_tasks[key] or {}) do
    local t = res.tasks[id]
    if t and BAD[t.state] and not id:match("^cleanup:") then
      if not best or (t.finished or math.huge) < (best.t.finished or math.huge) then
        best = { id = id, t = t }
      end
    end
  end
  if not best then return nil end
  local err = best.t.error
  local cancelled = best.t.state == "cancelled"
    or (pd.is_error(err) and err.reason == "cancelled")
  return best.id, err, cancelled
end

-- Whether the run stopped before some of a group's steps could start.
local function stopped_early(r, res, key)
  for _, id in ipairs(r.group_tasks[key] or {}) do
    local t = res.tasks[id]
    if t and t.state == "skipped" and t.reason == "stopped" and not id:match("^cleanup:") then
      return true
    end
  end
  return false
end

local function describe(id)
  local step, subject = id:match("^([%w_]+):(.*)$")
  subject = subject and subject:gsub("^instance/", "instance "):gsub("^disk/", "disk ") or id
  return ("%s of %s"):format((step or id):gsub("_", " "), subject)
end

local RETRY = "run the same command again (it retries the undo)"

--- Works out each disk's and instance's outcome from the engine's result
-- and puts it in the run's context (field `outcomes`), where the report
-- is read from.
-- @treturn table {[item or group key] = {status, error, action, warnings,
--   interrupted, duration_s}}
function M.outcomes(r, res)
  local out = {}
  local st = r.resumed_state
  for _, item in ipairs(r.plan.items) do
    if item.status == "skipped" then
      out[item.key] = { status = "skipped", error = item.refused and item.reason or nil,
                        reason = item.reason, refused = item.refused }
    end
  end
  for _, key in ipairs(r.plan.group_order) do
    local g = r.plan.groups[key]
    local mode = r.modes and r.modes[key] or "run"
    local keys = #g.items > 0 and g.items or { key }
    local function set_all(o)
      for _, k in ipairs(keys) do
        local c = {}
        for f, v in pairs(o) do c[f] = v end
        out[k] = c
      end
    end
    if mode == "done" or mode == "cleanup" then
      for _, k in ipairs(keys) do
        local o = {}
        for f, v in pairs(st.items[k]) do o[f] = v end
        o.warnings = nil
        for _, ck in ipairs { k, g.kind == "instance" and k ~= key and key or nil } do
          local c = res.tasks["cleanup:" .. ck]
          if c and c.state ~= "succeeded" then
            o.warnings = o.warnings or {}
            o.warnings[#o.warnings + 1] = ("cleanup did not finish (%s): run the same command again")
              :format(tostring(c.error or c.state))
          end
        end
        out[k] = o
      end
    elseif mode == "restore" then
      local t = res.tasks["restore:" .. key]
      local why = r.ctx:get("failures")[key] or "a step failed in an earlier run"
      if t and t.state == "succeeded" then
        set_all { status = "rolled_back", error = why }
      elseif t and t.state == "cancelled" then
        set_all { status = "planned", error = "interrupted while putting it back", interrupted = true }
      else
        set_all { status = "failed", error = why .. "; putting it back failed: " ..
                    tostring(t and t.error), action = RETRY }
      end
    else
      local begin = res.tasks["begin:" .. key]
      local bst = begin and begin.state or "skipped"
      local fid, ferr, fcancel = first_failure(r, res, key)
      local why = fid and ("%s failed: %s"):format(describe(fid), tostring(ferr)) or nil
      if bst == "skipped" or bst == "pending" then
        set_all { status = "planned", error = "not started: the run stopped first", interrupted = true }
      elseif bst == "failed" and claim.is_refusal(begin.error) then
        -- Another run holds it: nothing of the group was touched.
        set_all { status = "skipped", refused = begin.error.reason == "claimedByAnotherRun" or nil,
                  error = tostring(begin.error.message), reason = tostring(begin.error.message) }
      elseif bst == "failed" and not g.needs_restore and pd.is_error(begin.error)
          and begin.error.reason ~= "rollbackFailed" then
        -- Claiming failed, and what was claimed was released: as found.
        set_all { status = "rolled_back", error = tostring(begin.error) }
      elseif bst == "rolled_back" then
        -- Undone because the run stopped before its next step could start
        -- (Ctrl-C, a cancel): an interruption, to run again, not an outcome.
        local stopped = not fid and stopped_early(r, res, key)
        set_all { status = "rolled_back",
                  error = why or (stopped and "rolled back: the run stopped before its next step") or "rolled back",
                  interrupted = (fcancel or stopped) or nil }
      elseif bst == "rollback_failed" then
        set_all { status = "failed", error = (why or "a step failed") .. "; putting it back failed: " ..
                    tostring(begin.rollback and begin.rollback.error or begin.error), action = RETRY,
                  interrupted = fcancel or nil }
      elseif bst == "succeeded" then
        local complete = true
        for _, id in ipairs(r.group_tasks[key] or {}) do
          local t = res.tasks[id]
          if not id:match("^cleanup:") and (not t or t.state ~= "succeeded") then complete = false end
        end
        if complete then
          set_all { status = "migrated" }
        elseif fid and not fcancel then
          -- Failed, with no undo (rollback = "none" runs): say where it stopped.
          set_all { status = "failed", error = why, action = RETRY }
        else
          set_all { status = "planned", error = "interrupted before it finished; run the same command again to continue",
                    interrupted = true }
        end
      else
        -- The guard itself failed: claiming, or putting back what an
        -- earlier run left.
        set_all { status = bst == "cancelled" and "planned" or "failed",
                  error = (g.needs_restore and "putting back what an earlier run left failed: "
                           or "claiming it failed: ") .. tostring(begin.error),
                  action = bst ~= "cancelled" and RETRY or nil, interrupted = bst == "cancelled" or nil }
      end
      -- Cleanup is per disk and never undoes a migration; what it left is a
      -- warning with the command that finishes it.
      local release = g.kind == "instance" and res.tasks["cleanup:" .. key]
      for _, k in ipairs(g.items) do
        local o = out[k]
        if o.status == "migrated" and release and release.state ~= "succeeded" then
          o.warnings = o.warnings or {}
          o.warnings[#o.warnings + 1] = ("the claim on instance '%s' was not taken off (%s): run the same command again, or by hand: %s")
            :format(g.instance, tostring(release.error or release.state), restore.manual(r, "release", g))
        end
        local c = res.tasks["cleanup:" .. k]
        if o.status == "migrated" and c and c.state ~= "succeeded" then
          o.warnings = o.warnings or {}
          local item = r:item(k)
          o.warnings[#o.warnings + 1] = ("cleanup did not finish (%s): run the same command again, or by hand: %s%s")
            :format(tostring(c.error or c.state),
                    r.plan.options.keep_snapshots and "" or
                      ("gcloud compute snapshots delete %s --project %s; "):format(item.snapshot_name, r.plan.project),
                    item.new_name == item.name and "" or (r.plan.options.delete_original and
                      ("gcloud compute disks delete %s --zone %s --project %s"):format(item.name, item.zone, r.plan.project)
                      or ("gcloud compute disks add-labels %s --zone %s --project %s --labels=pdlua-state=migrated,pdlua-migrated-to=%s")
                        :format(item.name, item.zone, r.plan.project, item.new_name)))
        end
      end
    end
    -- What a person must do when putting back failed: the commands.
    for _, k in ipairs(keys) do
      local o = out[k]
      local manual = r:get_fact(k, "manual")
      if o and o.status == "failed" and type(manual) == "table" and #manual > 0 then
        o.action = RETRY .. "; if that fails, by hand: " .. table.concat(manual, "; ")
      end
      for _, w in ipairs(r.ctx:get("warnings")[k] or {}) do
        o.warnings = o.warnings or {}
        o.warnings[#o.warnings + 1] = w
      end
    end
  end
  -- Durations: from the first step of the disk (or its instance) to its last.
  for _, key in ipairs(r.plan.group_order) do
    local g = r.plan.groups[key]
    local shared_start
    for _, id in ipairs(r.group_tasks[key] or {}) do
      local t = res.tasks[id]
      if t and t.started and t.started >= 0 and (id:match("^begin:") or id:match("^stop:")) then
        shared_start = math.min(shared_start or math.huge, t.started)
      end
    end
    for _, k in ipairs(g.items) do
      local first, last = shared_start, nil
      for _, id in ipairs(r.group_tasks[key] or {}) do
        if id:sub(-#k - 1) == ":" .. k then
          local t = res.tasks[id]
          if t and t.started and t.started >= 0 then first = math.min(first or math.huge, t.started) end
          if t and t.finished and t.finished >= 0 then last = math.max(last or -1, t.finished) end
        end
      end
      if out[k] and first and last and out[k].duration_s == nil then
        out[k].duration_s = report_mod.round(last - first, 2)
      end
    end
  end
  for k, o in pairs(out) do r.ctx:put("outcomes", k, o) end
  return r.ctx:get("outcomes")
end

--- The report says only what Compute Engine shows: every disk about to be
-- reported migrated is read again (one list of the disks and one of the
-- instances per zone) and checked — its replacement exists, is READY,
-- pdlua's, of the target type, claimed by no other run, attached where the
-- original was; a kept original is still there. What does not hold is
-- reported as a failure, not a success. When the disks cannot be read
-- again (the run was interrupted, the API fails), each such disk says so.
function M.confirm(r)
  local outcomes = r.ctx:get("outcomes")
  local items, zones = {}, {}
  for _, item in ipairs(r.plan.items) do
    local o = outcomes[item.key]
    if o and o.status == "migrated" and item.status == "planned" then
      items[#items + 1] = item
      zones[item.zone] = true
    end
  end
  if #items == 0 then return end
  local disks, insts = {}, {}
  local ok, err = pcall(function()
    for z in pairs(zones) do
      for d in r.client.disks:list { zone = z } do disks[naming.key(z, d.name)] = d end
      for i in r.client.instances:list { zone = z } do insts[naming.key(z, i.name)] = i end
    end
  end)
  for _, item in ipairs(items) do
    local o = outcomes[item.key]
    local wrong = {}
    local function bad(fmt, ...) wrong[#wrong + 1] = fmt:format(...) end
    if not ok then
      o.warnings = o.warnings or {}
      o.warnings[#o.warnings + 1] = ("not confirmed at the end of the run: reading the disks again failed (%s)")
        :format(tostring(err))
    else
      local new = disks[naming.key(item.zone, item.new_name)]
      local h = new and claim.holder(new.labels)
      if not new then
        bad("disk '%s' does not exist", item.new_name)
      elseif not labels.made_from(new, item.name) then
        bad("disk '%s' is not pdlua's copy of '%s'", item.new_name, item.name)
      elseif naming.last(new.type) ~= item.target_type or new.status ~= "READY" then
        bad("disk '%s' is %s and %s", item.new_name, tostring(naming.last(new.type)), tostring(new.status))
      elseif h and h.run ~= r.run_id then
        bad("disk '%s' is claimed by %s", item.new_name, claim.describe(h))
      end
      if item.instance then
        local a = gce.slot(insts[naming.key(item.zone, item.instance)], item.attachment.deviceName)
        if not gce.slot_holds(a, item.zone, item.new_name) then
          bad("instance '%s' does not hold '%s' as '%s'", item.instance, item.new_name, item.attachment.deviceName)
        end
      end
      if item.new_name ~= item.name and not r.plan.options.delete_original
          and not disks[naming.key(item.zone, item.name)] then
        bad("the original '%s' is gone", item.name)
      end
    end
    if #wrong > 0 then
      o.status = "failed"
      o.error = "reported migrated, but Compute Engine shows: " .. table.concat(wrong, "; ")
      o.action = "look at the disk and its instance; then run the same command again with --retry-failed"
    end
  end
end

-- The API counters of a client: total calls, HTTP retries.
local function api_counters(client)
  local ok, s = pcall(client.stats, client)
  if not ok or type(s) ~= "table" then return nil end
  local t = s.totals or s
  return { calls = t.calls, requests = t.requests, retries = t.retries }
end

--- Builds the report (pdlua.migrate.report) of a run.
function M.build_report(r, res, extra)
  local outcomes = r.ctx:get("outcomes")
  local rep = { project = r.plan.project, target_type = r.plan.target_type,
                zones = json.array { table.unpack(r.plan.zones or {}) },
                disks = {}, instances = {}, notes = {} }
  local totals = { disks = 0, migrated = 0, rolled_back = 0, failed = 0, skipped = 0, planned = 0 }
  for _, item in ipairs(r.plan.items) do
    local o = outcomes[item.key] or { status = "planned" }
    local status = o.status
    local entry = {
      name = item.name, zone = item.zone, instance = item.instance,
      from_type = item.from_type, to_type = item.target_type, status = status,
      new_disk = (status == "migrated" or status == "planned") and item.status == "planned"
        and item.new_name or nil,
      snapshot = item.status == "planned" and status ~= "skipped" and item.snapshot_name or nil,
      duration_s = o.duration_s, error = o.error or (status == "skipped" and o.reason) or nil,
      action = o.action, warnings = o.warnings, refused = o.refused or nil,
    }
    rep.disks[#rep.disks + 1] = entry
    totals.disks = totals.disks + 1
    totals[status] = (totals[status] or 0) + 1
  end
  for _, key in ipairs(r.plan.group_order) do
    local g = r.plan.groups[key]
    if g.kind == "instance" then
      local status, err, action
      if #g.items > 0 then
        local worst = "migrated"
        local rank = { migrated = 1, skipped = 1, planned = 2, rolled_back = 3, failed = 4 }
        for _, k in ipairs(g.items) do
          local o = outcomes[k]
          if o and rank[o.status] and rank[o.status] > rank[worst] then
            worst, err, action = o.status, o.error, o.action
          end
        end
        status = worst
      else
        local o = outcomes[key] or { status = "planned" }
        status, err, action = o.status, o.error, o.action
      end
      -- An undo that failed for good: the commands that put it back.
      local manual = status == "failed" and r:get_fact(g.items[1] or key, "manual") or nil
      rep.instances[#rep.instances + 1] = {
        name = g.instance, zone = g.zone, power_state = g.status,
        from_machine_type = g.machine_type, to_machine_type = g.target_machine_type,
        stopped_and_started = g.stop or false, status = status, error = err, action = action,
        disks = json.array { table.unpack(g.items) },
        restore = type(manual) == "table" and #manual > 0 and json.array { table.unpack(manual) } or nil,
      }
    end
  end
  rep.totals = totals
  local steps = report_mod.step_metrics(res and res.tasks)
  for _, s in pairs(steps) do
    s.p50, s.p95 = report_mod.round(s.p50, 2), report_mod.round(s.p95, 2)
  end
  local step_retries, rollbacks = 0, 0
  for id, t in pairs(res and res.tasks or {}) do
    if (t.attempts or 1) > 1 then step_retries = step_retries + t.attempts - 1 end
    if id:match("^begin:") and (t.state == "rolled_back" or t.state == "rollback_failed"
        or (t.state == "failed" and not claim.is_refusal(t.error))) then
      rollbacks = rollbacks + 1
    end
    if id:match("^restore:") then rollbacks = rollbacks + 1 end
  end
  local api = api_counters(r.client)
  rep.metrics = {
    makespan_s = res and res.makespan and report_mod.round(res.makespan, 2) or nil,
    steps = steps, step_retries = step_retries, rollbacks = rollbacks,
    api_calls = api and api.calls, http_retries = api and api.retries,
    api_calls_per_migrated = api and api.calls and totals.migrated > 0
      and report_mod.round(api.calls / totals.migrated, 2) or nil,
  }
  for _, n in ipairs(r.plan.notes or {}) do rep.notes[#rep.notes + 1] = n end
  for _, n in ipairs(extra and extra.notes or {}) do rep.notes[#rep.notes + 1] = n end
  rep.interrupted = extra and extra.interrupted or nil
  rep.ok = totals.rolled_back == 0 and totals.failed == 0 and totals.planned == 0
  for _, d in ipairs(rep.disks) do
    if d.refused then rep.ok = false end
  end
  for _, i in ipairs(rep.instances) do
    if i.status ~= "migrated" then rep.ok = false end
  end
  return rep
end

--- Runs a plan.
-- @tparam table o options (M.options)
-- @tparam table plan
-- @tparam[opt] table p {journal, resumed (journal state), on_progress,
--   on_event, log, on_workflow (called with the pd.workflow before it
--   runs, e.g. to keep it for wf:cancel())}
-- @treturn table result {plan, report, res (the engine's result), ok,
--   interrupted}
function M.execute(o, plan, p)
  p = p or {}
  local r = run_mod.new { client = o.client, plan = plan, journal = p.journal,
                          resumed = p.resumed, log = p.log }
  r.task_timeout = o.task_timeout
  r.retries = o.retries
  r.resumed_state = p.resumed
  r.modes = group_modes(plan, p.resumed, o.retry_failed)
  for id, t in pairs(p.resumed and p.resumed.tasks or {}) do
    if t.group and (t.state == "failed" or t.state == "timed_out") then
      r.ctx:put("failures", t.group, ("%s failed: %s"):format(describe(id), tostring(t.error)))
    end
  end
  local wf = M.workflow(r, p.name)
  if p.on_workflow then p.on_workflow(wf) end
  if r.journal then
    r.journal:write { type = "run", event = "started", resumed = p.resumed ~= nil }
  end
  local res = wf:run {
    max_parallel = o.max_parallel, task_timeout = o.task_timeout, pools = o.pools,
    fail = "continue", rollback = "group", engine = o.engine or "pool",
    progress_interval = o.progress_interval or 1.0,
    on_progress = p.on_progress, on_event = p.on_event, context = r.ctx,
  }
  local interrupted = res.stopped == "cancelled" or res.cancelled == true

  local outcomes = M.outcomes(r, res)
  M.confirm(r)
  if r.journal then
    for k, o2 in pairs(outcomes) do
      r.journal:write { type = "item", key = k, status = o2.status, error = o2.error and tostring(o2.error),
                        action = o2.action, interrupted = o2.interrupted, duration_s = o2.duration_s }
    end
    r.journal:write { type = "run", event = interrupted and "interrupted" or "finished" }
  end
  local rep = M.build_report(r, res, { interrupted = interrupted })
  return { plan = plan, report = rep, res = res, ok = rep.ok, interrupted = interrupted, run = r }
end

local function run_selected(ctx, field, names)
  local o = M.options(ctx)
  if field == "instances" then
    o.instances = names
  else
    o.selector = { disks = {}, exclude = o.selector.exclude, labels = o.selector.labels,
                   types = o.selector.types, attached = o.selector.attached }
    for _, d in ipairs(names) do
      o.selector.disks[#o.selector.disks + 1] = type(d) == "table" and d.name or d
    end
  end
  local plan = M.prepare(o)
  if #plan.problems > 0 then
    error(pd.error { reason = "invalidArgument", retryable = false,
                     message = table.concat(plan.problems, "; ") }, 2)
  end
  return M.execute(o, plan, ctx)
end

--- Migrates disks wherever they are (disk mode).
-- @tparam table ctx {client, project, zones | region, target_type, and the
--   options of pdlua.migrate.cli: retain_name, delete_original, iops, ...}
-- @tparam {string|table,...} disks names (wildcards allowed) or disk resources
-- @treturn table result; `migrate.report(result)` renders it
function M.migrate_disks(ctx, disks)
  return run_selected(ctx, "disks", disks)
end

--- Migrates every disk of the given instances (instance mode), with a
-- machine type change when ctx.machine_type is set.
-- @tparam table ctx as for migrate_disks, plus machine_type
-- @tparam {string,...} instances names (wildcards allowed) or {"*"}
function M.migrate_instances(ctx, instances)
  local names = {}
  for _, i in ipairs(instances) do names[#names + 1] = type(i) == "table" and i.name or i end
  return run_selected(ctx, "instances", names)
end

--- Renders a result's report: format "text" (default) or "json".
function M.report(result, format)
  local rep = result.report or result
  if format == "json" then return report_mod.json(rep) end
  return report_mod.text(rep)
end

return M
