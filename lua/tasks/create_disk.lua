--- tasks.create_disk: create the new disk from the snapshot.
--
-- Does: creates `<name>-<short type>` (or the original's name with
-- --retain-name) of the target type from the snapshot, with the original's
-- size, labels and description, its hyperdisk settings (or --iops,
-- --throughput, --storage-pool), its KMS key (or --kms-key), and the label
-- pdlua-migrated-from=<original> that tells pdlua's disks from anyone
-- else's.
-- Already done when: a disk of that name exists with that label and is
-- READY (one being created is waited for). A disk of that name without the
-- label is someone else's: the step fails and says so.
-- With --retain-name the new disk takes the original's name and with it
-- the claim (pdlua.migrate.claim): it is created carrying this run's.
-- Undo: delete the new disk, if it is pdlua's, attached nowhere, and the
-- claim of the item is still this run's.
local naming = require "pdlua.migrate.naming"
local labels = require "pdlua.migrate.labels"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"

local M = { step = "create" }

--- An insert body for a disk made from the item's snapshot, with the
-- original's size and description: `d` gives {name, type, labels, iops,
-- throughput, storage_pool, kms_key}. The new disk is one, the original
-- recreated by an undo (tasks.delete_original) the other.
function M.from_snapshot(r, item, d)
  local p = r.plan.project
  local body = {
    name = d.name,
    type = naming.disk_type_url(p, item.zone, d.type),
    sourceSnapshot = naming.snapshot_url(p, item.snapshot_name),
    sizeGb = tostring(item.size_gb),
    labels = d.labels,
    description = item.description,
    provisionedIops = d.iops and tostring(d.iops) or nil,
    provisionedThroughput = d.throughput and tostring(d.throughput) or nil,
    storagePool = d.storage_pool,
  }
  if d.kms_key then body.diskEncryptionKey = { kmsKeyName = d.kms_key } end
  return body
end

--- The insert body for the new disk.
function M.body(r, item)
  local new_labels = labels.replacement(item)
  if item.new_name == item.name then new_labels = claim.stamp(r, new_labels) end
  return M.from_snapshot(r, item, {
    name = item.new_name, type = item.target_type, labels = new_labels, iops = item.new_iops,
    throughput = item.new_throughput, storage_pool = item.storage_pool, kms_key = item.kms_key,
  })
end

local function insert(r, item, t)
  local c = r.client
  local op = gce.mutate(c, c.disks, "insert", {
    zone = item.zone, body = M.body(r, item),
    requestId = r:request_id(item.group, "create", item.zone, item.new_name,
                             t),
  })
  if op and op.targetId then r:fact(item.key, "new_disk_id", tostring(op.targetId)) end
end

function M.run(r, item, t)
  local c = r.client
  gce.make {
    fresh = r:fresh(item, t) and not item.new_exists,
    get = function() return gce.disk(c, item.zone, item.new_name) end,
    busy = { CREATING = true, RESTORING = true },
    create = function() insert(r, item, t) end,
    check = function(d)
      if labels.made_from(d, item.name) then return end
      if item.new_name == item.name then
        gce.fail("resourceInUse", "disk '%s' still exists as the original; it must be deleted before its replacement takes its name",
                 item.name)
      end
      gce.fail("alreadyExists", "a disk named '%s' already exists in %s and was not made by pdlua from '%s': rename or delete it",
               item.new_name, item.zone, item.name)
    end,
    ready = function(d) r:fact(item.key, "new_disk_id", tostring(d.id)) end,
    -- FAILED: pdlua's own broken disk; replace it.
    clear = function()
      gce.mutate_gone_ok(c, c.disks, "delete", {
        zone = item.zone, disk = item.new_name,
        requestId = r:request_id(item.group, "create-clear", item.zone, item.new_name, t),
      })
    end,
    what = ("disk '%s'"):format(item.new_name),
  }
end

function M.rollback(r, item, t)
  local c = r.client
  local d = gce.disk(c, item.zone, item.new_name)
  if not d or not labels.made_from(d, item.name) then return end
  claim.check_item(r, item)
  gce.delete_unattached(c, item.zone, d, item.new_name,
                        r:request_id(item.group, "create-undo", item.zone, item.new_name, t),
                        "new disk '%s' is still attached to %s; it was not deleted")
end

return M
