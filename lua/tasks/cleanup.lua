--- tasks.cleanup: finish a verified migration.
--
-- Does: once every disk of the instance is verified, deletes the snapshot
-- unless --keep-snapshots, then labels the original pdlua-state=migrated
-- (and pdlua-migrated-to=<new disk>), which also releases this run's claim
-- on it, or deletes it with --delete-original. An original is deleted only
-- with proof that nothing is lost: it still carries this run's claim, its
-- replacement exists, is READY, is pdlua's copy of it, was verified by this
-- run, and is attached wherever the original was (or the original was
-- attached nowhere); without that proof it is kept, labelled as migrated,
-- and the report says why. With --retain-name the claim is taken off the
-- replacement, which carried it since it took the original's name.
-- This step runs in a rollback group of its own: a migration that is done
-- and verified is never undone because tidying up failed; the report says
-- what is left instead.
-- Already done when: the original is labelled (or gone), the snapshot is
-- gone (or kept) and no claim of this run is left on the disks.
-- Undo: none.
local labels = require "pdlua.migrate.labels"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"
local label = require "tasks.label"

local M = { step = "cleanup" }


--- Why the original may not be deleted, or nil when the proof holds.
function M.unproven(r, item)
  local c = r.client
  if not r:succeeded("verify:" .. item.key) then
    return "its replacement was not verified by this run"
  end
  local new = gce.disk(c, item.zone, item.new_name)
  if not new then return ("its replacement '%s' does not exist"):format(item.new_name) end
  if not labels.made_from(new, item.name) then
    return ("disk '%s' is not pdlua's copy of it"):format(item.new_name)
  end
  if new.status ~= "READY" then
    return ("its replacement '%s' is %s, not READY"):format(item.new_name, tostring(new.status))
  end
  if item.instance then
    local inst = gce.instance(c, item.zone, item.instance)
    local a = inst and gce.slot(inst, item.attachment.deviceName)
    if not gce.slot_holds(a, item.zone, item.new_name) then
      return ("its replacement '%s' is not attached to instance '%s' as '%s'")
        :format(item.new_name, item.instance, item.attachment.deviceName)
    end
  end
  return nil
end

-- Sets labels on the original by compare-and-set, while it is this run's.
local function relabel(r, item, d, want, t)
  claim.cas_disk(r, item.zone, item.name, {
    resource = d,
    want = function(have)
      if gce.same_labels(have, want) then return nil end
      return want
    end,
    check = function(have)
      if not gce.same_labels(have, want) then
        claim.require_mine(r, ("disk '%s'"):format(item.name), have)
      end
    end,
    request_id = r:request_id("cleanup/" .. item.key, "label-migrated", item.zone, item.name, t),
  })
end

function M.run(r, item, t)
  local c = r.client
  local opts = r.plan.options
  local d = gce.disk(c, item.zone, item.name)
  -- With --retain-name the snapshot's deletion (or its migrated label) is
  -- what tells a later run, even one without the journal, that the disk is
  -- done: the claim comes off the replacement first.
  local retained = item.new_name == item.name
  if retained and d and labels.made_from(d, item.name) then label.release(r, item, "disk", d, t) end
  -- Otherwise the snapshot goes first: the original's final label (or its
  -- deletion) says the disk is done, so nothing may be left after it.
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
    if s and (s.labels or {})[labels.keys.state] ~= "migrated" then
      local done = claim.strip(s.labels)
      done[labels.keys.state] = "migrated"
      gce.set_labels(c, c.snapshots, { snapshot = item.snapshot_name }, done, s.labelFingerprint)
    end
  end
  if retained or not d or labels.made_from(d, item.name) then return end
  local final = labels.migrated(item, r.plan.target_type)
  if opts.delete_original and not gce.same_labels(d.labels, final) then
    claim.require_mine(r, ("disk '%s'"):format(item.name), d.labels)
    local why = M.unproven(r, item)
    if not why then
      gce.delete_unattached(c, item.zone, d, item.name,
                            r:request_id("cleanup/" .. item.key, "delete-original", item.zone, item.name, t),
                            "original '%s' is attached to %s; it was not deleted")
      return
    end
    r:warn(item.key, ("original '%s' was kept, not deleted: %s"):format(item.name, why))
  end
  relabel(r, item, d, final, t)
end

return M
