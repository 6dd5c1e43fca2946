--- pdlua.migrate.labels: the label protocol — what a migration writes on
-- disks, snapshots and instances so that a run killed at any point, even
-- with its journal lost, can be finished or put back from what Compute
-- Engine shows alone.
--
-- The original disk goes through:
--   found        its own labels
--   migrating    + pdlua-state=migrating, pdlua-target=<type>, the run's
--                claim (pdlua.migrate.claim), and when it is attached:
--                pdlua-instance, pdlua-device, pdlua-attach (how) and
--                pdlua-was-running=true if its instance is being stopped
--   migrated     own + pdlua-state=migrated, pdlua-target,
--                pdlua-migrated-to=<new disk> (no claim)   — or deleted
--   put back     its own labels again
-- The new disk: own + pdlua-migrated-from=<original>; with --retain-name
-- also the claim, from its creation to the end of the migration.
-- The snapshot: pdlua-source-disk, pdlua-target, pdlua-zone,
-- pdlua-from-type, the attachment labels, pdlua-was-running and the claim;
-- its description holds the original's own settings as JSON; kept with
-- --retain-name and --keep-snapshots, it ends labelled
-- pdlua-state=migrated.
-- A ghost is an original that an earlier run deleted (--retain-name) and
-- did not replace or finish: a READY pdlua snapshot of it, not labelled
-- migrated, with no disk of its name or only pdlua's replacement.
local json = require "pdlua.json"

local M = {}

--- Every key pdlua writes.
M.keys = {
  state = "pdlua-state",             -- original: migrating | migrated; kept snapshot: migrated
  target = "pdlua-target",           -- original, snapshot: the target type
  was_running = "pdlua-was-running", -- original, snapshot: "true" if its instance ran
  migrated_from = "pdlua-migrated-from", -- new disk: the original's name
  migrated_to = "pdlua-migrated-to", -- migrated original: the new disk's name
  source_disk = "pdlua-source-disk", -- snapshot: the original's name
  zone = "pdlua-zone",               -- snapshot: the original's zone
  from_type = "pdlua-from-type",     -- snapshot: the original's type
  instance = "pdlua-instance",       -- original, snapshot: its instance
  device = "pdlua-device",           -- original, snapshot: its device name
  attach = "pdlua-attach",           -- original, snapshot: boot|data-rw|ro-auto|keep-<interface>
  claim = "pdlua-claim",             -- the run holding it (pdlua.migrate.claim)
  claim_host = "pdlua-claim-host",
  claim_at = "pdlua-claim-at",
}
local K = M.keys

--- Whether a label key is one of pdlua's.
function M.is_pdlua(key)
  return key:sub(1, 6) == "pdlua-"
end

--- A resource's labels without pdlua's.
function M.own(labels)
  local out = {}
  for k, v in pairs(labels or {}) do
    if not M.is_pdlua(k) then out[k] = v end
  end
  return out
end

local function with(labels, extra)
  local out = {}
  for k, v in pairs(labels or {}) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

--- Whether a disk resource is one pdlua made from the original `name`.
function M.made_from(disk, name)
  return disk ~= nil and disk.labels ~= nil and disk.labels[K.migrated_from] == name
end

--- The labels that record an item's attachment.
function M.attachment(item)
  local a = item.attachment
  if not a then return {} end
  return {
    [K.instance] = item.instance,
    [K.device] = a.deviceName,
    [K.attach] = ("%s-%s-%s-%s"):format(a.boot and "boot" or "data",
      a.mode == "READ_ONLY" and "ro" or "rw", a.autoDelete and "auto" or "keep",
      a.interface and a.interface:lower() or "none"),
  }
end

--- An attachment read back from those labels, or nil.
function M.attachment_from(labels)
  local dev, spec = labels[K.device], labels[K.attach]
  if not dev or not spec then return nil end
  local kind, mode, auto, iface = spec:match("^(%a+)%-(%a+)%-(%a+)%-(%a+)$")
  if not kind then return nil end
  return {
    deviceName = dev, boot = kind == "boot",
    mode = mode == "ro" and "READ_ONLY" or "READ_WRITE",
    autoDelete = auto == "auto",
    interface = iface ~= "none" and iface:upper() or nil,
  }
end

-- What both the migrating original and the snapshot say about where the
-- disk was: its attachment, and whether its instance ran.
local function whereabouts(item, group)
  local out = {}
  if group and group.kind == "instance" then
    if group.stop then out[K.was_running] = "true" end
    for k, v in pairs(M.attachment(item)) do out[k] = v end
  end
  return out
