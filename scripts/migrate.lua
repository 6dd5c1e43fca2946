--- migrate.lua: move Compute Engine disks to another disk type.
--
--   pdlua migrate.lua --project P --zone Z --target-disk-type T [options]
--
-- `pdlua migrate.lua --help` lists the options. This script is the command
-- line glue: it parses flags (pdlua.migrate.cli), finds or resumes the run
-- (its journal, named after the command, in --state-dir), shows the plan
-- and asks before changing anything, runs the workflow
-- (workflows.migrate), and prints the report. Exit codes: 0 all done, 1
-- some disks rolled back or failed, 2 usage or input error (nothing
-- started), 130 interrupted.
local cli = require "pdlua.migrate.cli"
local journal_mod = require "pdlua.migrate.journal"
local report_mod = require "pdlua.migrate.report"
local progress_mod = require "pdlua.migrate.progress"
local migrate = require "workflows.migrate"
local pd = require "pdlua"
local gcp = require "pdlua.gcp"

-- A migration keeps little live data (a plan, a journal's worth of
-- state) but churns through a lot of JSON; collecting garbage sooner than
-- Lua's default (pause 200%) keeps the peak RSS of a 1,000-disk run near
-- 50 MB instead of 65.
collectgarbage("incremental", 120, 200)

local function usage_error(msg)
  io.stderr:write("migrate.lua: ", msg, "\n",
                  "Run 'pdlua migrate.lua --help' for the options.\n")
  os.exit(2)
end

local function fatal(code, msg)
  io.stderr:write("migrate.lua: ", msg, "\n")
  os.exit(code)
end

-- The project and zone default as gcloud users expect: `pdlua --project`,
-- then CLOUDSDK_CORE_PROJECT / CLOUDSDK_COMPUTE_ZONE, then the active
-- gcloud configuration (pdlua.config); the flags of this script win.
local config = require "pdlua.config"
local function defaults(name)
  if name == "CLOUDSDK_CORE_PROJECT" then return config.resolve().project end
  if name == "CLOUDSDK_COMPUTE_ZONE" then return config.resolve().zone end
  return os.getenv(name)
end

local opts, err = cli.parse({ ... }, defaults)
if not opts then usage_error(err) end
if opts.help then
  io.write(cli.usage)
  os.exit(0)
end

local stem = cli.run_stem(opts)
local journal_path = opts.state_dir .. "/" .. stem .. ".journal.jsonl"
local report_path = opts.state_dir .. "/" .. stem .. ".report.json"

local state
if journal_mod.exists(journal_path) then
  state = journal_mod.load(journal_path)
  if not state.plan then state = nil end
end
if opts.resume and not state then
  usage_error(("nothing to resume: no journal of this command in %s (%s)"):format(
    opts.state_dir, journal_path))
end

local ok_client, client = pcall(gcp.client, {
  project = opts.project, endpoint = opts.endpoint, qps = opts.qps,
})
if not ok_client then fatal(2, "cannot set up the Compute Engine client: " .. tostring(client)) end
opts.client = client
local o = migrate.options(opts)

-- The plan: from the journal when continuing a run, else from the project.
local plan
if state and not opts.dry_run then
  plan = state.plan
  io.stderr:write(("Continuing run %s (journal %s).\n"):format(stem, journal_path))
else
  local ok, p = pcall(migrate.prepare, o)
  if not ok then
    local e = p
    if pd.is_error(e) and (e.code == 404 or e.code == 400 or e.reason == "invalidArgument") then
      fatal(2, "cannot read the project: " .. tostring(e))
    end
    fatal(1, "cannot read the project: " .. tostring(e))
  end
  plan = p
  -- A name given on the command line that does not exist is an input error.
  for _, msg in ipairs(plan.problems) do
    if msg:match("not found") then fatal(2, msg .. " (nothing started)") end
  end
end

local counts = { planned = 0, refused = 0 }
for _, item in ipairs(plan.items) do
  if item.status == "planned" then counts.planned = counts.planned + 1 end
  if item.refused then counts.refused = counts.refused + 1 end
