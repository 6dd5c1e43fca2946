--- pdlua.migrate: the migration library's one entry — what
-- `pdlua migrate.lua` does, for the command, the REPL and scripts.
--
--     local migrate = require "pdlua.migrate"
--     local m, err = migrate.open{"--zone", "us-central1-a", "--target-disk-type", "pd-balanced"}
--     if not m then io.stderr:write(err.message, "\n") os.exit(err.exit_code) end
--     local plan = assert(m:plan())      -- discover + plan (cached)
--     io.write(m:show("text"))           -- or "json", or m:dot()
--     local result, rerr = m:run { command = { ... } }
--     io.write(m:report("text"))
--
-- `open` takes the options `pdlua.migrate.cli.parse` makes (or the
-- command's arguments), fills in the project and the zone once from
-- pdlua.config (flags, CLOUDSDK_* variables, gcloud's configuration) and
-- requires them, finds the run's journal (named after the command, in
-- `state_dir`), takes the run's lock unless it is a dry run, and makes the
-- Compute Engine client. The object it returns plans (from the journal
-- when continuing an interrupted run, else from the project), renders the
-- plan, runs it (journal, progress, the workflow of workflows.migrate,
-- the report file) and renders the report. Nothing here prints, asks or
-- exits: failures come back as `nil, err`, err a pdlua.error whose
-- `message` is what to say and `exit_code` what the command exits with
-- (`usage = true` when the help line should follow).
local pd = require "pdlua"
local cli = require "pdlua.migrate.cli"
local claim = require "pdlua.migrate.claim"
local config = require "pdlua.config"
local journal_mod = require "pdlua.migrate.journal"
local plan_mod = require "pdlua.migrate.plan"
local report_mod = require "pdlua.migrate.report"
local progress_mod = require "pdlua.migrate.progress"
local run_mod = require "pdlua.migrate.run"
local workflows = require "workflows.migrate"

local M = {}

local Migration = {}
Migration.__index = Migration

-- An error for the caller to show: `message` is what to say, `exit_code`
-- what the command exits with; `usage` asks for the pointer to --help.
local function failure(exit_code, message, extra)
  local e = { reason = exit_code == 2 and "invalidArgument" or "migrationFailed",
              message = message, retryable = false, exit_code = exit_code }
  for k, v in pairs(extra or {}) do e[k] = v end
  return pd.error(e)
end

local function usage(message)
  return failure(2, message, { usage = true })
end

-- Whether `t` is a list of command-line arguments rather than options.
local function is_argv(t)
  return t[1] ~= nil or next(t) == nil
end

-- The holder of a run's lock, as the message names it: its pid, and its
-- host when that is another one.
local function holder_text(holder)
  local pid, host = tostring(holder or ""):match("^(%d+)%s*(%S*)")
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local here = f and f:read("l")
  if f then f:close() end
  if pid and host ~= "" and here and host ~= here then pid = pid .. " on " .. host end
  return pid or "unknown"
end

-- The client of a migration: for its project, with the zone pdlua.config
-- gave (the client's default zone, as gcp.client{} would find it).
local function gcp_client(o, where)
  return require("pdlua.gcp").client { project = o.project, zone = where.zone or false,
                                       endpoint = o.endpoint, qps = o.qps }
end

--- Opens a migration.
-- @tparam table opts the options of pdlua.migrate.cli.parse, or the
--   command's arguments (a list of strings)
-- @tparam[opt] table p {client = a gcp.client to use (default: one made
--   for the project, `endpoint` and `qps`), env = a getenv-like function
--   (tests)}
-- @treturn table|nil the migration, or nil and a pdlua.error (message,
--   exit_code, usage)
function M.open(opts, p)
  p = p or {}
  if type(opts) ~= "table" then return nil, usage("migrate.open: options must be a table") end
  local argv
  if is_argv(opts) then
    argv = opts
    local parsed, err = cli.parse(argv)
    if not parsed then return nil, usage(err) end
    if parsed.help then return nil, failure(0, cli.usage, { reason = "help", help = true }) end
    opts = parsed
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end

  -- The project and zone, once: the flags, then pdlua.config's defaults.
  -- A region is never a default: a whole region is only what --region says.
  local where, source = config.resolve({ project = o.project }, p.env)
  o.project = where.project
  if not o.project then
    return nil, usage("--project is required (or set CLOUDSDK_CORE_PROJECT)")
  end
  if not o.zones and not o.region and where.zone then o.zones = { where.zone } end
  if not o.zones and not o.region then
    return nil, usage("--zone or --region is required (or set CLOUDSDK_COMPUTE_ZONE)")
  end

  local stem = cli.run_stem(o)
  local m = setmetatable({
    options = o, argv = argv, stem = stem, where = where, source = source,
    journal_path = o.state_dir .. "/" .. stem .. ".journal.jsonl",
    report_path = o.state_dir .. "/" .. stem .. ".report.json",
    notes = {},
  }, Migration)

  -- One run of a command at a time: an flock on "<journal>.lock", taken
  -- before the journal is read and held until this process exits (the
  -- kernel lets go of it however the process ends, kill -9 included).
  if not o.dry_run then
    local lock_path = m.journal_path .. ".lock"
    local locked, why, holder = journal_mod.lock(m.journal_path)
    if not locked and why == "held" then
      return nil, failure(2, ("another run of this command is in progress (pid %s, lock %s)")
        :format(holder_text(holder), lock_path))
    elseif not locked then
      return nil, failure(2, ("cannot take the lock %s: %s"):format(lock_path, tostring(why)))
    end
  end

  -- The journal: what to go on from (journal.recover sets aside or trims
  -- what cannot be read, and says so in m.notes).
  local state, notes, jfatal = journal_mod.recover(m.journal_path,
    { resume = o.resume, read_only = o.dry_run })
  m.notes = notes
  if jfatal then return nil, failure(2, jfatal, { notes = notes }) end
  if o.resume and not state then
    return nil, usage(("nothing to resume: no journal of this command in %s (%s)")
      :format(o.state_dir, m.journal_path))
  end
  m.state = state
  -- Continuing: the plan comes from the journal, not from the project.
  m.continuing = state ~= nil and not o.dry_run

  local client = p.client
  if not client then
    local ok, c = pcall(gcp_client, o, where)
    if not ok then
      return nil, failure(2, "cannot set up the Compute Engine client: " .. tostring(c))
    end
    client = c
  end
  o.client = client
  m.client = client
  -- The id this command claims disks under, the same for every run of it
  -- from this state directory on this host (one at a time, by the lock),
  -- so that a run whose journal was lost or set aside still knows its claims.
  o.run_id = (state and state.plan.run_id) or claim.command_run_id(o.state_dir, stem)
  m.options = workflows.options(o)
  return m
end

--- The plan: read back from the journal when continuing an interrupted
-- run, else discovered in the project (nothing changes). Made once.
-- @treturn table|nil the plan (pdlua.migrate.plan), or nil and an error:
--   the project could not be read (exit code 2 when the API says the input
--   is wrong, else 1), or a disk or instance named does not exist (2)
function Migration:plan()
  if self._plan then return self._plan end
  if self.continuing then
    self._plan = self.state.plan
    return self._plan
  end
  local ok, plan = pcall(workflows.prepare, self.options)
  if not ok then
    local e = plan
    local bad_input = pd.is_error(e) and (e.code == 404 or e.code == 400 or e.reason == "invalidArgument")
    return nil, failure(bad_input and 2 or 1, "cannot read the project: " .. tostring(e), { cause = e })
  end
  -- A name given on the command line that does not exist is an input error.
  for _, msg in ipairs(plan.problems) do
    if msg:match("not found") then return nil, failure(2, msg .. " (nothing started)") end
  end
  self._plan = plan
  return plan
end

--- The task graph of the plan, in Graphviz dot syntax (`--plan dot`).
-- @treturn string|nil the graph, or nil and the error of `plan()`
function Migration:dot()
  local plan, err = self:plan()
  if not plan then return nil, err end
  local r = run_mod.new { client = self.client, plan = plan }
  return workflows.workflow(r, "migrate"):dot() .. "\n"
end

--- The plan, rendered: "text" (default; the table `--dry-run` prints),
-- "json" (`--plan json`) or "dot" (`dot()`).
-- @treturn string|nil the text, or nil and the error of `plan()`
function Migration:show(format)
  local plan, err = self:plan()
  if not plan then return nil, err end
  if format == "dot" then return self:dot() end
  if format == "json" then return report_mod.plan_json(plan) end
  return report_mod.plan_text(plan, self.options)
end

--- Runs the plan, as the command does once it is confirmed: journals it
-- (a new run writes the plan first), shows live progress on stderr
-- (`quiet`, `verbose`, `events` of the options), runs the workflow, and
-- saves the report as `<state_dir>/<stem>.report.json` (whole or not at
-- all). A journal that cannot be written stops new work: what is under
-- way finishes or is put back, the journal is set aside, and no report
-- file is written.
-- @tparam[opt] table p {command = the arguments to record in the journal
--   (default: those given to `open`)}
-- @treturn table|nil {report, ok, interrupted, exit_code (0, 1, or 130
--   when interrupted), res (the engine's result), report_file}; or nil
--   and an error. When the workflow ran, `report()` renders its report
--   even if an error came back (the journal or the report file failed).
function Migration:run(p)
  p = p or {}
  local o = self.options
  if o.dry_run then return nil, usage("a dry run changes nothing: run without --dry-run") end
  if self.result then return nil, failure(1, "this migration has run: open it again to go on") end
  local plan, perr = self:plan()
  if not plan then return nil, perr end
  local journal_path = self.journal_path

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
  if not j then return nil, failure(2, jerr) end
  if not self.continuing then
    j:write { type = "plan", plan = plan, command = p.command or self.argv }
    if j.failed then
      j:close()
      os.remove(journal_path)
      return nil, failure(1, ("cannot write the journal %s; nothing was changed; free space and run the same command again")
        :format(j.failed))
    end
  end

  local counts = plan_mod.counts(plan)
  local progress = progress_mod.new { quiet = o.quiet, verbose = o.verbose,
                                      events = o.events, run = self.stem,
                                      name = "migrate " .. self.stem, total_items = counts.planned }
  if progress.tty then o.progress_interval = 0.1 end
  say = progress.log
  local result = workflows.execute(o, plan, {
    journal = j, resumed = self.continuing and self.state or nil,
    on_progress = progress.on_progress, on_event = progress.on_event, log = progress.log,
    name = "migrate " .. self.stem, on_workflow = function(wf) wf_running = wf end,
  })
  progress.close(result.res)
  j:close()
  self.result = result

  local rep = result.report
  rep.run = self.stem
  rep.journal = journal_path
  result.exit_code = result.interrupted and 130 or (rep.ok and 0 or 1)

  -- The journal failed: what happened is reported, but no report file
  -- claims an outcome the journal does not hold. The journal, missing
  -- what came after its failure (the steps finished or put back then), is
  -- set aside: the next run starts from what Compute Engine shows (the
  -- pdlua labels on the disks) rather than from a story that stops short.
  if j.failed then
    rep.ok = false
    rep.journal_error = j.failed
    local aside, aerr = journal_mod.set_aside(journal_path)
    return nil, failure(1, ("cannot write the journal %s; new work was stopped and what was in flight was finished or put back; %s; free space and run the same command again (it starts from what Compute Engine shows)")
      :format(j.failed, aside and ("the journal was moved to " .. aside)
        or ("move the journal away first (it could not be moved: %s)"):format(tostring(aerr))))
  end

  -- The report file: whole or not at all (temporary file, fsync, rename).
  self.report_json = report_mod.json(rep)
  local wrote, werr = require("pdlua.host").write_file_atomic(self.report_path, self.report_json)
  if not wrote then
    return nil, failure(1, ("cannot write the report %s (the run's outcome is above and in the journal %s)")
      :format(tostring(werr), journal_path))
  end
  result.report_file = self.report_path
  return result
end

--- The report of the run, once `run` has run the workflow: "text"
-- (default; the table the command prints) or "json" (as saved in the
-- report file).
-- @treturn string|nil the report, or nil and an error before a run
function Migration:report(format)
  local rep = self.result and self.result.report
  if not rep then return nil, failure(1, "no report: the migration has not run") end
  if format == "json" then return self.report_json or report_mod.json(rep) end
  return report_mod.text(rep)
end

return M
