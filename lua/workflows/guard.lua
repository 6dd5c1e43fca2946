--- workflows.guard: the first task of every group, whose undo runs last.
--
-- Does: nothing on a fresh group. On a group that an earlier run left
-- half-undone (interrupted while rolling back, or cancelled), first puts it
-- back as it was found (workflows.restore), then starts it over with new
-- request ids.
-- Undo: the group's full restore sweep — after the engine has undone the
-- steps that succeeded (newest first), this reads everything the group
-- touches and puts back whatever a failed, timed-out or cancelled step left
-- half done. It runs with a fresh interrupt even when the run was
-- cancelled, so Ctrl-C still leaves instances as they were found.
local pd = require "pdlua"
local restore = require "workflows.restore"

local M = { step = "begin" }

local function restore_or_raise(r, g)
  local failures = restore.group(r, g)
  if #failures > 0 then
    if r.journal then r.journal:write { type = "group", key = g.key, event = "restore_failed" } end
    error(pd.error { reason = "rollbackFailed", retryable = false,
                     message = table.concat(failures, "; ") }, 0)
  end
  if r.journal then r.journal:write { type = "group", key = g.key, event = "restored" } end
end

function M.run(r, g, t)
  if g.needs_restore then
    restore_or_raise(r, g)
    g.needs_restore = nil
    r:restart(g)
  end
end

function M.rollback(r, g, t)
  restore_or_raise(r, g)
end

--- A task that only restores a group (a resumed run finishing the undo of
-- a group that failed before the process died).
M.restore_only = {
  step = "restore",
  run = function(r, g, t) restore_or_raise(r, g) end,
}

return M
