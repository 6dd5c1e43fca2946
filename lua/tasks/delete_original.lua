--- tasks.delete_original: make room for a new disk that takes the
-- original's name (--retain-name).
--
-- Does: deletes the original disk — only once its snapshot is READY, is a
-- snapshot of this very disk and carries this run's claim (which lives on
-- the snapshot until the replacement takes the name), only while the
-- original carries this run's claim, and only once it is attached nowhere.
-- Already done when: no disk of that name exists, or the one that does is
-- pdlua's new disk.
-- Undo: recreate the original from the snapshot — its type, size, labels,
-- description, hyperdisk settings and key, with this run's claim and
-- migration labels until the group's last undo puts its own labels back —
-- so the steps undone after this one can attach it back where it was.
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"
local labels = require "pdlua.migrate.labels"
local label = require "tasks.label"
local create_disk = require "tasks.create_disk"

local M = { step = "delete_original" }

function M.run(r, item, t)
  local c = r.client
  local s = gce.snapshot(c, item.snapshot_name)
  if not s then
    gce.fail("snapshotMissing", "snapshot '%s' of disk '%s' is missing; the original was not deleted",
             item.snapshot_name, item.name)
  end
  if s.status ~= "READY" then
    gce.retry("resourceNotReady", "snapshot '%s' is %s, not READY; the original is kept until it is",
              item.snapshot_name, tostring(s.status))
  end
  if s.sourceDiskId and tostring(s.sourceDiskId) ~= tostring(item.id) then
    gce.fail("snapshotMismatch", "snapshot '%s' is not of disk '%s' (id %s); the original was not deleted",
             item.snapshot_name, item.name, tostring(item.id))
  end
  claim.require_mine(r, ("snapshot '%s'"):format(item.snapshot_name), s.labels)
  r:fact(item.key, "snapshot_id", tostring(s.id))
  local d = gce.disk(c, item.zone, item.name)
  if not d or labels.made_from(d, item.name) then return end
  claim.require_mine(r, ("disk '%s'"):format(item.name), d.labels)
  gce.delete_unattached(c, item.zone, d, item.name,
                        r:request_id(item.group, "delete-original", item.zone, item.name, t),
                        "disk '%s' is still attached to %s; it was not deleted")
  r:fact(item.key, "original_deleted", true)
end

--- The insert body that recreates the original from its snapshot.
function M.recreate_body(r, item)
  return create_disk.from_snapshot(r, item, {
    name = item.name, type = item.from_type, labels = label.wanted(r, item), iops = item.from_iops,
    throughput = item.from_throughput, storage_pool = item.from_storage_pool, kms_key = item.from_kms_key,
  })
end

function M.rollback(r, item, t)
  local c = r.client
  local d = gce.disk(c, item.zone, item.name)
  if d and not labels.made_from(d, item.name) then return end   -- the original is there
  if d then
    gce.delete_unattached(c, item.zone, d, item.name,
                          r:request_id(item.group, "retain-clear", item.zone, item.name, t),
                          "new disk '%s' is attached to %s; the original cannot be recreated under its name")
  end
  local ok, err = pcall(gce.mutate, c, c.disks, "insert", {
    zone = item.zone, body = M.recreate_body(r, item),
    requestId = r:request_id(item.group, "recreate-original", item.zone, item.name, t),
  })
  if not ok and not gce.already_exists(err) then error(err, 0) end
  r:fact(item.key, "original_recreated", true)
end

return M
