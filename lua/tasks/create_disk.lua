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
local pd = require "pdlua"
local naming = require "pdlua.migrate.naming"
local labels = require "pdlua.migrate.labels"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"

local M = { step = "create" }

--- The insert body for the new disk.
function M.body(r, item)
  local p = r.plan.project
  local new_labels = labels.replacement(item)
  if item.new_name == item.name then new_labels = claim.stamp(r, new_labels) end
  local body = {
    name = item.new_name,
    type = naming.disk_type_url(p, item.zone, item.to_type),
    sourceSnapshot = naming.snapshot_url(p, item.snapshot_name),
    sizeGb = tostring(item.size_gb),
    labels = new_labels,
    description = item.description,
    provisionedIops = item.new_iops and tostring(item.new_iops) or nil,
    provisionedThroughput = item.new_throughput and tostring(item.new_throughput) or nil,
    storagePool = item.storage_pool,
  }
  if item.kms_key then body.diskEncryptionKey = { kmsKeyName = item.kms_key } end
  return body
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

local function settle(r, item)
  local pause = 0.2
  while true do
    local d = gce.disk(r.client, item.zone, item.new_name)
    if not d or (d.status ~= "CREATING" and d.status ~= "RESTORING") then return d end
    pd.sleep(pause)
    pause = math.min(pause * 2, 10)
  end
end

function M.run(r, item, t)
  local c = r.client
  if r:fresh(item, t) and not item.new_exists then
    local ok, err = pcall(insert, r, item, t)
    if ok then return end
    if not gce.already_exists(err) then error(err, 0) end
  end
  for _ = 1, 3 do
    local d = gce.disk(c, item.zone, item.new_name)
    if d and not labels.made_from(d, item.name) then
      if item.new_name == item.name then
        gce.fail("resourceInUse", "disk '%s' still exists as the original; it must be deleted before its replacement takes its name",
                 item.name)
      end
      gce.fail("alreadyExists", "a disk named '%s' already exists in %s and was not made by pdlua from '%s': rename or delete it",
               item.new_name, item.zone, item.name)
    end
    if d and (d.status == "CREATING" or d.status == "RESTORING") then
      local ok, err = pcall(insert, r, item, t)
      if not ok and not gce.already_exists(err) then error(err, 0) end
      d = settle(r, item)
    end
    if d and d.status == "READY" then
      r:fact(item.key, "new_disk_id", tostring(d.id))
      return
    end
    if d then
      -- FAILED: pdlua's own broken disk; replace it.
      gce.mutate_gone_ok(c, c.disks, "delete", {
        zone = item.zone, disk = item.new_name,
        requestId = r:request_id(item.group, "create-clear", item.zone, item.new_name, t),
      })
    end
    local ok, err = pcall(insert, r, item, t)
    if ok then return end
    if not gce.already_exists(err) then error(err, 0) end
  end
  gce.retry("resourceNotReady", "disk '%s' did not settle", item.new_name)
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
