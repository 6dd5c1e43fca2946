--- migrate.lua: move Compute Engine disks to another disk type.
--
--   pdlua migrate.lua --project P --zone Z --target-disk-type T [options]
--
-- `pdlua migrate.lua --help` lists the options. This script is the command
-- line glue: it parses flags (pdlua.migrate.cli), finds or resumes the run
-- (its journal, named after the command, in --state-dir), shows the plan
-- and asks before changing anything, runs the workflow
-- (workflows.migrate), and prints the report. Exit codes: 0 all done, 1
-- some disks rolled back or failed, or the journal or the report could not
-- be written, 2 usage or input error (nothing started), another run of the
-- command in progress, or a journal --resume cannot go on from, 130
-- interrupted.
local cli = require "pdlua.migrate.cli"
local journal_mod = require "pdlua.migrate.journal"
local report_mod = require "pdlua.migrate.report"
local progress_mod = require "pdlua.migrate.progress"
local migrate = require "workflows.migrate"
local pd = require "pdlua"
local gcp = require "pdlua.gcp"
local claim = require "pdlua.migrate.claim"

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

-- One run of a command at a time: an flock on "<journal>.lock", taken
-- before the journal is read and held until this process exits (the
-- kernel lets go of it however the process ends, kill -9 included).
local lock_path = journal_path .. ".lock"
if not opts.dry_run then
  local locked, why, holder = journal_mod.lock(journal_path)
  if not locked and why == "held" then
    local pid, host = tostring(holder or ""):match("^(%d+)%s*(%S*)")
    local f = io.open("/proc/sys/kernel/hostname", "r")
    local here = f and f:read("l")
    if f then f:close() end
    if pid and host ~= "" and here and host ~= here then pid = pid .. " on " .. host end
    fatal(2, ("another run of this command is in progress (pid %s, lock %s)"):format(
      pid or "unknown", lock_path))
  elseif not locked then
    fatal(2, ("cannot take the lock %s: %s"):format(lock_path, tostring(why)))
  end
end

-- The journal: what to go on from (journal.recover sets aside or trims
-- what cannot be read, and says so).
local state, notes, jfatal = journal_mod.recover(journal_path,
  { resume = opts.resume, read_only = opts.dry_run })
for _, note in ipairs(notes) do io.stderr:write("migrate.lua: ", note, "\n") end
if jfatal then fatal(2, jfatal) end
if opts.resume and not state then
  usage_error(("nothing to resume: no journal of this command in %s (%s)"):format(
    opts.state_dir, journal_path))
end

local ok_client, client = pcall(gcp.client, {
  project = opts.project, endpoint = opts.endpoint, qps = opts.qps,
})
if not ok_client then fatal(2, "cannot set up the Compute Engine client: " .. tostring(client)) end
opts.client = client
-- The id this command claims disks under, the same for every run of it
-- from this state directory on this host (one at a time, by the lock), so
-- that a run whose journal was lost or set aside still knows its claims.
opts.run_id = (state and state.plan.run_id) or claim.command_run_id(opts.state_dir, stem)
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

-- A journal that cannot be written stops new work at once: nothing may
-- be done that it could not record. The steps under way finish (they are
-- not cut short, which could leave half-made resources to undo) and the
-- groups they cannot complete are put back; each task also checks the
-- journal before it starts.
local wf_running, say
local j, jerr = journal_mod.open(journal_path, { on_failure = function(why)
  if wf_running then wf_running:cancel { drain = true } end
  if say then
    say(("cannot write the journal %s: starting nothing new; the steps under way finish or are put back (Ctrl-C stops them now)")
      :format(why))
  end
end })
if not j then fatal(2, jerr) end
if not state then
  j:write { type = "plan", plan = plan, command = { ... } }
  if j.failed then
    j:close()
    os.remove(journal_path)
    fatal(1, ("cannot write the journal %s; nothing was changed; free space and run the same command again")
      :format(j.failed))
  end
end

local progress = progress_mod.new { quiet = opts.quiet, verbose = opts.verbose,
                                    events = opts.events, run = stem,
                                    name = "migrate " .. stem, total_items = counts.planned }
if progress.tty then o.progress_interval = 0.1 end
say = progress.log
local result = migrate.execute(o, plan, {
  journal = j, resumed = state, on_progress = progress.on_progress,
  on_event = progress.on_event, log = progress.log, name = "migrate " .. stem,
  on_workflow = function(wf) wf_running = wf end,
})
progress.close(result.res)
j:close()

local rep = result.report
rep.run = stem
rep.journal = journal_path

-- The journal failed: what happened is shown, but no report file claims
-- an outcome the journal does not hold. The journal, missing what came
-- after its failure (the steps finished or put back then), is set aside:
-- the next run starts from what Compute Engine shows (the pdlua labels on
-- the disks) rather than from a story that stops short.
if j.failed then
  rep.ok = false
  rep.journal_error = j.failed
  io.write(opts.format == "json" and report_mod.json(rep) or report_mod.text(rep))
  io.stdout:flush()
  local aside, aerr = journal_mod.set_aside(journal_path)
  fatal(1, ("cannot write the journal %s; new work was stopped and what was in flight was finished or put back; %s; free space and run the same command again (it starts from what Compute Engine shows)")
    :format(j.failed, aside and ("the journal was moved to " .. aside)
      or ("move the journal away first (it could not be moved: %s)"):format(tostring(aerr))))
end

-- The report file: whole or not at all (temporary file, fsync, rename).
local report_json = report_mod.json(rep)
local wrote, werr = require("pdlua.host").write_file_atomic(report_path, report_json)
if opts.format == "json" then
  io.write(report_json)
else
  io.write(report_mod.text(rep))
  if wrote then io.write(("Report: %s\n"):format(report_path)) end
end
io.stdout:flush()
if not wrote then
  fatal(1, ("cannot write the report %s (the run's outcome is above and in the journal %s)")
    :format(tostring(werr), journal_path))
end

if result.interrupted then
  io.stderr:write("Interrupted: run the same command again to continue.\n")
  -- Returning (rather than os.exit) lets pdlua exit with 130.
  return
end
os.exit(rep.ok and 0 or 1)