end
local instance_groups = 0
for _, key in ipairs(plan.group_order) do
  if plan.groups[key].kind == "instance" and plan.groups[key].stop then
    instance_groups = instance_groups + 1
  end
end

local function print_plan(format, out)
  out = out or io.stdout
  if format == "json" then
    out:write(report_mod.plan_json(plan))
  elseif format == "dot" then
    local r = require("pdlua.migrate.run").new { client = client, plan = plan }
    out:write(migrate.workflow(r, "migrate"):dot(), "\n")
  else
    out:write(report_mod.plan_text(plan, opts))
  end
end

if opts.dry_run then
  print_plan(opts.plan_format or "text")
  local would_fail = counts.refused > 0 or #plan.problems > 0
  os.exit(would_fail and 1 or 0)
end

if not state then
  if #plan.problems > 0 then
    print_plan("text", io.stderr)
    fatal(1, "the plan would fail (see above); nothing was changed")
  end
  if opts.plan_format then print_plan(opts.plan_format) end
  if counts.planned == 0 and #plan.group_order == 0 then
    io.stderr:write("Nothing to migrate.\n")
  elseif not opts.yes then
    if not opts.plan_format then print_plan("text", io.stderr) end
    if opts.take_over then
      io.stderr:write(("\nThis run takes over every disk and instance claimed by run %s: make sure that run is gone.")
        :format(opts.take_over))
    end
    io.stderr:write(("\nMigrate %d disk(s)%s? Type 'yes' to go on: "):format(counts.planned,
      instance_groups > 0 and (" (stopping and restarting %d instance(s))"):format(instance_groups) or ""))
    io.stderr:flush()
    local answer = io.read("l")
    if not answer or not answer:match("^%s*[yY][eE]?[sS]?%s*$") then
      fatal(1, "not confirmed; nothing was changed")
    end
  end
end

-- One run of a command at a time: a lock file next to the journal holds
-- the pid of the run that owns it (a run killed with -9 leaves it behind;
-- a pid that is gone, or is not a migrate.lua, no longer holds it).
local lock_path = journal_path .. ".lock"
local function proc_read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
do
  local holder = (proc_read(lock_path) or ""):match("%d+")
  local cmdline = holder and proc_read("/proc/" .. holder .. "/cmdline")
  if cmdline and cmdline:find("migrate.lua", 1, true) then
    fatal(2, ("another run of this command is in progress (pid %s; %s)"):format(holder, lock_path))
  end
end
local j, jerr = journal_mod.open(journal_path)
if not j then fatal(2, jerr) end
do
  local f = io.open(lock_path, "w")
  if f then
    f:write((proc_read("/proc/self/stat") or ""):match("^(%d+)") or "", "\n")
    f:close()
  end
end
if not state then
  j:write { type = "plan", plan = plan, command = { ... } }
end

local progress = progress_mod.new { quiet = opts.quiet, verbose = opts.verbose,
                                    events = opts.events, run = stem,
                                    name = "migrate " .. stem, total_items = counts.planned }
if progress.tty then o.progress_interval = 0.1 end
local result = migrate.execute(o, plan, {
  journal = j, resumed = state, on_progress = progress.on_progress,
  on_event = progress.on_event, log = progress.log, name = "migrate " .. stem,
})
progress.close(result.res)
j:close()
os.remove(lock_path)

local rep = result.report
rep.run = stem
rep.journal = journal_path
local f = io.open(report_path, "w")
if f then
  f:write(report_mod.json(rep))
  f:close()
end
if opts.format == "json" then
  io.write(report_mod.json(rep))
else
  io.write(report_mod.text(rep))
  io.write(("Report: %s\n"):format(report_path))
end
io.stdout:flush()

if result.interrupted then
  io.stderr:write("Interrupted: run the same command again to continue.\n")
  -- Returning (rather than os.exit) lets pdlua exit with 130.
  return
end
os.exit(rep.ok and 0 or 1)
