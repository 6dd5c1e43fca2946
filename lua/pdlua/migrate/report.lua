--- pdlua.migrate.report: what a migration did, for people and programs.
-- A report is plain data: one entry per disk {name, zone, instance,
-- from_type, to_type, status, new_disk, snapshot, duration_s, error} (status
-- migrated | rolled_back | failed | skipped | planned; `action` says what a
-- person must do for a failed one), per-instance entries, totals and
-- metrics (per-step p50/p95 durations, API calls, retries, rollbacks).
-- This module renders reports and plans as text tables or JSON.
local json = require "pdlua.json"

local M = {}

-- Reports and plans are read by people and diffed: indented, keys sorted.
local PRETTY = { pretty = true, sorted = true }

M.STATUSES = { "migrated", "rolled_back", "failed", "skipped", "planned" }

--- The p-th percentile (0..100) of a list of numbers (nearest rank).
function M.percentile(list, p)
  if #list == 0 then return nil end
  local s = { table.unpack(list) }
  table.sort(s)
  local rank = math.max(1, math.ceil(p / 100 * #s))
  return s[math.min(rank, #s)]
end

--- Per-step durations from an engine result: {step = {count, p50, p95}}.
-- A task id is "<step>:<subject>"; only steps that succeeded count.
function M.step_metrics(tasks)
  local by = {}
  for id, t in pairs(tasks or {}) do
    local step = id:match("^([%w_]+):")
    if step and t.state == "succeeded" and t.started and t.finished and t.finished >= t.started then
      by[step] = by[step] or {}
      table.insert(by[step], t.finished - t.started)
    end
  end
  local out = {}
  for step, list in pairs(by) do
    out[step] = { count = #list, p50 = M.percentile(list, 50), p95 = M.percentile(list, 95) }
  end
  return out
end

local function round(x, digits)
  if not x then return nil end
  local m = 10 ^ (digits or 1)
  return math.floor(x * m + 0.5) / m
end
M.round = round

-- Pads/cuts cells into aligned columns.
local function table_text(header, rows)
  local w = {}
  for i, h in ipairs(header) do w[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do w[i] = math.max(w[i], #tostring(cell)) end
  end
  local lines = {}
  local function line(cells)
    local parts = {}
    for i, cell in ipairs(cells) do
      parts[i] = i == #cells and tostring(cell) or (tostring(cell) .. string.rep(" ", w[i] - #tostring(cell)))
    end
    lines[#lines + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  line(header)
  for _, row in ipairs(rows) do line(row) end
  return table.concat(lines, "\n")
end
M.table_text = table_text

local STATUS_TEXT = { migrated = "migrated", rolled_back = "rolled back", failed = "FAILED",
                      skipped = "skipped", planned = "planned" }

--- The report as a readable text: a table of disks, then totals, metrics
-- and, for every disk not migrated, why and what to do.
function M.text(rep)
  local out = {}
  -- First: any instance an undo could not put back, and how to.
  for _, i in ipairs(rep.instances or {}) do
    if i.restore then
      out[#out + 1] = ("NOT AS FOUND: instance %s (%s) could not be put back as it was found (%s). To restore it:")
        :format(i.name, i.zone, i.power_state or "?")
      for _, cmd in ipairs(i.restore) do out[#out + 1] = "  " .. cmd end
    end
  end
  if #out > 0 then out[#out + 1] = "" end
  local rows = {}
  for _, d in ipairs(rep.disks) do
    rows[#rows + 1] = {
      d.name, d.zone, d.instance or "-", d.from_type or "?", d.to_type or "?",
      STATUS_TEXT[d.status] or d.status, d.new_disk or "-",
      d.duration_s and (("%.1fs"):format(d.duration_s)) or "-",
    }
  end
  if #rows > 0 then
    out[#out + 1] = table_text({ "DISK", "ZONE", "INSTANCE", "FROM", "TO", "STATUS", "NEW DISK",
                                 "TIME" }, rows)
  else
    out[#out + 1] = "No disk matched the selection."
  end
  if rep.instances and #rep.instances > 0 then
    local irows = {}
    for _, i in ipairs(rep.instances) do
      irows[#irows + 1] = { i.name, i.zone, i.power_state or "-",
                            i.from_machine_type or "-", i.to_machine_type or "-",
                            STATUS_TEXT[i.status] or i.status or "-" }
    end
    out[#out + 1] = ""
    out[#out + 1] = table_text({ "INSTANCE", "ZONE", "POWER", "MACHINE TYPE", "NEW MACHINE TYPE",
                                 "STATUS" }, irows)
  end
  local t = rep.totals
  out[#out + 1] = ""
  out[#out + 1] = ("Totals: %d migrated, %d rolled back, %d failed, %d skipped, %d planned (%d disks)")
    :format(t.migrated, t.rolled_back, t.failed, t.skipped, t.planned, t.disks)
  local m = rep.metrics
  if m then
    if m.makespan_s then
      out[#out + 1] = ("Time: %.1fs"):format(m.makespan_s)
    end
    local steps = {}
    for step, s in pairs(m.steps or {}) do steps[#steps + 1] = { step, s } end
    table.sort(steps, function(a, b) return a[1] < b[1] end)
    if #steps > 0 then
      local parts = {}
      for _, e in ipairs(steps) do
        parts[#parts + 1] = ("%s %.1f/%.1f"):format(e[1], e[2].p50, e[2].p95)
      end
      out[#out + 1] = "Step durations, p50/p95 s: " .. table.concat(parts, ", ")
    end
    if m.api_calls then
      out[#out + 1] = ("API calls: %d (%s per migrated disk), HTTP retries: %d, step retries: %d, rollbacks: %d")
        :format(m.api_calls, m.api_calls_per_migrated and ("%.1f"):format(m.api_calls_per_migrated) or "-",
                m.http_retries or 0, m.step_retries or 0, m.rollbacks or 0)
    end
  end
  local notes = {}
  -- A disk that shares its instance's outcome points to it rather than
  -- repeating the same error and commands.
  local by_instance = {}
  for _, i in ipairs(rep.instances or {}) do by_instance[i.zone .. "/" .. i.name] = i end
  for _, d in ipairs(rep.disks) do
    local inst = d.instance and by_instance[d.zone .. "/" .. d.instance]
    if (d.status == "failed" or d.status == "rolled_back") and inst and inst.status == d.status
        and inst.error == d.error and inst.action == d.action then
      notes[#notes + 1] = ("  %s (%s): with instance %s, below"):format(d.name, STATUS_TEXT[d.status],
                                                                       d.instance)
    elseif d.status == "failed" or d.status == "rolled_back" or (d.status == "skipped" and d.refused) then
      notes[#notes + 1] = ("  %s (%s): %s"):format(d.name, STATUS_TEXT[d.status], d.error or "")
      if d.action then notes[#notes + 1] = "    to do: " .. d.action end
    end
    for _, w in ipairs(d.warnings or {}) do
      notes[#notes + 1] = ("  %s: %s"):format(d.name, w)
    end
  end
  for _, i in ipairs(rep.instances or {}) do
    if i.status == "failed" or i.status == "rolled_back" then
      notes[#notes + 1] = ("  instance %s (%s): %s"):format(i.name, STATUS_TEXT[i.status], i.error or "")
      if i.action then notes[#notes + 1] = "    to do: " .. i.action end
    end
  end
  if #notes > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Needs attention:"
    for _, n in ipairs(notes) do out[#out + 1] = n end
  end
  for _, n in ipairs(rep.notes or {}) do out[#out + 1] = "note: " .. n end
  return table.concat(out, "\n") .. "\n"
end

--- The report as JSON (keys sorted, lists as lists even when empty).
function M.json(rep)
  local function arr(t) return json.array(t or {}) end
  local copy = {}
  for k, v in pairs(rep) do copy[k] = v end
  copy.disks = arr(rep.disks)
  copy.instances = arr(rep.instances)
  copy.notes = arr(rep.notes)
  for _, d in ipairs(copy.disks) do
    if d.warnings then d.warnings = arr(d.warnings) end
  end
  return json.encode(copy, PRETTY) .. "\n"
end

--- The plan as text: what will happen to each disk and instance, and what
-- would fail.
function M.plan_text(plan, opts)
  local out = {}
  local rows = {}
  for _, item in ipairs(plan.items) do
    local what
    if item.status == "planned" then
      what = ("-> %s (%s)"):format(item.new_name, item.target_type)
    elseif item.refused then
      what = "WOULD FAIL: " .. (item.reason or "")
    else
      what = "skip: " .. (item.reason or "")
    end
    rows[#rows + 1] = { item.name, item.zone, item.instance or "-", item.from_type or "?",
                        tostring(item.size_gb or "?") .. " GB", what }
  end
  out[#out + 1] = ("Plan: %s to %s in project %s (%s)"):format(
    opts and opts.instances and "instances' disks" or "disks", plan.target_type, plan.project,
    table.concat(plan.zones or {}, ", "))
  if #rows > 0 then
    out[#out + 1] = table_text({ "DISK", "ZONE", "INSTANCE", "TYPE", "SIZE", "PLAN" }, rows)
  else
    out[#out + 1] = "No disk matched the selection."
  end
  local irows = {}
  for _, key in ipairs(plan.group_order) do
    local g = plan.groups[key]
    if g.kind == "instance" then
      local steps = {}
      if g.stop then steps[#steps + 1] = "stop once, start once" end
      if not g.stop then steps[#steps + 1] = ("stays %s"):format(g.status) end
      if g.target_machine_type then
        steps[#steps + 1] = ("machine type %s -> %s"):format(g.machine_type, g.target_machine_type)
      end
      irows[#irows + 1] = { g.instance, g.zone, g.status or "?", tostring(#g.items),
                            table.concat(steps, "; ") }
    end
  end
  if #irows > 0 then
    out[#out + 1] = ""
    out[#out + 1] = table_text({ "INSTANCE", "ZONE", "POWER", "DISKS", "PLAN" }, irows)
  end
  local o = plan.options or {}
  out[#out + 1] = ""
  out[#out + 1] = ("Originals: %s. Snapshots: %s.%s"):format(
    o.retain_name and "deleted once snapshotted; the new disks take their names"
      or (o.delete_original and "deleted once the new disks are verified"
          or "kept, labelled pdlua-state=migrated"),
    o.keep_snapshots and "kept" or "deleted at the end",
    (o.iops or o.throughput) and (" New disks: %s%s."):format(
      o.iops and (o.iops .. " IOPS ") or "", o.throughput and (o.throughput .. " MiB/s") or "") or "")
  local n_planned, n_refused = 0, 0
  for _, item in ipairs(plan.items) do
    if item.status == "planned" then n_planned = n_planned + 1 end
    if item.refused then n_refused = n_refused + 1 end
  end
  out[#out + 1] = ("%d disk(s) to migrate, %d would fail, %d skipped."):format(
    n_planned, n_refused, #plan.items - n_planned - n_refused)
  for _, p in ipairs(plan.problems or {}) do out[#out + 1] = "WOULD FAIL: " .. p end
  for _, n in ipairs(plan.notes or {}) do out[#out + 1] = "note: " .. n end
  return table.concat(out, "\n") .. "\n"
end

--- The plan as JSON.
function M.plan_json(plan)
  local items = {}
  for _, item in ipairs(plan.items) do
    items[#items + 1] = {
      name = item.name, zone = item.zone, instance = item.instance,
      from_type = item.from_type, to_type = item.target_type, size_gb = item.size_gb,
      status = item.status, reason = item.reason, would_fail = item.refused or false,
      new_disk = item.status == "planned" and item.new_name or nil,
      snapshot = item.status == "planned" and item.snapshot_name or nil,
      attachment = item.attachment, new_iops = item.new_iops,
      new_throughput = item.new_throughput,
    }
  end
  local instances = {}
  for _, key in ipairs(plan.group_order) do
    local g = plan.groups[key]
    if g.kind == "instance" then
      instances[#instances + 1] = {
        name = g.instance, zone = g.zone, power_state = g.status, stop = g.stop or false,
        machine_type = g.machine_type, target_machine_type = g.target_machine_type,
        disks = json.array { table.unpack(g.items) },
      }
    end
  end
  return json.encode({
    project = plan.project, target_type = plan.target_type, zones = json.array(plan.zones),
    options = plan.options, disks = json.array(items), instances = json.array(instances),
    problems = json.array(plan.problems), notes = json.array(plan.notes),
  }, PRETTY) .. "\n"
end

return M
