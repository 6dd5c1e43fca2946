--- migrate_labelled.lua: a migration written as a script, not a command.
--
--   pdlua examples/migrate_labelled.lua PROJECT ZONE [KEY=VALUE] [TYPE] [ENDPOINT]
--
-- Moves every disk of ZONE carrying the label KEY=VALUE (default env=dev)
-- to TYPE (default pd-balanced) with the same workflow `pdlua migrate.lua`
-- runs — one task graph, rollback per disk and instance — and prints the
-- report. No journal here: a script that wants the command's journal,
-- lock and report file uses pdlua.migrate.open instead.
local migrate = require "workflows.migrate"

local project, zone, label, target, endpoint = ...
if not project or not zone then
  io.stderr:write("usage: pdlua examples/migrate_labelled.lua PROJECT ZONE [KEY=VALUE] [TYPE] [ENDPOINT]\n")
  os.exit(2)
end
local key, value = (label or "env=dev"):match("^([^=]+)=(.*)$")

local client = gcp.client { project = project, endpoint = endpoint }
local result = migrate.migrate_disks({
  client = client, project = project, zones = { zone },
  target_type = target or "pd-balanced",
  selector = { labels = { { key = key, value = value } } },
  max_parallel = 16,
}, { "*" })

io.write(migrate.report(result))
os.exit(result.ok and 0 or 1)
