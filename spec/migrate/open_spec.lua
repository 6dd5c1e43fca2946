-- pdlua.migrate.open, in this process: the plan made once, rendered as
-- text, JSON and dot; a run that journals, reports and saves its report;
-- errors returned, not raised; old journals read with today's names.
local migrate = require "pdlua.migrate"
local journal = require "pdlua.migrate.journal"
local e2e = require "support.e2e"
local env = require "support.env"
local json = require "pdlua.json"

if not e2e.ready() then
  describe("pdlua.migrate.open", function() pending("needs the engine and the Compute Engine client") end)
  return
end

local read = env.read

describe("pdlua.migrate.open", function()
  local emu, client, dir
  setup(function()
    emu = e2e.start()
    client = gcp.client { project = e2e.PROJECT, endpoint = emu.endpoint, qps = 1000,
                          credentials = { access_token = "spec-token" } }
  end)
  teardown(function() if emu then emu:stop() end end)
  before_each(function() dir = e2e.state_dir() end)
  after_each(function() os.execute("rm -rf " .. env.quote(dir)) end)

  local function argv(extra)
    local a = { "--project", e2e.PROJECT, "--zone", e2e.ZONE, "--target-disk-type", "pd-ssd",
                "--state-dir", dir, "--quiet" }
    for _, x in ipairs(extra or {}) do a[#a + 1] = x end
    return a
  end

  it("plans once, renders the plan, runs it and reports, as the command does", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "a" }, { name = "b", type = "pd-ssd" } } })
    local m = assert(migrate.open(argv(), { client = client }))
    assert.matches("^e2e%-project%-pdssd%-%x+$", m.stem)
    assert.equal(dir .. "/" .. m.stem .. ".journal.jsonl", m.journal_path)
    assert.equal("flag", m.source.project)

    local none, err = m:report()
    assert.is_nil(none)
    assert.matches("has not run", err.message)

    local plan = assert(m:plan())
    local function last() return select(2, emu:requests()).last end
    local seen = last()
    assert.is_number(seen)
    assert.equal(plan, m:plan())                       -- made once
    assert.equal(seen, last())
    assert.equal("pd-ssd", plan.items[1].target_type)
    assert.is_nil(plan.items[1].to_type)
    assert.matches("a%s+us%-central1%-a%s+%-%s+pd%-balanced%s+10 GB%s+%-> a%-pdssd %(pd%-ssd%)", m:show())
    local pj = json.decode(m:show("json"))
    assert.equal("pd-ssd", pj.disks[1].to_type)        -- the plan JSON's field name
    assert.matches("^digraph", m:dot())
    assert.equal(m:dot(), m:show("dot"))

    local result = assert(m:run { command = { "migrate.lua", "spec" } })
    assert.equal(0, result.exit_code)
    assert.is_true(result.ok)
    assert.equal(m.report_path, result.report_file)
    assert.equal(read(m.report_path), m:report("json"))
    assert.matches("Totals: 1 migrated, 0 rolled back, 0 failed, 1 skipped", m:report("text"))
    local first = json.decode(read(m.journal_path):match("^[^\n]+"))
    assert.same({ "migrate.lua", "spec" }, first.command)
    assert.equal("pd-ssd", first.plan.items[1].target_type)
    local again, aerr = m:run()
    assert.is_nil(again)
    assert.matches("has run", aerr.message)
  end)

  it("returns errors with the command's exit code instead of raising them", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "a" } } })
    local m, err = migrate.open(argv { "--max-parallel", "0" }, { client = client })
    assert.is_nil(m)
    assert.equal(2, err.exit_code)
    assert.is_true(err.usage)
    assert.matches("positive whole number", err.message)

    m = assert(migrate.open(argv { "--disks", "nope", "--dry-run" }, { client = client }))
    local plan
    plan, err = m:plan()
    assert.is_nil(plan)
    assert.equal(2, err.exit_code)
    assert.matches("disk 'nope' not found in us%-central1%-a %(nothing started%)", err.message)

    m = assert(migrate.open(argv { "--dry-run" }, { client = client }))
    local result
    result, err = m:run()
    assert.is_nil(result)
    assert.matches("a dry run changes nothing", err.message)
    assert.is_nil(io.open(m.journal_path))             -- a dry run writes nothing
  end)

  it("reads a journal whose plan items still say to_type", function()
    local path = dir .. "/old.journal.jsonl"
    os.execute("mkdir -p " .. env.quote(dir))
    local f = assert(io.open(path, "w"))
    f:write(json.encode { type = "plan", plan = { run_id = "r", items = { { key = "z/d", to_type = "pd-ssd" } },
                                                   groups = {}, group_order = {} } }, "\n")
    f:close()
    local st = assert(journal.load(path))
    assert.equal("pd-ssd", st.plan.items[1].target_type)
    assert.is_nil(st.plan.items[1].to_type)
  end)
end)
