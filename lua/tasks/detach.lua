--- tasks.detach: take the original disk off its instance.
--
-- Does: detaches the original from its device name. Runs once every new
-- disk of the instance exists, so a failed create never leaves an instance
-- half taken apart. A boot disk needs the instance TERMINATED (it is: the
-- stop step ran); a read-only data disk of a running instance is detached
-- hot.
-- Already done when: the device name is free, or holds the new disk.
-- Refused when: the original no longer carries this run's claim.
-- Undo: attach the original back with the very same settings (device name,
-- boot, mode, autoDelete, interface), after taking the new disk off the
-- device name if it is there.
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"
local labels = require "pdlua.migrate.labels"

local M = { step = "detach" }

--- Whether the slot holds the original (not a new disk under its name).
function M.holds_original(r, item, a)
  if not gce.slot_holds(a, item.zone, item.name) then return false end
  if item.new_name ~= item.name then return true end
  return not labels.made_from(gce.disk(r.client, item.zone, item.name), item.name)
end

--- Whether the slot holds pdlua's new disk.
function M.holds_new(r, item, a)
  if not gce.slot_holds(a, item.zone, item.new_name) then return false end
  if item.new_name ~= item.name then return true end
  return labels.made_from(gce.disk(r.client, item.zone, item.name), item.name)
end

local function detach(r, item, t, step)
  local c = r.client
  gce.mutate(c, c.instances, "detach_disk", {
    zone = item.zone, instance = item.instance, deviceName = item.attachment.deviceName,
    requestId = r:request_id(item.group, step, item.zone, item.name, t),
  })
end

function M.run(r, item, t)
  -- A fresh run knows from its plan what the device holds.
  if not r:fresh(item, t) then
    local inst = gce.instance(r.client, item.zone, item.instance)
    if not inst then gce.fail("notFound", "instance '%s' no longer exists", item.instance) end
    local a = gce.slot(inst, item.attachment.deviceName)
    if not a or not M.holds_original(r, item, a) then return end
  end
  claim.check_item(r, item)
  detach(r, item, t, "detach")
end

--- The attachDisk body that puts a disk at the original's device name with
-- the original's settings.
function M.attach_body(r, item, disk_name)
  local a = item.attachment
  return {
    source = naming.disk_url(r.plan.project, item.zone, disk_name),
    deviceName = a.deviceName, boot = a.boot, mode = a.mode,
    autoDelete = a.autoDelete, interface = a.interface,
  }
end

function M.rollback(r, item, t)
  local c = r.client
  local inst = gce.instance(c, item.zone, item.instance)
  if not inst then gce.fail("notFound", "instance '%s' no longer exists", item.instance) end
  local a = gce.slot(inst, item.attachment.deviceName)
  if a then
    if M.holds_original(r, item, a) then return end
    if not M.holds_new(r, item, a) then
      gce.fail("deviceInUse", "device '%s' of instance '%s' holds %s, neither '%s' nor its replacement",
               item.attachment.deviceName, item.instance, tostring(naming.last(a.source)), item.name)
    end
    detach(r, item, t, "detach-new")
  end
  local orig = gce.disk(c, item.zone, item.name)
  if not orig or labels.made_from(orig, item.name) then
    gce.fail("notFound", "original disk '%s' does not exist; it cannot be attached back to '%s'",
             item.name, item.instance)
  end
  gce.mutate(c, c.instances, "attach_disk", {
    zone = item.zone, instance = item.instance, body = M.attach_body(r, item, item.name),
    requestId = r:request_id(item.group, "reattach", item.zone, item.name, t),
  })
end

return M
