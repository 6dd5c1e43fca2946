--- tasks.label: mark the original disk as being migrated.
--
-- Does: adds pdlua's labels to the original — pdlua-state=migrating,
-- pdlua-target=<type>, and when its instance is about to be stopped,
-- pdlua-was-running=true plus where it is attached (instance, device name,
-- boot/mode/autoDelete/interface). Runs before anything else changes, so a
-- run that is killed and restarted without its journal still knows from the
-- disk itself which instance to start again and how to put the disk back.
-- Already done when: the disk carries those labels.
-- Undo: put back the disk's own labels (pdlua's taken out).
local naming = require "pdlua.migrate.naming"
local plan_mod = require "pdlua.migrate.plan"
local gce = require "pdlua.migrate.gce"

local M = { step = "label" }

local L = naming.labels

--- The labels the original carries while it is being migrated.
function M.wanted(r, item)
  local want = gce.copy(item.labels)
  want[L.state] = "migrating"
  want[L.target] = r.plan.target_type
  local g = r:group(item.group)
  if g and g.kind == "instance" then
    if g.stop then want[L.was_running] = "true" end
    for k, v in pairs(plan_mod.attachment_labels(item)) do want[k] = v end
  end
  return want
end

function M.run(r, item, t)
  local c = r.client
  local want = M.wanted(r, item)
  local fp = item.label_fingerprint
  if not r:fresh(item, t) then
    local d = gce.disk(c, item.zone, item.name)
    if not d or gce.made_from(d, item.name) then
      -- The original is gone (--retain-name, after its deletion): a later
      -- step of an earlier run; nothing to mark.
      return
    end
    if gce.same_labels(d.labels, want) then return end
    fp = d.labelFingerprint
  end
  gce.set_labels(c, c.disks, {
    zone = item.zone, disk = item.name,
    requestId = r:request_id(item.group, "label", item.zone, item.name, t),
  }, want, fp)
end

function M.rollback(r, item, t)
  local c = r.client
  local d = gce.disk(c, item.zone, item.name)
  if not d or gce.made_from(d, item.name) then return end
  if gce.same_labels(d.labels, item.labels) then return end
  gce.set_labels(c, c.disks, {
    zone = item.zone, disk = item.name,
    requestId = r:request_id(item.group, "unlabel", item.zone, item.name, t),
  }, item.labels, d.labelFingerprint)
end

return M
