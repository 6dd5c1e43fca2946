--- pdlua.migrate.cli: the command line of `pdlua migrate.lua`.
-- Parses and checks every flag before anything talks to Compute Engine, so a
-- typo costs nothing (exit code 2, nothing started). The result is a plain
-- options table the workflows take; the identity of a run (what the
-- journal's name is derived from) is computed from it here too, so that
-- flags which only change how a run is shown or paced do not change it.
local rules = require "pdlua.migrate.rules"
local naming = require "pdlua.migrate.naming"

local M = {}

M.usage = [[
usage: pdlua migrate.lua --target-disk-type TYPE [selection] [options]

Moves Compute Engine persistent disks to another disk type the way Google
documents it: snapshot, create a disk of the new type from the snapshot,
swap it in where the original was attached. Instances are stopped only
when a disk they write to is moved, once each, and left in the power state
they were found in. Every failure puts the disk and its instance back.

Where:
  --project P            project (default: $CLOUDSDK_CORE_PROJECT)
  --zone Z[,Z...]        zone(s) (default: $CLOUDSDK_COMPUTE_ZONE)
  --region R             every zone of region R (instead of --zone)
  --endpoint URL         Compute Engine endpoint, e.g. http://127.0.0.1:8080
                         (default: $CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE)

What to move to:
  --target-disk-type T   pd-standard, pd-balanced, pd-ssd, pd-extreme,
                         hyperdisk-balanced, hyperdisk-balanced-high-availability,
                         hyperdisk-extreme, hyperdisk-throughput, hyperdisk-ml
  --iops N               provisioned IOPS of the new disks (pd-extreme, hyperdisk)
  --throughput N         provisioned throughput, MiB/s (hyperdisk)
                         (default for both: the original's, when its type has
                         them, else the type's default)
  --storage-pool P       create the new disks in this hyperdisk storage pool
  --kms-key K            encrypt the new disks with this Cloud KMS key

Disk mode (the default) selects disks wherever they are: unattached,
attached data disks and boot disks.
  --disks A,B            only these disks (names; '*' and '?' are wildcards)
  --exclude A,B          never these disks (names or wildcards)
  --label K=V            only disks with this label (repeatable; all must match)
  --type T[,T]           only disks of these types
  --attached             only disks attached to an instance
  --unattached           only disks attached to none
Disks already of the target type, disks made by pdlua and disks already
migrated are skipped; so is a disk attached to several instances.

Instance mode moves every disk of the chosen instances:
  --instances A,B|'*'    these instances (or every instance in the zones)
  --machine-type M       also change their machine type (e.g. n2 -> n4,
                         which needs hyperdisk); each instance is stopped
                         once and started once
  (--exclude applies in instance mode too)

What happens to the originals:
  --retain-name          the new disk takes the original's name (the original
                         is deleted once its snapshot is READY; any failure
                         after that recreates it from the snapshot)
  --delete-original      delete the original once the new disk is verified
                         (default: keep it, labelled pdlua-state=migrated)
  --keep-snapshots       keep the snapshots (default: delete them at the end)

How it runs:
  --dry-run              validate and print the plan and what would fail;
                         change nothing
  --plan text|json|dot   print the plan in this format (dot: the task graph)
  --yes                  do not ask for confirmation (otherwise the plan is
                         shown and a 'yes' is read from the terminal)
  --max-parallel N       tasks running at once (default 32)
  --snapshot-parallel N  snapshots being taken at once (default 16)
  --create-parallel N    disks being created at once (default 16)
  --power-parallel N     instances being stopped or started at once (default 16)
  --qps N                API requests per second (default: the client's)
  --task-timeout S       seconds one step may take (default 1800; a step
                         on a big disk gets four times its usual duration
                         if that is longer)
  --resume               continue this command's interrupted run (it is
                         also continued when the same command is run again;
                         a journal that is empty or has no readable plan
                         cannot be resumed: run the command without it)
  --retry-failed         try again the disks that were rolled back or failed
  --take-over RUN        take over the disks and instances claimed by run RUN
                         (a run that is gone and whose journal is not here;
                         its id is in the refusal message and in the labels
                         pdlua-claim); asks first unless --yes
  --state-dir DIR        where journals, reports and run locks go (default
                         ./pdlua-runs); every journal line is fsynced, the
                         report is replaced whole, one run of a command at
                         a time
  --format text|json     the report's format on standard output
  --events FILE          append every task event to FILE as JSON lines
  --quiet                no live progress on standard error
  --verbose              a progress line for every step's state change
  -h, --help             this help

Exit codes: 0 everything migrated (or nothing to do); 1 some disks were
rolled back or failed (the report says what to do), or the journal or the
report could not be written (a full disk: new work stops, what is under
way finishes or is put back; free space and run the same command again);
2 usage or input error, nothing started (also: another run of the command
is in progress); 130 interrupted (run the same command again to continue).

Example:
  pdlua migrate.lua --project my-proj --zone us-central1-a \
      --target-disk-type hyperdisk-balanced --instances web-1,web-2 \
      --machine-type n4-standard-4 --dry-run
]]

-- Flags that take a value, and how to read it.
local VALUE_FLAGS = {
  project = "string", zone = "list", region = "string", endpoint = "string",
  ["target-disk-type"] = "string", iops = "integer", throughput = "integer",
  ["storage-pool"] = "string", ["kms-key"] = "string",
  disks = "list", exclude = "list", label = "label", type = "list",
  instances = "list", ["machine-type"] = "string",
  ["max-parallel"] = "integer", ["snapshot-parallel"] = "integer",
  ["create-parallel"] = "integer", ["power-parallel"] = "integer",
  qps = "number", ["task-timeout"] = "number",
  plan = "string", format = "string", events = "string", ["state-dir"] = "string",
  ["take-over"] = "string",
}
local BOOL_FLAGS = {
  attached = true, unattached = true, ["retain-name"] = true,
  ["delete-original"] = true, ["keep-snapshots"] = true, ["dry-run"] = true,
  yes = true, resume = true, ["retry-failed"] = true, quiet = true, verbose = true, help = true,
}

local function split_list(s)
  local out = {}
  for item in tostring(s):gmatch("[^,%s]+") do out[#out + 1] = item end
  return out
end

local function usage_error(fmt, ...)
  return nil, fmt:format(...)
end

--- Parses the arguments. The project and the zones are what the flags
-- say, nil when they say nothing: pdlua.migrate.open fills them in from
-- pdlua.config and requires them.
-- @tparam {string,...} argv the script's arguments (arg[1..n])
-- @treturn table|nil options (see M.check), or nil and a message
function M.parse(argv)
  local raw = { label = {} }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") end
    if a == "-h" then name = "help" end
    if not name then
      return usage_error("unexpected argument '%s'", a)
    end
    if BOOL_FLAGS[name] then
      if inline then return usage_error("--%s takes no value", name) end
      raw[name] = true
    elseif VALUE_FLAGS[name] then
      local v = inline
      if v == nil then
        i = i + 1
        v = argv[i]
        if v == nil then return usage_error("--%s needs a value", name) end
      end
      local kind = VALUE_FLAGS[name]
      if kind == "integer" then
        local n = math.tointeger(tonumber(v))
        if not n or n <= 0 then
          return usage_error("--%s needs a positive whole number, not '%s'", name, v)
        end
        raw[name] = n
      elseif kind == "number" then
        local n = tonumber(v)
        if not n or n <= 0 then
          return usage_error("--%s needs a positive number, not '%s'", name, v)
        end
        raw[name] = n
      elseif kind == "list" then
        local list = split_list(v)
        if #list == 0 then return usage_error("--%s needs at least one name", name) end
        raw[name] = raw[name] or {}
        for _, x in ipairs(list) do raw[name][#raw[name] + 1] = x end
      elseif kind == "label" then
        local k, val = v:match("^([^=]+)=(.*)$")
        if not k or not k:match("^[a-z][-_a-z0-9]*$") then
          return usage_error("--label needs KEY=VALUE with a lower-case key, not '%s'", v)
        end
        raw.label[#raw.label + 1] = { key = k, value = val }
      else
        if v == "" then return usage_error("--%s needs a value", name) end
        raw[name] = v
      end
    else
      return usage_error("unknown option '--%s'", name)
    end
    i = i + 1
  end
  if raw.help then return { help = true } end
  return M.check(raw)
end

-- Turns raw flags into options, checking combinations.
function M.check(raw)
  local o = {}
  o.project = raw.project
  if raw.zone and raw.region then
    return usage_error("--zone and --region exclude each other")
  end
  o.region = raw.region
  o.zones = raw.zone
  o.target_type = raw["target-disk-type"]
  if not o.target_type then
    return usage_error("--target-disk-type is required")
  end
  if not rules.known_disk_type(o.target_type) then
    return usage_error("unknown disk type '%s' for --target-disk-type", o.target_type)
  end
  for _, t in ipairs(raw.type or {}) do
    if not rules.known_disk_type(t) then
      return usage_error("unknown disk type '%s' for --type", t)
    end
  end

  o.instances = raw.instances
  o.machine_type = raw["machine-type"]
  if o.instances then
    for _, f in ipairs { "disks", "type", "attached", "unattached" } do
      if raw[f] then return usage_error("--%s selects disks; it cannot be used with --instances", f) end
    end
    if #raw.label > 0 then
      return usage_error("--label selects disks; it cannot be used with --instances")
    end
  elseif o.machine_type then
    return usage_error("--machine-type needs --instances (instance mode)")
  end
  if raw.attached and raw.unattached then
    return usage_error("--attached and --unattached exclude each other")
  end
  if o.machine_type and not rules.machine_series(o.machine_type) then
    return usage_error("malformed machine type '%s' (e.g. n4-standard-4)", o.machine_type)
  end

  o.selector = {
    disks = raw.disks, exclude = raw.exclude, labels = raw.label,
    types = raw.type,
    attached = raw.attached and true or (raw.unattached and false) or nil,
  }
  o.iops = raw.iops
  o.throughput = raw.throughput
  local spec = rules.disk_types[o.target_type]
  if o.iops and not spec.iops then
    return usage_error("--iops: %s does not take provisioned IOPS", o.target_type)
  end
  if o.throughput and not spec.throughput then
    return usage_error("--throughput: %s does not take provisioned throughput", o.target_type)
  end
  o.storage_pool = raw["storage-pool"]
  if o.storage_pool and spec.family ~= "hyperdisk" then
    return usage_error("--storage-pool: storage pools hold only hyperdisk, not %s", o.target_type)
  end
  o.kms_key = raw["kms-key"]
  o.retain_name = raw["retain-name"] or false
  o.delete_original = raw["delete-original"] or false
  o.keep_snapshots = raw["keep-snapshots"] or false
  o.dry_run = raw["dry-run"] or false
  o.yes = raw.yes or false
  o.resume = raw.resume or false
  o.retry_failed = raw["retry-failed"] or false
  o.take_over = raw["take-over"]
  if o.take_over and not o.take_over:match("^[a-z0-9_-]+$") then
    return usage_error("--take-over needs a run id (as in the label pdlua-claim), not '%s'", o.take_over)
  end
  o.quiet = raw.quiet or false
  o.verbose = raw.verbose or false
  o.plan_format = raw.plan
  if o.plan_format and not ({ text = true, json = true, dot = true })[o.plan_format] then
    return usage_error("--plan must be text, json or dot, not '%s'", o.plan_format)
  end
  o.format = raw.format or "text"
  if o.format ~= "text" and o.format ~= "json" then
    return usage_error("--format must be text or json, not '%s'", o.format)
  end
  o.events = raw.events
  o.state_dir = raw["state-dir"] or "pdlua-runs"
  o.endpoint = raw.endpoint
  if o.endpoint and not o.endpoint:find("/compute/v1", 1, true) then
    -- A bare host (http://127.0.0.1:8080) means its Compute Engine v1 API.
    o.endpoint = o.endpoint:gsub("/*$", "") .. "/compute/v1/"
  end
  o.qps = raw.qps
  o.task_timeout = raw["task-timeout"] or 1800
  o.max_parallel = raw["max-parallel"] or 32
  o.pools = {
    snapshots = raw["snapshot-parallel"] or 16,
    disk_creates = raw["create-parallel"] or 16,
    power = raw["power-parallel"] or 16,
  }
  return o
end

--- What identifies a run: the same command again (same project, place,
-- selection and outcome flags) maps to the same journal. Pacing and output
-- flags are left out on purpose.
function M.identity(o)
  local zones = o.zones and { table.unpack(o.zones) } or nil
  if zones then table.sort(zones) end
  local function sorted(list)
    if not list then return nil end
    local c = { table.unpack(list) }
    table.sort(c)
    return c
  end
  local labels
  if o.selector and o.selector.labels and #o.selector.labels > 0 then
    labels = {}
    for _, l in ipairs(o.selector.labels) do labels[#labels + 1] = l.key .. "=" .. l.value end
    table.sort(labels)
  end
  return {
    project = o.project, zones = zones, region = o.region,
    target_type = o.target_type, instances = sorted(o.instances),
    machine_type = o.machine_type,
    disks = sorted(o.selector and o.selector.disks),
    exclude = sorted(o.selector and o.selector.exclude),
    labels = labels, types = sorted(o.selector and o.selector.types),
    attached = o.selector and o.selector.attached,
    iops = o.iops, throughput = o.throughput, storage_pool = o.storage_pool,
    kms_key = o.kms_key, retain_name = o.retain_name,
    delete_original = o.delete_original, keep_snapshots = o.keep_snapshots,
  }
end

--- The run's id (see naming.run_id) and a file-name-friendly stem for its
-- journal and report: "<project>-<target short>-<id>".
function M.run_stem(o)
  local id = naming.run_id(M.identity(o))
  local project = o.project:gsub("[^%w%-_.]", "_")
  return ("%s-%s-%s"):format(project, naming.short_type(o.target_type), id), id
end

return M
