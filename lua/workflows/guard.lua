--- workflows.guard: the first task of every group, whose undo runs last.
--
-- Does: claims what the group will change (pdlua.migrate.claim): its
-- instance, then each of its disks (tasks.label), before anything else of
-- the group runs; a claim held by another run refuses the group, and what
-- this run had claimed of it is released again. On a group that an earlier
-- run of this one left half-undone (interrupted while rolling back, or
-- cancelled), it first puts the group back as it was found
-- (workflows.restore), then starts it over with new request ids.
-- Undo: the group's full restore sweep — after the engine has undone the
-- steps that succeeded (newest first), this reads everything the group
-- touches and puts back whatever a failed, timed-out or cancelled step left
-- half done, then releases the claims. It runs with a fresh interrupt even
-- when the run was cancelled, so Ctrl-C still leaves instances as they were
-- found; and only while the group is still this run's.
local pd = require "pdlua"
local restore = require "workflows.restore"
local label = require "tasks.label"
local claim = require "pdlua.migrate.claim"

-- Its undo checks the claim itself (workflows.restore), so the task
-- wrapper does not (pdlua.migrate.run).
local M = { step = "begin", checks_claim = true }

-- A sweep whose every failure was a passing one (a 503, an internal
-- error) raises a retryable error: the engine runs it again, with backoff.
local function restore_or_raise(r, g, t)
  local failures, passing = restore.group(r, g, t)
  if #failures > 0 then
    if r.journal then r.journal:write { type = "group", key = g.key, event = "restore_failed" } end
    error(pd.error { reason = "rollbackFailed", retryable = passing,
                     message = table.concat(failures, "; ") }, 0)
  end
  if r.journal then r.journal:write { type = "group", key = g.key, event = "restored" } end
end

-- Claims the group's instance and disks. On a refusal or a failure it
-- releases what it had claimed and raises the refusal, or the failure
-- named after the label step ("label of disk 'x' failed: ..."); when a
-- release fails too, a rollbackFailed error.
local function claim_group(r, g, t)
  local claimed, what = {}, nil
  local ok, err = pcall(function()
    if g.kind == "instance" then
      what = ("instance '%s'"):format(g.instance)
      label.claim_instance(r, g, t)
      claimed[#claimed + 1] = function() label.release_instance(r, g, t) end
    end
    for _, key in ipairs(g.items) do
      local item = r:item(key)
      what = ("disk '%s'"):format(item.name)
      label.run(r, item, t)
      claimed[#claimed + 1] = function() label.rollback(r, item, t) end
    end
  end)
  if ok then return end
  if not claim.is_refusal(err) then
    local e = pd.is_error(err) and err or {}
    err = pd.error { reason = e.reason or "failed", code = e.code, retryable = e.retryable or false,
                     message = ("label of %s failed: %s"):format(what, tostring(err)) }
    err.operation_left = e.operation_left
  end
  local undo_failures = {}
  for i = #claimed, 1, -1 do
    local released, rerr = pcall(claimed[i])
    if not released then undo_failures[#undo_failures + 1] = tostring(rerr) end
  end
  if #undo_failures > 0 then
    err = pd.error { reason = "rollbackFailed", retryable = false,
                     message = ("%s; taking the claim off again failed: %s"):format(
                       tostring(err), table.concat(undo_failures, "; ")) }
  end
  error(err, 0)
end

function M.run(r, g, t)
  if g.needs_restore then
    restore_or_raise(r, g, t)
    g.needs_restore = nil
    r:restart(g)
  end
  claim_group(r, g, t)
end

function M.rollback(r, g, t)
  restore_or_raise(r, g, t)
end

--- A task that only restores a group (a resumed run finishing the undo of
-- a group that failed before the process died).
M.restore_only = {
  step = "restore",
  run = function(r, g, t) restore_or_raise(r, g, t) end,
}

return M
