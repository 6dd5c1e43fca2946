--- tasks.stop: stop the instance so no write lands after the snapshot.
--
-- Does: stops a RUNNING instance that has a selected disk it writes to (or
-- whose machine type changes). A snapshot of a running VM is only
-- crash-consistent: whatever it writes after the snapshot would be lost in
-- the new disk. Stopped once, however many of its disks move.
-- Already done when: the instance is TERMINATED.
-- Undo: start it again (it was running when the migration found it) —
-- once every original disk is back at its device name, never before.
local gce = require "pdlua.migrate.gce"
local naming = require "pdlua.migrate.naming"

local M = { step = "stop" }

local DOWN = { TERMINATED = true, STOPPED = true }

-- Whether an earlier run already swapped every disk of the instance (and
-- changed its machine type): then there is nothing to stop it for.
local function already_swapped(r, g, inst)
  if g.target_machine_type and naming.last(inst.machineType) ~= g.target_machine_type then
    return false
  end
  local detach = require "tasks.detach"
  for _, key in ipairs(g.items) do
    local item = r:item(key)
    local a = gce.slot(inst, item.attachment.deviceName)
    if not a or not detach.holds_new(r, item, a) then return false end
  end
  return true
end

function M.run(r, g, t)
  local c = r.client
  if not r:fresh(nil, t) or g.resumed then
    local inst = gce.instance(c, g.zone, g.instance)
    if not inst then gce.fail("notFound", "instance '%s' no longer exists", g.instance) end
    if DOWN[inst.status] then return end
    if inst.status == "RUNNING" and already_swapped(r, g, inst) then return end
  end
  -- A stop already in flight (STOPPING) is joined: the same requestId gives
  -- back its operation; another stop of a stopping instance is harmless.
  gce.mutate(c, c.instances, "stop", {
    zone = g.zone, instance = g.instance,
    requestId = r:request_id(g.key, "stop", g.zone, g.instance, t),
  })
end

function M.rollback(r, g, t)
  if g.status ~= "RUNNING" then return end
  local c = r.client
  local inst = gce.instance(c, g.zone, g.instance)
  if not inst then gce.fail("notFound", "instance '%s' no longer exists", g.instance) end
  if inst.status == "RUNNING" then return end
  -- Never start it without its disks back where they were: an instance up
  -- without its boot or data disk is worse than one left stopped.
  local detach = require "tasks.detach"
  for _, key in ipairs(g.items) do
    local item = r:item(key)
    local a = gce.slot(inst, item.attachment.deviceName)
    if not a or not detach.holds_original(r, item, a) then
      gce.fail("diskNotBack", "instance '%s' was left stopped: disk '%s' is not back at device '%s'",
               g.instance, item.name, item.attachment.deviceName)
    end
  end
  if inst.status == "STOPPING" then
    gce.mutate(c, c.instances, "stop", {
      zone = g.zone, instance = g.instance,
      requestId = r:request_id(g.key, "stop-settle", g.zone, g.instance, t),
    })
  end
  gce.mutate(c, c.instances, "start", {
    zone = g.zone, instance = g.instance,
    requestId = r:request_id(g.key, "restart", g.zone, g.instance, t),
  })
end

return M
