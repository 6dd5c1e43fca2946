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
local pd = require "pdlua"
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

-- Waits for a snapshot that an earlier run started and whose operation
-- cannot be joined: reads it with a growing pause until it settles.
local function settle(r, item)
  local c = r.client
  local pause = 0.2
  while true do
    local s = gce.snapshot(c, item.snapshot_name)
    if not s then return nil end
    if s.status ~= "CREATING" and s.status ~= "UPLOADING" then return s end
    pd.sleep(pause)
    pause = math.min(pause * 2, 10)
  end
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
  if r:fresh(item, t) and not item.snapshot_exists then
    local ok, err = pcall(create, r, item, t)
    if ok then return end
    if not gce.already_exists(err) then error(err, 0) end
  end
  for _ = 1, 3 do
    local s = gce.snapshot(c, item.snapshot_name)
    if s and not ours(s, item) then
      gce.fail("alreadyExists", "snapshot '%s' exists and is not pdlua's snapshot of disk '%s': delete or rename it",
               item.snapshot_name, item.name)
    end
    if s and (s.status == "CREATING" or s.status == "UPLOADING") then
      -- Join the operation making it (the same requestId when its step was
      -- in flight in a run that died), else wait for it to settle.
      local ok, err = pcall(create, r, item, t)
      if not ok and not gce.already_exists(err) then error(err, 0) end
      s = settle(r, item)
    end
    if s and s.status == "READY" then
      -- Made by a run this one took over: it carries this run's claim
      -- from now on (with --retain-name it holds the claim while the
      -- original is gone).
      claim.cas(c, {
        coll = c.snapshots, params = { snapshot = item.snapshot_name }, resource = s,
        get = function() return gce.snapshot(c, item.snapshot_name) end,
        want = function(have) return not claim.mine(r, have) and claim.stamp(r, have) or nil end,
        check = function(have) claim.require_takeable(r, "snapshot '" .. item.snapshot_name .. "'", have) end,
        what = "snapshot '" .. item.snapshot_name .. "'",
      })
      record(r, item, s)
      return
    end
    if s then
      -- FAILED or DELETING: clear it and make a new one.
      gce.mutate_gone_ok(c, c.snapshots, "delete", {
        snapshot = item.snapshot_name,
        requestId = r:request_id(item.group, "snapshot-clear", item.zone, item.name, t),
      })
    end
    local ok, err = pcall(create, r, item, t)
    if ok then return end
    if not gce.already_exists(err) then error(err, 0) end
  end
  gce.retry("resourceNotReady", "snapshot '%s' did not settle", item.snapshot_name)
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
