--- tasks.snapshot: snapshot the original disk.
--
-- Does: creates snapshot `pdlua-<disk>-<hash>` of the original (labelled
-- with its source disk and the target type). For a disk that an instance
-- writes to, this runs only once the instance is stopped, so the snapshot
-- holds every byte.
-- It carries the run's claim (pdlua.migrate.claim).
-- Already done when: the snapshot exists, is pdlua's snapshot of this disk,
-- and is READY (it is then claimed for this run if a run this one took over
-- made it); or the new disk already exists, made from it. One still being
-- made is waited for (the same requestId gives back the operation that
-- makes it); a FAILED one is replaced.
-- Undo: delete the snapshot — but never while it is the only copy of the
-- data (with --retain-name, once the original is deleted and not yet
-- recreated).
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"
local labels = require "pdlua.migrate.labels"
local claim = require "pdlua.migrate.claim"

local M = { step = "snapshot" }

local function ours(s, item)
  return s.labels and s.labels[labels.keys.source_disk] == item.name
end

local function record(r, item, s)
  r:fact(item.key, "snapshot_id", tostring(s.id))
  if s.sourceDiskId then r:fact(item.key, "snapshot_source_disk_id", tostring(s.sourceDiskId)) end
end

--- What the snapshot carries besides the data: labels saying whose it is
-- and where that disk was attached, and in its description the original's
-- own settings. With --retain-name the original is deleted once this
-- snapshot is READY; if a run dies then and its journal is lost, this is
-- all that is left to finish (or undo) the migration from
-- (pdlua.migrate.labels, a ghost).
function M.body(r, item)
  local target = r.plan.target_type
  return { name = item.snapshot_name, description = labels.snapshot_description(item, target),
           labels = claim.stamp(r, labels.snapshot(item, target, r:group(item.group))) }
end

local function create(r, item, t)
  local c = r.client
  local op = gce.mutate(c, c.disks, "create_snapshot", {
    zone = item.zone, disk = item.name,
    requestId = r:request_id(item.group, "snapshot", item.zone, item.name, t),
    body = M.body(r, item),
  })
  -- disks.createSnapshot targets the disk: the operation names the disk
  -- the snapshot was taken of, by id.
  if op and op.targetId then r:fact(item.key, "snapshot_source_disk_id", tostring(op.targetId)) end
end

-- Whether the new disk already exists, made from this snapshot: then an
-- earlier run got past this step (and its cleanup may have deleted the
-- snapshot already); there is nothing left to snapshot.
local function replacement_done(r, item)
  local d = gce.disk(r.client, item.zone, item.new_name)
  return d ~= nil and labels.made_from(d, item.name) and d.status == "READY"
    and naming.last(d.sourceSnapshot) == item.snapshot_name
end

function M.run(r, item, t)
  local c = r.client
  if (item.new_exists or not r:fresh(item, t)) and replacement_done(r, item) then return end
  local what = ("snapshot '%s'"):format(item.snapshot_name)
  local function get() return gce.snapshot(c, item.snapshot_name) end
  gce.make {
    fresh = r:fresh(item, t) and not item.snapshot_exists,
    get = get, busy = { CREATING = true, UPLOADING = true },
    create = function() create(r, item, t) end,
    check = function(s)
      if not ours(s, item) then
        gce.fail("alreadyExists", "%s exists and is not pdlua's snapshot of disk '%s': delete or rename it",
                 what, item.name)
      end
    end,
    ready = function(s)
      -- Made by a run this one took over: it carries this run's claim
      -- from now on (with --retain-name it holds the claim while the
      -- original is gone).
      claim.cas_snapshot(r, item.snapshot_name, {
        resource = s, want = function(have) return not claim.mine(r, have) and claim.stamp(r, have) or nil end,
        check = function(have) claim.require_takeable(r, what, have) end,
      })
      record(r, item, s)
    end,
    -- FAILED or DELETING: clear it and make a new one.
    clear = function()
      gce.mutate_gone_ok(c, c.snapshots, "delete", {
        snapshot = item.snapshot_name,
        requestId = r:request_id(item.group, "snapshot-clear", item.zone, item.name, t),
      })
    end,
    what = what,
  }
end

--- Whether the original's data still lives somewhere besides the snapshot.
function M.original_exists(r, item)
  local d = gce.disk(r.client, item.zone, item.name)
  return d ~= nil and not labels.made_from(d, item.name)
end

function M.rollback(r, item, t)
  local c = r.client
  local s = gce.snapshot(c, item.snapshot_name)
  if not s or not ours(s, item) then return end
  if not M.original_exists(r, item) then
    gce.fail("snapshotKept", "snapshot '%s' is the only copy of disk '%s' (the original was deleted and not recreated); it was kept",
             item.snapshot_name, item.name)
  end
  gce.mutate_gone_ok(c, c.snapshots, "delete", {
    snapshot = item.snapshot_name,
    requestId = r:request_id(item.group, "snapshot-undo", item.zone, item.name, t),
  })
end

return M
