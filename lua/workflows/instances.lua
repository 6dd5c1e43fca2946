--- workflows.instances: the chain of steps for an instance and the
-- selected disks attached to it — one stop and one start whatever the
-- number of disks.
--
--   begin (claims the instance and each disk) -> stop -> snapshot(each)
--         -> create(each) -> detach(each, once every create is done)
--         -> set machine type -> attach(each) -> start -> verify(each)
--         -> cleanup(each, and the instance's claim, once every verify is
--            done)
--
-- With --retain-name the new disk needs the original's name, so the
-- original goes first: snapshot -> detach -> delete original -> create.
-- Snapshots and creates of the instance's disks run in parallel (within the
-- pools); detaches wait for every create so that a failed create never
-- leaves the instance taken apart; the machine type changes when no
-- migrated disk is attached (a hyperdisk cannot attach to an n2, a
-- pd-standard blocks an n4). A RUNNING instance whose selected disks are all
-- read-only is not stopped: they are swapped hot. All steps share the
-- group's rollback scope: one failure puts the whole instance back.
local guard = require "workflows.guard"
local label = require "tasks.label"
local stop = require "tasks.stop"
local snapshot = require "tasks.snapshot"
local create_disk = require "tasks.create_disk"
local delete_original = require "tasks.delete_original"
local detach = require "tasks.detach"
local set_machine_type = require "tasks.set_machine_type"
local attach = require "tasks.attach"
local start = require "tasks.start"
local verify = require "tasks.verify"
local cleanup = require "tasks.cleanup"

local M = {}

--- The last step of an instance group: its claim released (in a rollback
-- group of its own, like the disks' cleanup: a finished migration is never
-- undone because a label could not be taken off).
M.release = { step = "cleanup", run = label.release_instance }

local function all(list) return { table.unpack(list) } end

--- Adds the steps of instance group `g` to workflow `wf`.
-- @treturn {string,...} the ids of its tasks
function M.add(r, wf, g)
  local K = g.key
  local items = {}
  for _, key in ipairs(g.items) do items[#items + 1] = r:item(key) end
  local retain = r.plan.options.retain_name
  local ids = {}
  local add = r:adder(wf, K, ids)

  local begin = add { id = "begin:" .. K, step = guard, subject = g }
  local down = nil
  if g.stop then
    down = add { id = "stop:" .. K, step = stop, subject = g, deps = { begin }, pool = "power" }
  end
  local snaps, creates, detaches = {}, {}, {}
  for i, item in ipairs(items) do
    snaps[i] = add { id = "snapshot:" .. item.key, step = snapshot, subject = item,
                     deps = { down or begin }, pool = "snapshots" }
  end
  if not retain then
    for i, item in ipairs(items) do
      creates[i] = add { id = "create:" .. item.key, step = create_disk, subject = item,
                         deps = { snaps[i] }, pool = "disk_creates" }
    end
    for i, item in ipairs(items) do
      detaches[i] = add { id = "detach:" .. item.key, step = detach, subject = item,
                          deps = all(creates) }
    end
  else
    for i, item in ipairs(items) do
      detaches[i] = add { id = "detach:" .. item.key, step = detach, subject = item,
                          deps = all(snaps) }
    end
    for i, item in ipairs(items) do
      local del = add { id = "delete_original:" .. item.key, step = delete_original,
                        subject = item, deps = { detaches[i] } }
      creates[i] = add { id = "create:" .. item.key, step = create_disk, subject = item,
                         deps = { del }, pool = "disk_creates" }
    end
  end
  local mt = nil
  if g.target_machine_type then
    local deps = #detaches > 0 and all(detaches) or { down or begin }
    mt = add { id = "set_machine_type:" .. K, step = set_machine_type, subject = g, deps = deps }
  end
  local attaches = {}
  for i, item in ipairs(items) do
    local deps = mt and { mt } or all(detaches)
    deps[#deps + 1] = creates[i]
    attaches[i] = add { id = "attach:" .. item.key, step = attach, subject = item, deps = deps }
  end
  local up = nil
  if g.stop then
    local deps = #attaches > 0 and all(attaches) or { mt or down }
    up = add { id = "start:" .. K, step = start, subject = g, deps = deps, pool = "power" }
  end
  local verifies = {}
  for i, item in ipairs(items) do
    verifies[i] = add { id = "verify:" .. item.key, step = verify, subject = item,
                        deps = up and { up } or all(attaches) }
  end
  for _, item in ipairs(items) do
    add { id = "cleanup:" .. item.key, step = cleanup, subject = item, deps = all(verifies),
          group = "cleanup/" .. item.key }
  end
  add { id = "cleanup:" .. K, step = M.release, subject = g,
        deps = #verifies > 0 and all(verifies) or { up or mt or begin }, group = "cleanup/" .. K }
  return ids
end

return M
