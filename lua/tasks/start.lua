--- tasks.start: start the instance again.
--
-- Does: starts an instance that was RUNNING when the migration found it,
-- once every disk is back in place. An instance found TERMINATED is never
-- started: it stays as it was.
-- Already done when: the instance is RUNNING.
-- Undo: stop it again — needed only when a later step (verify) fails and
-- the swap must be undone, which a running instance would not allow for a
-- boot disk. The stop step's undo starts it once the originals are back.
local gce = require "pdlua.migrate.gce"

local M = { step = "start" }

local UP = { RUNNING = true, STAGING = true, PROVISIONING = true }

function M.run(r, g, t)
  local c = r.client
  if not r:fresh(nil, t) or g.resumed then
    local inst = gce.instance(c, g.zone, g.instance)
    if not inst then gce.fail("notFound", "instance '%s' no longer exists", g.instance) end
    if inst.status == "RUNNING" then return end
  end
  gce.mutate(c, c.instances, "start", {
    zone = g.zone, instance = g.instance,
    requestId = r:request_id(g.key, "start", g.zone, g.instance, t),
  })
end

function M.rollback(r, g, t)
  local c = r.client
  local inst = gce.instance(c, g.zone, g.instance)
  if not inst or not UP[inst.status] then return end
  gce.mutate(c, c.instances, "stop", {
    zone = g.zone, instance = g.instance,
    requestId = r:request_id(g.key, "start-undo", g.zone, g.instance, t),
  })
end

return M
