--- tasks.label: claim the original disk and mark it as being migrated.
--
-- Does: writes, with the fingerprint last read (compare-and-set, see
-- pdlua.migrate.claim), the disk's own labels plus pdlua's:
-- pdlua-state=migrating, pdlua-target=<type>, this run's claim, and when
-- its instance is about to be stopped, pdlua-was-running=true plus where it
-- is attached (instance, device name, boot/mode/autoDelete/interface). It
-- runs before anything else changes (workflows.guard), so a run killed and
-- restarted without its journal still knows from the disk itself which
-- instance to start again and how to put the disk back, and no other run
-- can take the disk meanwhile. An original that is gone (--retain-name,
-- deleted by an earlier run) is claimed where its claim lives now: on its
-- replacement, or on its snapshot.
-- Already done when: the disk carries those labels with this run's claim.
-- Refused when: another run's claim is on it (unless --take-over names it).
-- Undo: put back the disk's own labels (pdlua's and the claim taken out),
-- only while the claim is this run's.
local pd = require "pdlua"
local labels_mod = require "pdlua.migrate.labels"
local gce = require "pdlua.migrate.gce"
local claim = require "pdlua.migrate.claim"

local M = { step = "label" }

--- The labels the original carries while it is being migrated, claim
-- included.
function M.wanted(r, item)
  return claim.stamp(r, labels_mod.migrating(item, r.plan.target_type, r:group(item.group)))
end

-- Wants: this run's claim added, or taken off (nil: nothing to write).
local function stamp(r)
  return function(have) return not claim.mine(r, have) and claim.stamp(r, have) or nil end
end
local function strip(r)
  return function(have) return claim.mine(r, have) and claim.strip(have) or nil end
end

--- Claims the item (see the module's header).
function M.run(r, item, t)
  local c = r.client
  local what = ("disk '%s'"):format(item.name)
  local d
  if r:fresh(item, t) then
    d = { labels = item.labels, labelFingerprint = item.label_fingerprint }
  else
    d = gce.disk(c, item.zone, item.name)
  end
  local function check(have) claim.require_takeable(r, what, have) end
  -- Finished by an earlier run (whose journal lost the record): nothing
  -- left to claim; the steps after this find their work done.
  if d and labels_mod.finished(d.labels, r.plan.target_type, item.new_name) then return end
  if d and not labels_mod.made_from(d, item.name) then
    local want = M.wanted(r, item)
    local claimed = claim.cas_disk(r, item.zone, item.name, {
      resource = d, check = check,
      want = function(have)
        if claim.mine(r, have) and gce.has_labels(have, claim.strip(want)) then return nil end
        return want
      end,
      request_id = r:request_id(item.group, "label", item.zone, item.name, t),
    })
    if not claimed then
      error(pd.error { reason = "vanished", retryable = false,
                       message = ("%s no longer exists (another run may have moved it); nothing was done"):format(what) }, 0)
    end
    return
  end
  -- The original is gone: its replacement (same name) and its snapshot
  -- carry the claim.
  if d then
    claim.cas_disk(r, item.zone, item.name, { resource = d, want = stamp(r), check = check,
      request_id = r:request_id(item.group, "claim-replacement", item.zone, item.name, t) })
  end
  local s = gce.snapshot(c, item.snapshot_name)
  if not s then
    if d then return end
    gce.fail("notFound", "disk '%s' and its snapshot '%s' are both gone; nothing to migrate", item.name,
             item.snapshot_name)
  end
  claim.cas_snapshot(r, item.snapshot_name, { resource = s, want = stamp(r), check = check })
end

--- Puts back the original's own labels (and so releases its claim); an
-- original that is not this run's is left alone. A claim on the
-- replacement or snapshot of a deleted original is released too.
function M.rollback(r, item, t)
  local kind, res = claim.carrier(r, item)
  if not res or not claim.mine(r, res.labels) then return end
  if kind == "disk" and not labels_mod.made_from(res, item.name) then
    claim.cas_disk(r, item.zone, item.name, {
      resource = res, want = function() return gce.copy(item.labels) end,
      check = function(have) claim.require_mine(r, "disk '" .. item.name .. "'", have) end,
      request_id = r:request_id(item.group, "unlabel", item.zone, item.name, t),
    })
    return
  end
  M.release(r, item, kind, res, t)
end

--- Takes this run's claim off the replacement or snapshot of an item.
function M.release(r, item, kind, res, t)
  if kind == "disk" then
    claim.cas_disk(r, item.zone, item.name, { resource = res, want = strip(r),
      request_id = r:request_id(item.group, "release", item.zone, item.name, t) })
  else
    claim.cas_snapshot(r, item.snapshot_name, { resource = res, want = strip(r) })
  end
end

--- Claims an instance (instance groups claim it before their disks).
function M.claim_instance(r, g, t)
  local what = ("instance '%s'"):format(g.instance)
  local fresh = r:fresh(nil, t) and g.label_fingerprint
  local inst = claim.cas_instance(r, g.zone, g.instance, {
    resource = fresh and { labels = g.labels or {}, labelFingerprint = g.label_fingerprint } or nil,
    want = stamp(r), check = function(have) claim.require_takeable(r, what, have) end,
    request_id = r:request_id(g.key, "claim-instance", g.zone, g.instance, t),
  })
  if not inst then gce.fail("notFound", "%s no longer exists", what) end
end

--- Releases this run's claim on an instance (nothing if it is not this run's).
function M.release_instance(r, g, t)
  claim.cas_instance(r, g.zone, g.instance, { want = strip(r),
    request_id = r:request_id(g.key, "release-instance", g.zone, g.instance, t) })
end

return M