end

--- The original's labels while it is being migrated (without the claim).
function M.migrating(item, target, group)
  local out = with(item.labels, whereabouts(item, group))
  out[K.state], out[K.target] = "migrating", target
  return out
end

--- The labels a kept original ends with.
function M.migrated(item, target)
  return with(item.labels, { [K.state] = "migrated", [K.target] = target,
                             [K.migrated_to] = item.new_name })
end

--- The new disk's labels (without the claim).
function M.replacement(item)
  return with(item.labels, { [K.migrated_from] = item.name })
end

--- The snapshot's labels (without the claim).
function M.snapshot(item, target, group)
  return with(whereabouts(item, group), { [K.source_disk] = item.name, [K.target] = target,
                                          [K.zone] = item.zone, [K.from_type] = item.from_type })
end

--- The snapshot's description: what it is, and the original's own
-- settings, which a ghost is recreated from (M.ghost).
function M.snapshot_description(item, target)
  local head = ("pdlua: snapshot of disk %s (zone %s, id %s) for its migration to %s")
    :format(item.name, item.zone, tostring(item.id), target)
  local original = json.encode({
    labels = item.labels, description = item.description,
    provisionedIops = item.from_iops, provisionedThroughput = item.from_throughput,
    kmsKeyName = item.from_kms_key, storagePool = item.from_storage_pool,
  }, { sorted = true })
  local full = head .. "; original: " .. original
  return #full <= 2048 and full or head
end

--- Why the labels of a selected disk say it is not to be migrated, or nil.
function M.skip_reason(labels, target)
  labels = labels or {}
  if labels[K.migrated_from] then
    return ("made by pdlua from '%s'"):format(labels[K.migrated_from])
  end
  if labels[K.state] == "migrated" then
    return ("already migrated to %s"):format(labels[K.target] or "another type")
  end
  if labels[K.state] == "migrating" and labels[K.target] and labels[K.target] ~= target then
    return ("being migrated to %s by another run"):format(labels[K.target])
  end
  return nil
end

--- Whether an original's labels say its migration to `target` is
-- finished (its replacement named `new_name`).
function M.finished(labels, target, new_name)
  labels = labels or {}
  return labels[K.state] == "migrated" and labels[K.target] == target and labels[K.migrated_to] == new_name
end

--- Whether labels say an earlier run was at the disk.
function M.resumed(labels)
  return (labels or {})[K.state] == "migrating"
end

--- The ghost a snapshot stands for, as a disk resource, or nil.
-- @tparam table s a snapshot resource
-- @tparam string target the target type
-- @tparam table zones {[zone] = true}
-- @tparam function disk_of (zone, name) -> the disk of that name, or nil
function M.ghost(s, target, zones, disk_of, project)
  local l = s.labels or {}
  local name, zone = l[K.source_disk], l[K.zone]
  if not (name and zone and zones[zone] and l[K.target] == target and s.status == "READY"
          and l[K.state] ~= "migrated") then
    return nil
  end
  local d = disk_of(zone, name)
  if d and not M.made_from(d, name) then return nil end
  local orig = {}
  local text = s.description and s.description:match("; original: (.*)$")
  if text then
    local v = json.decode_safe(text)
    if type(v) == "table" then orig = v end
  end
  local labels = with(type(orig.labels) == "table" and orig.labels or {})
  for _, k in ipairs { K.instance, K.device, K.attach, K.was_running, K.claim, K.claim_host, K.claim_at } do
    labels[k] = l[k]
  end
  labels[K.state], labels[K.target] = "migrating", target
  local function str(v) return v ~= nil and v ~= json.null and v or nil end
  return {
    name = name, zone = zone, id = s.sourceDiskId and tostring(s.sourceDiskId),
    selfLink = ("projects/%s/zones/%s/disks/%s"):format(project, zone, name),
    short_type = l[K.from_type], sizeGb = s.diskSizeGb, status = "READY",
    labels = labels, description = str(orig.description),
    provisionedIops = str(orig.provisionedIops), provisionedThroughput = str(orig.provisionedThroughput),
    diskEncryptionKey = str(orig.kmsKeyName) and { kmsKeyName = orig.kmsKeyName } or nil,
    storagePool = str(orig.storagePool), ghost = true,
  }
end

return M
