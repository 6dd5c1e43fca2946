--- tasks.verify: prove the new disk is the original's data, in place.
--
-- Does: reads, without touching data (the API cannot read it): the new disk
-- is READY, pdlua's, of the target type and the original's size, with the
-- asked-for hyperdisk settings; it was made from pdlua's snapshot, which was
-- made from the original (by ids); it sits at the original's device name
-- with the original's boot, mode, autoDelete and interface; the instance is
-- back in the power state it was found in. An unattached original's
-- replacement must be attached nowhere.
-- Already done when: always re-checked (it only reads).
-- Undo: nothing to undo; a failure here makes the steps before it undo
-- themselves.
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"
local labels = require "pdlua.migrate.labels"

local M = { step = "verify" }

local SAME_POWER = { RUNNING = { RUNNING = true },
                     TERMINATED = { TERMINATED = true, STOPPED = true },
                     STOPPED = { TERMINATED = true, STOPPED = true } }

--- Checks one migrated disk; returns a list of what is wrong (empty: fine).
function M.check(r, item)
  local c = r.client
  local wrong = {}
  local function bad(fmt, ...) wrong[#wrong + 1] = fmt:format(...) end
  local d = gce.disk(c, item.zone, item.new_name)
  if not d then
    bad("new disk '%s' does not exist", item.new_name)
    return wrong
  end
  if not labels.made_from(d, item.name) then bad("disk '%s' is not pdlua's copy of '%s'", item.new_name, item.name) end
  if d.status ~= "READY" then bad("new disk '%s' is %s, not READY", item.new_name, tostring(d.status)) end
  if naming.last(d.type) ~= item.target_type then
    bad("new disk '%s' is %s, not %s", item.new_name, tostring(naming.last(d.type)), item.target_type)
  end
  if tostring(d.sizeGb) ~= tostring(item.size_gb) then
    bad("new disk '%s' has %s GB, the original %s GB", item.new_name, tostring(d.sizeGb), tostring(item.size_gb))
  end
  if item.new_iops and tostring(d.provisionedIops) ~= tostring(item.new_iops) then
    bad("new disk '%s' has %s IOPS, not %s", item.new_name, tostring(d.provisionedIops), tostring(item.new_iops))
  end
  if item.new_throughput and tostring(d.provisionedThroughput) ~= tostring(item.new_throughput) then
    bad("new disk '%s' has %s MiB/s, not %s", item.new_name, tostring(d.provisionedThroughput),
        tostring(item.new_throughput))
  end
  -- Key and storage pool: checked where the API reports them.
  if item.kms_key and d.diskEncryptionKey and d.diskEncryptionKey.kmsKeyName then
    local got = d.diskEncryptionKey.kmsKeyName:gsub("/cryptoKeyVersions/.*$", "")
    if got ~= item.kms_key then
      bad("new disk '%s' is encrypted with %s, not %s", item.new_name, got, item.kms_key)
    end
  end
  if item.storage_pool and d.storagePool
      and naming.last(d.storagePool) ~= naming.last(item.storage_pool) then
    bad("new disk '%s' is in storage pool %s, not %s", item.new_name, naming.last(d.storagePool),
        naming.last(item.storage_pool))
  end
  local s = gce.snapshot(c, item.snapshot_name)
  if not s then
    -- Deleted by the cleanup of an earlier run, which only ran once this
    -- check had passed: the new disk still names it as its source.
    if naming.last(d.sourceSnapshot) ~= item.snapshot_name then
      bad("snapshot '%s' does not exist", item.snapshot_name)
    end
  else
    if s.sourceDiskId and tostring(s.sourceDiskId) ~= tostring(item.id) then
      bad("snapshot '%s' was made from disk id %s, not the original's %s", item.snapshot_name,
          tostring(s.sourceDiskId), tostring(item.id))
    end
    if d.sourceSnapshotId and tostring(d.sourceSnapshotId) ~= tostring(s.id) then
      bad("new disk '%s' was made from snapshot id %s, not '%s' (%s)", item.new_name,
          tostring(d.sourceSnapshotId), item.snapshot_name, tostring(s.id))
    end
    if not d.sourceSnapshotId and naming.last(d.sourceSnapshot) ~= item.snapshot_name then
      bad("new disk '%s' was not made from snapshot '%s'", item.new_name, item.snapshot_name)
    end
  end
  if item.attachment then
    local g = r:group(item.group)
    -- Every verify of an instance runs after all its attaches (and its
    -- start): one read of the instance serves them all.
    r.verified_instances = r.verified_instances or {}
    local inst = r.verified_instances[g.key]
    if not inst then
      inst = gce.instance(c, item.zone, item.instance)
      r.verified_instances[g.key] = inst
    end
    if not inst then
      bad("instance '%s' does not exist", item.instance)
      return wrong
    end
    local a = gce.slot(inst, item.attachment.deviceName)
    local want = item.attachment
    if not a or not gce.slot_holds(a, item.zone, item.new_name) then
      bad("device '%s' of '%s' does not hold '%s'", want.deviceName, item.instance, item.new_name)
    else
      if (a.boot or false) ~= want.boot then bad("boot is %s, was %s", tostring(a.boot), tostring(want.boot)) end
      if (a.mode or "READ_WRITE") ~= want.mode then bad("mode is %s, was %s", tostring(a.mode), want.mode) end
      if (a.autoDelete or false) ~= want.autoDelete then
        bad("autoDelete is %s, was %s", tostring(a.autoDelete), tostring(want.autoDelete))
      end
      if want.interface and a.interface ~= want.interface then
        bad("interface is %s, was %s", tostring(a.interface), want.interface)
      end
    end
    local ok = SAME_POWER[g.status]
    if ok and not ok[inst.status] then
      bad("instance '%s' is %s; it was %s", item.instance, tostring(inst.status), g.status)
    end
    if g.target_machine_type and naming.last(inst.machineType) ~= g.target_machine_type then
      bad("instance '%s' is %s, not %s", item.instance, tostring(naming.last(inst.machineType)),
          g.target_machine_type)
    end
  elseif d.users and #d.users > 0 then
    bad("new disk '%s' is attached to %s", item.new_name, naming.last(d.users[1]))
  end
  return wrong
end

function M.run(r, item, t)
  local wrong = M.check(r, item)
  if #wrong > 0 then
    gce.fail("verifyFailed", "disk '%s': %s", item.name, table.concat(wrong, "; "))
  end
end

return M
