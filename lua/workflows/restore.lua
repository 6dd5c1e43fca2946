--- workflows.restore: put a disk, or an instance and its disks, back as
-- they were found — whatever state a failure, a cancel or a kill left them
-- in.
-- Each step's own undo (lua/tasks/*) is written against what it reads, not
-- against what it remembers, so running all of a group's undos, newest step
-- first, from any state, ends in the original state: an undo whose step
-- never happened finds nothing to do. The engine runs the undos of the
-- steps that succeeded; this sweep runs last (it is the undo of the group's
-- first task) and also catches what a failed or cancelled step left half
-- done, and it is what a resumed run uses for a group that was being
-- undone when the process died. When an undo fails, the others still run,
-- and the sweep says, as commands a person can type, what is left to do.
local pd = require "pdlua"
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"
local labels = require "pdlua.migrate.labels"
local label = require "tasks.label"
local stop = require "tasks.stop"
local snapshot = require "tasks.snapshot"
local create_disk = require "tasks.create_disk"
local delete_original = require "tasks.delete_original"
local detach = require "tasks.detach"
local attach = require "tasks.attach"
local set_machine_type = require "tasks.set_machine_type"
local start = require "tasks.start"

local M = {}

local function q(s) return tostring(s) end

--- What a person must do when a step's undo failed, as gcloud commands.
-- @treturn string
function M.manual(r, step, subject)
  local p = r.plan.project
  if step == "release" then
    return ("remove pdlua's claim from instance %s: gcloud compute instances remove-labels %s --zone %s --project %s --labels=%s,%s,%s")
      :format(subject.instance, subject.instance, subject.zone, p, claim.keys.run, claim.keys.host, claim.keys.at)
  elseif step == "label" then
    local keys = {}
    for k in pairs(label.wanted(r, subject)) do
      if labels.is_pdlua(k) then keys[#keys + 1] = k end
    end
    table.sort(keys)
    return ("remove pdlua's labels from disk %s: gcloud compute disks remove-labels %s --zone %s --project %s --labels=%s")
      :format(subject.name, subject.name, subject.zone, p, table.concat(keys, ","))
  elseif step == "stop" then
    return ("start instance %s again: gcloud compute instances start %s --zone %s --project %s")
      :format(subject.instance, subject.instance, subject.zone, p)
  elseif step == "start" then
    return ("stop instance %s to finish putting its disks back: gcloud compute instances stop %s --zone %s --project %s")
      :format(subject.instance, subject.instance, subject.zone, p)
  elseif step == "snapshot" then
    return ("delete snapshot %s once disk %s is back: gcloud compute snapshots delete %s --project %s")
      :format(subject.snapshot_name, subject.name, subject.snapshot_name, p)
  elseif step == "create" then
    return ("delete the new disk %s: gcloud compute disks delete %s --zone %s --project %s")
      :format(subject.new_name, subject.new_name, subject.zone, p)
  elseif step == "delete_original" then
    return ("recreate disk %s from its snapshot: gcloud compute disks create %s --zone %s --project %s --source-snapshot %s --type %s --size %sGB")
      :format(subject.name, subject.name, subject.zone, p, subject.snapshot_name,
              subject.from_type, q(subject.size_gb))
  elseif step == "detach" then
    local a = subject.attachment
    local cmd = ("attach disk %s back to %s: gcloud compute instances attach-disk %s --zone %s --project %s --disk %s --device-name %s --mode %s%s%s")
      :format(subject.name, subject.instance, subject.instance, subject.zone, p, subject.name,
              a.deviceName, a.mode == "READ_ONLY" and "ro" or "rw", a.boot and " --boot" or "",
              a.interface and (" --interface " .. a.interface:lower()) or "")
    if a.autoDelete then
      -- attach-disk attaches without auto-delete; the original had it.
      cmd = cmd .. ("; gcloud compute instances set-disk-auto-delete %s --zone %s --project %s --device-name %s --auto-delete")
        :format(subject.instance, subject.zone, p, a.deviceName)
    end
    return cmd
  elseif step == "attach" then
    return ("detach the new disk from %s: gcloud compute instances detach-disk %s --zone %s --project %s --device-name %s")
      :format(subject.instance, subject.instance, subject.zone, p, subject.attachment.deviceName)
  elseif step == "set_machine_type" then
    return ("set %s's machine type back: gcloud compute instances set-machine-type %s --zone %s --project %s --machine-type %s")
      :format(subject.instance, subject.instance, subject.zone, p, subject.machine_type)
  end
  return ("undo step %s by hand"):format(step)
end

-- Whether any slot of the group's instance does not hold its original, or
-- its machine type was changed: then the swap must be undone, which for a
-- boot disk (or a disk it writes to) needs the instance stopped.
local function swap_undone_needed(r, g, items)
  local inst = gce.instance(r.client, g.zone, g.instance)
  if not inst then return false end
  if naming.last(inst.machineType) ~= g.machine_type then return true end
  for _, item in ipairs(items) do
    local a = gce.slot(inst, item.attachment.deviceName)
    if not a or not detach.holds_original(r, item, a) then return true end
  end
  return false
end

--- The undo steps of a group, newest first: {step name, module, subject}.
function M.steps(r, g)
  local items = {}
  for _, k in ipairs(g.items) do items[#items + 1] = r:item(k) end
  local retain = r.plan.options.retain_name
  local out = {}
  local function add(name, mod, subj) out[#out + 1] = { name, mod, subj } end
  local inst = g.kind == "instance"
  if inst then
    if g.stop then add("start", start, g) end
    for i = #items, 1, -1 do add("attach", attach, items[i]) end
    if g.target_machine_type then add("set_machine_type", set_machine_type, g) end
  end
  if retain then
    for i = #items, 1, -1 do
      add("create", create_disk, items[i])
      add("delete_original", delete_original, items[i])
    end
  end
  if inst then
    for i = #items, 1, -1 do add("detach", detach, items[i]) end
  end
  if not retain then
    for i = #items, 1, -1 do add("create", create_disk, items[i]) end
  end
  for i = #items, 1, -1 do add("snapshot", snapshot, items[i]) end
  if inst and g.stop then add("stop", stop, g) end
  for i = #items, 1, -1 do add("label", label, items[i]) end
  if inst then add("release", { rollback = label.release_instance }, g) end
  return out, items
end

--- Puts a group back as it was found (`t`: the handle of the task doing
-- it, whose attempt makes its request ids new on a retry). Records, per
-- item, the commands that finish what could not be undone.
-- @treturn {string,...} the steps whose undo failed (empty when all is
--   back), and whether every one of them failed for a passing reason
--   (a retryable error: the sweep is worth running again)
function M.group(r, g, t)
  -- What interrupted steps left running must end before anything is read.
  r:settle(g.key)
  -- Only what this run holds is put back: a group whose claim is another
  -- run's (or was never this run's) is left alone.
  if not claim.holds_group(r, g) then return {} end
  local steps, items = M.steps(r, g)
  local failures, manual, passing = {}, {}, true
  local skip_start = false
  if g.kind == "instance" and g.stop then
    local ok, needed = pcall(swap_undone_needed, r, g, items)
    skip_start = ok and not needed
  end
  -- The claims (label, release: the last steps) are let go only when all
  -- the rest is back: a group left half put back stays this run's, so that
  -- running it again finishes the job and no other run takes it meanwhile.
  local RELEASE = { label = true, release = true }
  for _, s in ipairs(steps) do
    local name, mod, subj = s[1], s[2], s[3]
    if not (name == "start" and skip_start) and not (RELEASE[name] and #failures > 0) then
      local ok, err = pcall(mod.rollback, r, subj, r:sweep_handle(g, t))
      if not ok then
        local who = subj.name or subj.instance
        failures[#failures + 1] = ("undo of %s for %s: %s"):format(name, who, tostring(err))
        passing = passing and pd.is_error(err) and err.retryable == true
        manual[#manual + 1] = M.manual(r, name, subj)
      end
    end
  end
  if #failures > 0 then
    for _, item in ipairs(items) do
      r:fact(item.key, "manual", manual)
    end
    if g.kind == "instance" and #items == 0 then r:fact(g.key, "manual", manual) end
  end
  return failures, passing
end

return M
