--- pdlua.migrate.estimate: how long each step typically takes, for the
-- engine's critical-path ordering.
-- The engine starts, among the ready tasks, those with the heaviest chain
-- behind them first (ninja's rule). With realistic weights that means the
-- biggest disks' snapshots start first and the slowest instances are not
-- left for last, which keeps the snapshot and create pools busy to the
-- end. The figures are typical Compute Engine durations (the emulator's
-- latency model follows the same ones); only their ratios matter.
local M = {}

local SECONDS = {
  begin = 0, label = 1, stop = 35, start = 25, detach = 5, attach = 5,
  set_machine_type = 4, delete_original = 6, verify = 0.5, cleanup = 7, restore = 10,
}

--- Expected seconds of a step on a disk of `size_gb` GB.
function M.seconds(step, size_gb)
  local gb = tonumber(size_gb) or 100
  if step == "snapshot" then return 15 + 1.2 * gb end
  if step == "create" then return 10 + 0.6 * gb end
  return SECONDS[step] or 1
end

return M
