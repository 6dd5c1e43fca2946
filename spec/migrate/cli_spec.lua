-- The command line: flags, combinations, defaults, help and exit codes.
local cli = require "pdlua.migrate.cli"
local migrate = require "pdlua.migrate"
local env = require "support.env"

local function noenv() return nil end

local function words(s)
  local argv = {}
  for w in s:gmatch("%S+") do argv[#argv + 1] = w end
  return argv
end

local function parse(s)
  return cli.parse(words(s))
end

-- Opens a dry run (no lock, no journal written) with a stand-in client:
-- the options as pdlua.migrate.open completes them, or nil and its error.
local function open(s, e)
  local m, err = migrate.open(words("--dry-run " .. s), { env = e or noenv, client = {} })
  return m and m.options, err
end

describe("migrate command line", function()
  it("parses a full disk-mode command", function()
    local o = assert(parse("--project p --zone a,b --target-disk-type hyperdisk-balanced " ..
                           "--label env=prod --label team=x --disks d1,d2 --exclude d3 " ..
                           "--type pd-ssd --attached --iops 5000 --throughput=200 " ..
                           "--retain-name --keep-snapshots --max-parallel 8 --yes " ..
                           "--format json --events ev.jsonl --endpoint http://x"))
    assert.equal("p", o.project)
    assert.same({ "a", "b" }, o.zones)
    assert.equal("hyperdisk-balanced", o.target_type)
    assert.same({ { key = "env", value = "prod" }, { key = "team", value = "x" } }, o.selector.labels)
    assert.same({ "d1", "d2" }, o.selector.disks)
    assert.same({ "d3" }, o.selector.exclude)
    assert.same({ "pd-ssd" }, o.selector.types)
    assert.is_true(o.selector.attached)
    assert.equal(5000, o.iops)
    assert.equal(200, o.throughput)
    assert.is_true(o.retain_name)
    assert.is_true(o.keep_snapshots)
    assert.is_false(o.delete_original)
    assert.equal(8, o.max_parallel)
    assert.is_true(o.yes)
    assert.equal("json", o.format)
    assert.equal("ev.jsonl", o.events)
    assert.equal("http://x/compute/v1/", o.endpoint)
  end)

  it("takes project and zone from the environment when opened", function()
    local e = { CLOUDSDK_CORE_PROJECT = "envp", CLOUDSDK_COMPUTE_ZONE = "envz",
                CLOUDSDK_COMPUTE_REGION = "envr" }
    local o = assert(parse("--target-disk-type pd-ssd"))
    assert.is_nil(o.project)
    assert.is_nil(o.zones)
    o = assert(open("--target-disk-type pd-ssd", function(k) return e[k] end))
    assert.equal("envp", o.project)
    assert.same({ "envz" }, o.zones)
    assert.is_nil(o.region)   -- a region is never a default
    o = assert(open("--project p --region r --target-disk-type pd-ssd", function(k) return e[k] end))
    assert.equal("p", o.project)
    assert.is_nil(o.zones)
  end)

  it("rejects what it cannot run, naming the problem", function()
    local cases = {
      { "--project p --zone z --target-disk-type pd-bogus", "unknown disk type 'pd%-bogus'" },
      { "--project p --zone z", "%-%-target%-disk%-type is required" },
      { "--project p --target-disk-type pd-ssd", "%-%-zone or %-%-region" },
      { "--zone z --target-disk-type pd-ssd", "%-%-project is required" },
      { "--project p --zone z --region r --target-disk-type pd-ssd", "exclude each other" },
      { "--project p --zone z --target-disk-type pd-ssd --bogus", "unknown option '%-%-bogus'" },
      { "--project p --zone z --target-disk-type pd-ssd --max-parallel 0", "positive whole number" },
      { "--project p --zone z --target-disk-type pd-ssd --label novalue", "KEY=VALUE" },
      { "--project p --zone z --target-disk-type pd-ssd --machine-type n4-standard-2", "needs %-%-instances" },
      { "--project p --zone z --target-disk-type pd-ssd --instances a --disks b", "cannot be used with %-%-instances" },
      { "--project p --zone z --target-disk-type pd-ssd --iops 5000", "does not take provisioned IOPS" },
      { "--project p --zone z --target-disk-type hyperdisk-extreme --throughput 100", "does not take provisioned throughput" },
      { "--project p --zone z --target-disk-type pd-ssd --storage-pool sp", "only hyperdisk" },
      { "--project p --zone z --target-disk-type pd-ssd --plan svg", "text, json or dot" },
      { "--project p --zone z --target-disk-type pd-ssd --format xml", "text or json" },
      { "--project p --zone z --target-disk-type pd-ssd --attached --unattached", "exclude each other" },
      { "--project p --zone z --target-disk-type pd-ssd --type pd-nope", "unknown disk type 'pd%-nope'" },
      { "--project p --zone z --target-disk-type pd-ssd stray", "unexpected argument 'stray'" },
      { "--project p --zone z --target-disk-type", "needs a value" },
    }
    for _, c in ipairs(cases) do
      local o, err = open(c[1])
      assert.is_nil(o, c[1])
      assert.equal(2, err.exit_code, c[1])
      assert.matches(c[2], err.message, 1)
    end
  end)

  it("gives the same run id to the same command whatever the order of its flags", function()
    local a = assert(parse("--project p --zone b,a --target-disk-type pd-ssd --label x=1 --label y=2 --yes"))
    local b = assert(parse("--label y=2 --target-disk-type pd-ssd --zone a,b --label x=1 --project p --quiet"))
    local c = assert(parse("--project p --zone a,b --target-disk-type pd-balanced --label x=1 --label y=2"))
    assert.equal(select(2, cli.run_stem(a)), select(2, cli.run_stem(b)))
    assert.not_equal(select(2, cli.run_stem(a)), select(2, cli.run_stem(c)))
    assert.matches("^p%-pdssd%-%x+$", (cli.run_stem(a)))
  end)

  it("prints complete help from any directory and exits 0", function()
    local out, _, code = env.run("cd / && " .. env.quote(env.pdlua) .. " migrate.lua --help")
    assert.equal(0, code)
    for _, flag in ipairs { "--project", "--zone", "--region", "--target-disk-type", "--label",
                            "--disks", "--exclude", "--type", "--instances", "--machine-type",
                            "--iops", "--throughput", "--storage-pool", "--kms-key",
                            "--retain-name", "--delete-original", "--keep-snapshots",
                            "--max-parallel", "--dry-run", "--plan", "--yes", "--resume",
                            "--format", "--events", "--endpoint", "--state-dir", "Exit codes" } do
      assert.truthy(out:find(flag, 1, true), flag)
    end
  end)

  it("exits 2 on a usage error, before talking to anything", function()
    local _, err, code = env.pdlua_run("migrate.lua --project p --zone z --target-disk-type pd-nope")
    assert.equal(2, code)
    assert.matches("unknown disk type 'pd%-nope'", err)
    _, err, code = env.pdlua_run("migrate.lua --project p --zone z --target-disk-type pd-ssd " ..
                                 "--resume --state-dir /nonexistent/pdlua-test")
    assert.equal(2, code)
    assert.matches("nothing to resume", err)
  end)
end)
