--- tasks.attach: put the new disk where the original was.
--
-- Does: attaches the new disk at the original's device name with the
-- original's boot, mode, autoDelete and interface, so the guest finds it at
-- the same /dev/disk/by-id/google-<device name>.
-- Already done when: the device name holds the new disk.
-- Undo: detach the new disk (the detach step's undo then puts the original
-- back).
local gce = require "pdlua.migrate.gce"
local detach = require "tasks.detach"

local M = { step = "attach" }

function M.run(r, item, t)
  local c = r.client
  if not r:fresh(item, t) then
    local inst = gce.instance(c, item.zone, item.instance)
    if not inst then gce.fail("notFound", "instance '%s' no longer exists", item.instance) end
    local a = gce.slot(inst, item.attachment.deviceName)
    if a then
      if detach.holds_new(r, item, a) then return end
      gce.fail("deviceInUse", "device '%s' of instance '%s' still holds %s",
               item.attachment.deviceName, item.instance, tostring(a.source))
    end
  end
  gce.mutate(c, c.instances, "attach_disk", {
    zone = item.zone, instance = item.instance,
    body = detach.attach_body(r, item, item.new_name),
    requestId = r:request_id(item.group, "attach", item.zone, item.name, t),
  })
end

function M.rollback(r, item, t)
  local c = r.client
  local inst = gce.instance(c, item.zone, item.instance)
  if not inst then return end
  local a = gce.slot(inst, item.attachment.deviceName)
  if not a or not detach.holds_new(r, item, a) then return end
  gce.mutate(c, c.instances, "detach_disk", {
    zone = item.zone, instance = item.instance, deviceName = item.attachment.deviceName,
    requestId = r:request_id(item.group, "attach-undo", item.zone, item.name, t),
  })
end

return M
