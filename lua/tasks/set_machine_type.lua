--- tasks.set_machine_type: change the instance's machine type (instance
-- mode with --machine-type).
--
-- Does: sets the new machine type while the instance is stopped and its
-- migrated disks are detached — a hyperdisk cannot attach to an n2, and a
-- pd-standard blocks an n4, so the change sits between the detaches and the
-- attaches.
-- Already done when: the instance has that machine type.
-- Undo: set the original machine type back.
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"

local M = { step = "set_machine_type" }

local function set(r, g, machine_type, step, t)
  local c = r.client
  local inst = gce.instance(c, g.zone, g.instance)
  if not inst then gce.fail("notFound", "instance '%s' no longer exists", g.instance) end
  if naming.last(inst.machineType) == machine_type then return end
  gce.mutate(c, c.instances, "set_machine_type", {
    zone = g.zone, instance = g.instance,
    body = { machineType = naming.machine_type_url(r.plan.project, g.zone, machine_type) },
    requestId = r:request_id(g.key, step, g.zone, g.instance .. "/" .. machine_type, t),
  })
end

function M.run(r, g, t)
  set(r, g, g.target_machine_type, "set-machine-type", t)
end

function M.rollback(r, g, t)
  set(r, g, g.machine_type, "restore-machine-type", t)
end

return M
