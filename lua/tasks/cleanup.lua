--- tasks.cleanup: finish a verified migration.
--
-- Does: once every disk of the instance is verified, deletes the snapshot
-- unless --keep-snapshots, then labels the original pdlua-state=migrated
-- (and pdlua-migrated-to=<new disk>), or deletes it with --delete-original.
-- This step runs in a rollback group of its own: a migration that is done
-- and verified is never undone because tidying up failed; the report says
-- what is left instead.
-- Already done when: the original is labelled (or gone) and the snapshot is
-- gone (or kept).
-- Undo: none.
local naming = require "pdlua.migrate.naming"
local gce = require "pdlua.migrate.gce"

local M = { step = "cleanup" }

local L = naming.labels

--- The labels a kept original ends with.
function M.final_labels(r, item)
  local labels = gce.copy(item.labels)
  labels[L.state] = "migrated"
  labels[L.target] = r.plan.target_type
  labels["pdlua-migrated-to"] = item.new_name
  return labels
end

function M.run(r, item, t)
  local c = r.client
  local opts = r.plan.options
  -- The snapshot goes first: the original's final label (or its deletion)
  -- is what tells a later run, even one without the journal, that this
  -- disk is done, so nothing may be left to do after it.
  if not opts.keep_snapshots then
    gce.mutate_gone_ok(c, c.snapshots, "delete", {
      snapshot = item.snapshot_name,
      requestId = r:request_id("cleanup/" .. item.key, "delete-snapshot", item.zone, item.name, t),
    })
  elseif item.new_name == item.name then
    -- A kept snapshot of a disk whose name was taken over says it is done,
    -- so that no later run takes it for an unfinished one (discover's
    -- ghosts).
    local s = gce.snapshot(c, item.snapshot_name)
    if s and (s.labels or {})[L.state] ~= "migrated" then
      local labels = gce.copy(s.labels)
      labels[L.state] = "migrated"
      gce.set_labels(c, c.snapshots, {
        snapshot = item.snapshot_name,
        requestId = r:request_id("cleanup/" .. item.key, "label-snapshot", item.zone, item.name, t),
      }, labels, s.labelFingerprint)
    end
  end
  if item.new_name ~= item.name then
    local fresh = r:fresh(item, t)
    local group = r:group(item.group)
    local labelled = group and group.kind == "instance"
    local d
    if not fresh or labelled or opts.delete_original then
      d = gce.disk(c, item.zone, item.name)
    end
    if opts.delete_original then
      if d and not gce.made_from(d, item.name) then
        gce.delete_unattached(c, item.zone, d, item.name,
                              r:request_id("cleanup/" .. item.key, "delete-original", item.zone, item.name, t),
                              "original '%s' is attached to %s; it was not deleted")
      end
    elseif fresh and not labelled then
      -- Untouched since discovery: its fingerprint is still good.
      gce.set_labels(c, c.disks, {
        zone = item.zone, disk = item.name,
        requestId = r:request_id("cleanup/" .. item.key, "label-migrated", item.zone, item.name, t),
      }, M.final_labels(r, item), item.label_fingerprint)
    elseif d and not gce.made_from(d, item.name) then
      local want = M.final_labels(r, item)
      if not gce.same_labels(d.labels, want) then
        gce.set_labels(c, c.disks, {
          zone = item.zone, disk = item.name,
          requestId = r:request_id("cleanup/" .. item.key, "label-migrated", item.zone, item.name, t),
        }, want, d.labelFingerprint)
      end
    end
  end
end

return M
