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

-- compare-and-set parameters for the disk named as the original.
local function disk_cas(r, item, d, want, check, step, t)
  local c = r.client
  return {
    coll = c.disks, params = { zone = item.zone, disk = item.name },
    get = function() return gce.disk(c, item.zone, item.name) end,
    resource = d, want = want, check = check, what = "disk '" .. item.name .. "'",
    request_id = r:request_id(item.group, step, item.zone, item.name, t),
  }
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
  local function check(labels) claim.require_takeable(r, what, labels) end
  if d and not labels_mod.made_from(d, item.name) then
    local want = M.wanted(r, item)
    local p = disk_cas(r, item, d, function(labels)
      if claim.mine(r, labels) and gce.has_labels(labels, claim.strip(want)) then return nil end
      return want
    end, check, "label", t)
    if not claim.cas(c, p) then
      error(pd.error { reason = "vanished", retryable = false,
                       message = ("disk '%s' no longer exists (another run may have moved it); nothing was done"):format(item.name) }, 0)
    end
    return
  end
  -- The original is gone: its replacement (same name) and its snapshot
  -- carry the claim.
  local function stamp(labels)
    if claim.mine(r, labels) then return nil end
    return claim.stamp(r, labels)
  end
  if d then claim.cas(c, disk_cas(r, item, d, stamp, check, "claim-replacement", t)) end
  local s = gce.snapshot(c, item.snapshot_name)
  if not s then
    if d then return end
    gce.fail("notFound", "disk '%s' and its snapshot '%s' are both gone; nothing to migrate", item.name,
             item.snapshot_name)
  end
  claim.cas(c, {
    coll = c.snapshots, params = { snapshot = item.snapshot_name }, resource = s,
    get = function() return gce.snapshot(c, item.snapshot_name) end,
    want = stamp, check = check, what = "snapshot '" .. item.snapshot_name .. "'",
  })
end

--- Puts back the original's own labels (and so releases its claim); an
-- original that is not this run's is left alone. A claim on the
-- replacement or snapshot of a deleted original is released too.
function M.rollback(r, item, t)
  local c = r.client
  local kind, res = claim.carrier(r, item)
  if not res or not claim.mine(r, res.labels) then return end
  if kind == "disk" and not labels_mod.made_from(res, item.name) then
    claim.cas(c, disk_cas(r, item, res, function() return gce.copy(item.labels) end,
                          function(labels) claim.require_mine(r, "disk '" .. item.name .. "'", labels) end,
                          "unlabel", t))
    return
  end
  M.release(r, item, kind, res, t)
end

--- Takes this run's claim off the replacement or snapshot of an item.
function M.release(r, item, kind, res, t)
  local c = r.client
  local function strip(labels)
    if not claim.mine(r, labels) then return nil end
    return claim.strip(labels)
  end
  local function check() end
  if kind == "disk" then
    claim.cas(c, disk_cas(r, item, res, strip, check, "release", t))
  else
    claim.cas(c, {
      coll = c.snapshots, params = { snapshot = item.snapshot_name }, resource = res,
      get = function() return gce.snapshot(c, item.snapshot_name) end,
      want = strip, check = check, what = "snapshot '" .. item.snapshot_name .. "'",
    })
  end
end

--- Claims an instance (instance groups claim it before their disks).
function M.claim_instance(r, g, t)
  local c = r.client
  local what = ("instance '%s'"):format(g.instance)
  local p = M.instance_cas(r, g, t, "claim-instance", function(labels)
    if claim.mine(r, labels) then return nil end
    return claim.stamp(r, labels)
  end, function(labels) claim.require_takeable(r, what, labels) end)
  if r:fresh(nil, t) and g.label_fingerprint then
    p.resource = { labels = g.labels or {}, labelFingerprint = g.label_fingerprint }
  end
  local inst = claim.cas(c, p)
  if not inst then gce.fail("notFound", "instance '%s' no longer exists", g.instance) end
end

--- Releases this run's claim on an instance (nothing if it is not this run's).
function M.release_instance(r, g, t)
  claim.cas(r.client, M.instance_cas(r, g, t, "release-instance", function(labels)
    if not claim.mine(r, labels) then return nil end
    return claim.strip(labels)
  end, function() end))
end

function M.instance_cas(r, g, t, step, want, check)
  local c = r.client
  return {
    coll = c.instances, params = { zone = g.zone, instance = g.instance },
    get = function() return gce.instance(c, g.zone, g.instance) end,
    want = want, check = check, what = "instance '" .. g.instance .. "'",
    request_id = r:request_id(g.key, step, g.zone, g.instance, t),
  }
end

return M
