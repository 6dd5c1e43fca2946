--- upgrade_to_n4.lua: move instances to N4, their disks to Hyperdisk.
--
--   pdlua examples/upgrade_to_n4.lua PROJECT ZONE MACHINE_TYPE INSTANCE... [--endpoint URL]
--
-- N4 takes only Hyperdisk, so a move from N2 (or E2, N1, ...) changes every
-- disk of the instance too. Instance mode does both in one go: each
-- instance is stopped once, its disks snapshotted and recreated as
-- hyperdisk-balanced, its machine type changed while they are detached,
-- the new disks attached where the old ones were, and the instance started
-- again if it was running. The plan is checked first; what N4 could not
-- carry is refused before anything changes.
local migrate = require "workflows.migrate"
local report = require "pdlua.migrate.report"

local args = { ... }
local endpoint
for i = #args - 1, 1, -1 do
  if args[i] == "--endpoint" then
    endpoint = args[i + 1]
    table.remove(args, i + 1)
    table.remove(args, i)
  end
end
local project, zone, machine_type = args[1], args[2], args[3]
local instances = { table.unpack(args, 4) }
if not machine_type or #instances == 0 then
  io.stderr:write("usage: pdlua examples/upgrade_to_n4.lua PROJECT ZONE MACHINE_TYPE INSTANCE... [--endpoint URL]\n")
  os.exit(2)
end

local ctx = migrate.options {
  client = gcp.client { project = project, endpoint = endpoint },
  project = project, zones = { zone }, target_type = "hyperdisk-balanced",
  instances = instances, machine_type = machine_type,
}
-- Look before leaping: the plan says what would fail, and nothing starts
-- if anything would.
local plan = migrate.prepare(ctx)
io.write(report.plan_text(plan, ctx))
for _, item in ipairs(plan.items) do
  if item.refused then
    io.stderr:write("not starting: the plan would fail\n")
    os.exit(1)
  end
end
local result = migrate.execute(ctx, plan)
io.write(migrate.report(result))
os.exit(result.ok and 0 or 1)
