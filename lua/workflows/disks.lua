--- workflows.disks: the chain of steps for a disk attached to no instance.
--
--   begin (claims the disk) -> snapshot -> create -> verify -> cleanup
--   begin -> snapshot -> delete original -> create -> verify -> cleanup
--                                          (--retain-name)
--
-- No instance is involved, so nothing stops and nothing waits for other
-- disks: each unattached disk is a group of its own and runs as soon as the
-- pools let it. Nobody writes to an unattached disk, so its snapshot is
-- complete without stopping anything.
local guard = require "workflows.guard"
local snapshot = require "tasks.snapshot"
local create_disk = require "tasks.create_disk"
local delete_original = require "tasks.delete_original"
local verify = require "tasks.verify"
local cleanup = require "tasks.cleanup"

local M = {}

--- Adds the steps of disk group `g` to workflow `wf`.
-- @treturn {string,...} the ids of its tasks
function M.add(r, wf, g)
  local K = g.key
  local item = r:item(g.items[1])
  local k = item.key
  local ids = {}
  local add = r:adder(wf, K, ids)
  local begin = add { id = "begin:" .. K, step = guard, subject = g }
  local snap = add { id = "snapshot:" .. k, step = snapshot, subject = item, deps = { begin },
                     pool = "snapshots" }
  local before_create = snap
  if r.plan.options.retain_name then
    before_create = add { id = "delete_original:" .. k, step = delete_original, subject = item,
                          deps = { snap } }
  end
  local create = add { id = "create:" .. k, step = create_disk, subject = item,
                       deps = { before_create }, pool = "disk_creates" }
  local ver = add { id = "verify:" .. k, step = verify, subject = item, deps = { create } }
  add { id = "cleanup:" .. k, step = cleanup, subject = item, deps = { ver },
        group = "cleanup/" .. k }
  return ids
end

return M
