--- migrate.lua: move Compute Engine disks to another disk type.
--
--   pdlua migrate.lua --project P --zone Z --target-disk-type T [options]
--
-- `pdlua migrate.lua --help` lists the options. This script is the command
-- line glue around pdlua.migrate: it parses the flags (pdlua.migrate.cli),
-- opens the migration (the project and zone, the run's journal and lock,
-- the client), shows the plan and asks before changing anything, runs it,
-- and prints the report and what went wrong. Exit codes: 0 all done, 1
-- some disks rolled back or failed, or the journal or the report could not
-- be written, 2 usage or input error (nothing started), another run of the
-- command in progress, or a journal --resume cannot go on from, 130
-- interrupted.
local cli = require "pdlua.migrate.cli"
local migrate = require "pdlua.migrate"
local plan_mod = require "pdlua.migrate.plan"

-- A migration keeps little live data (a plan, a journal's worth of
-- state) but churns through a lot of JSON; collecting garbage sooner than
-- Lua's default (pause 200%) keeps the peak RSS of a 1,000-disk run near
-- 50 MB instead of 65.
collectgarbage("incremental", 120, 200)

local argv = { ... }

-- Says what went wrong (an error of pdlua.migrate, or its fields) and exits.
local function fail(err)
  io.stderr:write("migrate.lua: ", err.message, "\n")
  if err.usage then io.stderr:write("Run 'pdlua migrate.lua --help' for the options.\n") end
  os.exit(err.exit_code)
end

local opts, perr = cli.parse(argv)
if not opts then fail { message = perr, usage = true, exit_code = 2 } end
if opts.help then
  io.write(cli.usage)
  os.exit(0)
end

local m, err = migrate.open(opts)
for _, note in ipairs((m or err).notes or {}) do io.stderr:write("migrate.lua: ", note, "\n") end
if not m then fail(err) end

if m.continuing then
  io.stderr:write(("Continuing run %s (journal %s).\n"):format(m.stem, m.journal_path))
end
local plan, plan_err = m:plan()
if not plan then fail(plan_err) end
local counts = plan_mod.counts(plan)

if opts.dry_run then
  io.write(m:show(opts.plan_format))
  os.exit((counts.refused > 0 or #plan.problems > 0) and 1 or 0)
end

if not m.continuing then
  if #plan.problems > 0 then
    io.stderr:write(m:show("text"))
    fail { message = "the plan would fail (see above); nothing was changed", exit_code = 1 }
  end
  if opts.plan_format then io.write(m:show(opts.plan_format)) end
  if counts.planned == 0 and #plan.group_order == 0 then
    io.stderr:write("Nothing to migrate.\n")
  elseif not opts.yes then
    if not opts.plan_format then io.stderr:write(m:show("text")) end
    if opts.take_over then
      io.stderr:write(("\nThis run takes over every disk and instance claimed by run %s: make sure that run is gone.")
        :format(opts.take_over))
    end
    local stopping = 0
    for _, key in ipairs(plan.group_order) do
      local g = plan.groups[key]
      if g.kind == "instance" and g.stop then stopping = stopping + 1 end
    end
    io.stderr:write(("\nMigrate %d disk(s)%s? Type 'yes' to go on: "):format(counts.planned,
      stopping > 0 and (" (stopping and restarting %d instance(s))"):format(stopping) or ""))
    io.stderr:flush()
    local answer = io.read("l")
    if not answer or not answer:match("^%s*[yY][eE]?[sS]?%s*$") then
      fail { message = "not confirmed; nothing was changed", exit_code = 1 }
    end
  end
end

local result, run_err = m:run { command = argv }
-- The report of what ran, even when the journal or the report file failed.
local report = m:report(opts.format)
if report then
  io.write(report)
  if result and opts.format ~= "json" then io.write(("Report: %s\n"):format(result.report_file)) end
  io.stdout:flush()
end
if not result then fail(run_err) end

if result.interrupted then
  io.stderr:write("Interrupted: run the same command again to continue.\n")
  -- Returning (rather than os.exit) lets pdlua exit with 130.
  return
end
os.exit(result.exit_code)
