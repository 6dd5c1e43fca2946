-- The journal: every line flushed, read back after a crash, last torn
-- line ignored, groups' histories summarised; a write that fails stops it
-- (and says so once); a damaged journal is named, with what is wrong and
-- the command that recovers, by the unit and by `pdlua migrate.lua`.
local journal = require "pdlua.migrate.journal"
local e2e = require "support.e2e"
local env = require "support.env"
local invariants = require "pdlua.invariants"
local json = require "pdlua.json"

local write_file = env.write

local read_file = env.read

-- The lines of a file, each decoded (false where it is not JSON).
local function records(path)
  local out = {}
  for line in (read_file(path) or ""):gmatch("[^\n]+") do
    local ok, rec = pcall(json.decode, line)
    out[#out + 1] = ok and rec or false
  end
  return out
end

local glob = env.glob

local PLAN = '{"type":"plan","plan":{"version":1}}\n'
local TASK_A = '{"type":"task","id":"a","state":"succeeded","group":"g"}\n'
local TASK_B = '{"type":"task","id":"b","state":"succeeded","group":"g"}\n'
local TASK_C = '{"type":"task","id":"c","state":"running","group":"g"}\n'

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

describe("journal", function()
  it("creates its directory and reads back what it wrote, integers as integers", function()
    local dir = tmpdir()
    local path = dir .. "/sub/run.journal.jsonl"
    local j = assert(journal.open(path))
    j:write { type = "plan", plan = { items = { { key = "z/d", new_iops = 3000 } }, version = 1 } }
    j:write { type = "run", event = "started" }
    j:write { type = "task", id = "snapshot:z/d", state = "running", group = "disk/z/d" }
    j:write { type = "task", id = "snapshot:z/d", state = "succeeded", group = "disk/z/d" }
    j:write { type = "fact", key = "z/d", name = "snapshot_id", value = "42" }
    -- Read while still open: each line was flushed as it was written.
    local st = assert(journal.load(path))
    j:close()
    assert.equal(3000, st.plan.items[1].new_iops)
    assert.equal("integer", math.type(st.plan.items[1].new_iops))
    assert.equal("succeeded", st.tasks["snapshot:z/d"].state)
    assert.equal("42", st.facts["z/d"].snapshot_id)
    assert.equal(1, st.runs)
    assert.is_false(st.finished)
    assert.is_true(st.groups["disk/z/d"].started)
    assert.is_nil(st.groups["disk/z/d"].failed)
    os.execute("rm -rf " .. dir)
  end)

  it("ignores a line cut short by a kill", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"type":"plan","plan":{"version":1}}\n{"type":"task","id":"a","state":"succeeded","group":"g"}\n{"type":"task","id":"b","sta')
    f:close()
    local st = assert(journal.load(path))
    assert.equal(1, st.bad_lines)
    assert.equal("succeeded", st.tasks.a.state)
    assert.is_nil(st.tasks.b)
    os.remove(path)
  end)

  it("tells failed, cancelled and undone groups apart, and forgets a group's past when it starts over", function()
    local path = os.tmpname()
    local j = assert(journal.open(path))
    j:write { type = "task", id = "s:1", state = "succeeded", group = "g1" }
    j:write { type = "task", id = "c:1", state = "failed", group = "g1" }
    j:write { type = "task", id = "s:1", state = "rolled_back", group = "g1" }
    j:write { type = "task", id = "s:2", state = "cancelled", group = "g2" }
    j:write { type = "task", id = "s:3", state = "retrying", group = "g3" }
    j:write { type = "task", id = "s:4", state = "failed", group = "g4" }
    j:write { type = "group", key = "g4", event = "restart", generation = 1 }
    j:write { type = "run", event = "finished" }
    j:close()
    local st = journal.load(path)
    assert.is_true(st.groups.g1.failed)
    assert.is_true(st.groups.g2.cancelled)
    assert.is_nil(st.groups.g2.failed)
    assert.is_nil(st.groups.g3.failed)
    assert.is_nil(st.groups.g4.failed)
    assert.equal(1, st.groups.g4.generation)
    assert.is_nil(st.tasks["s:4"])
    assert.is_true(st.finished)
    os.remove(path)
  end)

  it("says so when there is no journal", function()
    local st, err = journal.load("/nonexistent/pdlua/journal")
    assert.is_nil(st)
    assert.matches("no journal", err)
  end)

  it("stops at the first write that fails, remembers why and calls on_failure once", function()
    local f = io.open("/dev/full", "a")
    if not f then
      pending("no /dev/full on this system")
      return
    end
    f:close()
    local calls, seen = 0, nil
    local j = assert(journal.open("/dev/full", { on_failure = function(msg)
      calls = calls + 1
      seen = msg
    end }))
    local ok, err = j:write { type = "plan", plan = { version = 1 } }
    assert.is_nil(ok)
    assert.equal("/dev/full: No space left on device", j.failed)
    assert.equal(j.failed, err)
    assert.is_nil(j:write { type = "run", event = "started" })
    assert.is_nil(j:write { type = "task", id = "a", state = "running" })
    assert.equal(1, calls)
    assert.equal(j.failed, seen)
    assert.equal(0, j.lines)
    local cok, cerr = j:close()
    assert.is_nil(cok)
    assert.equal(j.failed, cerr)
  end)

  it("writes each record whole and synced, and says when all went well", function()
    local path = os.tmpname()
    local j = assert(journal.open(path))
    assert.is_true(j.sync)
    assert.is_true(j:write { type = "plan", plan = { version = 1 } })
    assert.is_true(j:write { type = "run", event = "started" })
    assert.is_true(j:close())
    assert.is_nil(j.failed)
    local recs = records(path)
    assert.equal(2, #recs)
    assert.equal("plan", recs[1].type)
    os.remove(path)
  end)

  it("keeps every line whole when many tasks journal at once (their fsyncs shared)", function()
    if type(pd) ~= "table" or type(pd.workflow) ~= "function" then
      pending("needs the engine")
      return
    end
    local path = os.tmpname()
    local j = assert(journal.open(path))
    assert.is_true(j:write { type = "plan", plan = { version = 1 } })
    local wf = pd.workflow("journal-load")
    for k = 1, 40 do
      wf:task { id = "t" .. k, run = function()
        for i = 1, 20 do
          assert(j:write { type = "task", id = ("t%d:%d"):format(k, i), state = "succeeded", group = "g" .. k })
          if i % 5 == 0 then pd.sleep(0.001) end
        end
      end }
    end
    local res = wf:run { max_parallel = 40, progress = false }
    assert.is_true(res.ok)
    assert.is_true(j:close())
    local st = assert(journal.load(path))
    assert.equal(0, st.bad_lines)
    assert.equal(801, st.lines)
    for k = 1, 40 do assert.equal("succeeded", st.tasks[("t%d:20"):format(k)].state) end
    os.remove(path)
  end)

  describe("damaged", function()
    local dir, path
    before_each(function()
      dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. dir)
      path = dir .. "/run.journal.jsonl"
    end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    it("an empty journal: --resume is refused with the command that recovers; a new run sets it aside", function()
      write_file(path, "")
      local st, notes, err = journal.recover(path, { resume = true })
      assert.is_nil(st)
      assert.equal(0, #notes)
      assert.equal("journal " .. path .. " is empty: run the same command without --resume; it starts over "
                   .. "from what Compute Engine shows (each disk's pdlua labels)", err)
      assert.truthy(journal.exists(path), "a refused --resume leaves the journal where it is")
      st, notes, err = journal.recover(path, {})
      assert.is_nil(st)
      assert.is_nil(err)
      assert.equal(1, #notes)
      assert.matches("journal " .. path:gsub("%p", "%%%0") .. " is empty; it was moved to .*%.broken%-%d+T%d+Z", notes[1])
      assert.is_false(journal.exists(path))
      assert.equal(1, #glob(path .. ".broken-*"))
    end)

    it("a plan line that cannot be read: line 1 and why", function()
      write_file(path, '{"type":"plan","plan":{"vers\n' .. TASK_A .. TASK_B)
      local st, _, err = journal.recover(path, { resume = true })
      assert.is_nil(st)
      assert.matches("^journal " .. path:gsub("%p", "%%%0") .. " has no readable plan %(line 1: not valid JSON", err)
      assert.matches("run the same command without %-%-resume; it starts over from what Compute Engine shows", err)
      -- A record where the plan should be is no plan either.
      write_file(path, TASK_A .. PLAN)
      st, _, err = journal.recover(path, { resume = true })
      assert.is_nil(st)
      assert.matches("has no readable plan %(line 1: a task record where the plan should be%)", err)
      -- A plan cut short by a crash, alone in its journal: the same.
      write_file(path, '{"type":"plan","plan":{"vers')
      st, _, err = journal.recover(path, { resume = true })
      assert.is_nil(st)
      assert.matches("has no readable plan %(line 1:", err)
      -- Without --resume: set aside, a new run starts.
      local notes
      st, notes, err = journal.recover(path, {})
      assert.is_nil(st)
      assert.is_nil(err)
      assert.matches("has no readable plan %(line 1: .*%); it was moved to .*%.broken%-", notes[1])
      assert.is_false(journal.exists(path))
    end)

    it("unreadable lines after the plan: what comes before them is used, the rest ignored, and said", function()
      write_file(path, PLAN .. TASK_A .. "garbage, not JSON\n" .. TASK_B .. TASK_C)
      local st, notes, err = journal.recover(path, { resume = true })
      assert.is_nil(err)
      assert.is_table(st)
      assert.equal("succeeded", st.tasks.a.state)
      assert.is_nil(st.tasks.b)
      assert.is_nil(st.tasks.c)
      assert.equal(1, #notes)
      assert.matches("^journal " .. path:gsub("%p", "%%%0") .. ": line 3 is unreadable %(not valid JSON.*%); "
                     .. "it and the 2 line%(s%) after it were ignored %(the file as it was is .*%.broken%-", notes[1])
      -- The journal goes on from the readable part; the file as it was is kept.
      assert.equal(PLAN .. TASK_A, read_file(path))
      local kept = glob(path .. ".broken-*")
      assert.equal(1, #kept)
      assert.equal(PLAN .. TASK_A .. "garbage, not JSON\n" .. TASK_B .. TASK_C, read_file(kept[1]))
    end)

    it("a last line cut short is dropped without a word, and what comes next starts a line of its own", function()
      write_file(path, PLAN .. TASK_A .. '{"type":"task","id":"b","sta')
      local st, notes, err = journal.recover(path, { resume = true })
      assert.is_nil(err)
      assert.equal(0, #notes)
      assert.equal("succeeded", st.tasks.a.state)
      assert.equal(0, #glob(path .. ".broken-*"))
      local j = assert(journal.open(path))
      assert.is_true(j:write { type = "task", id = "b", state = "succeeded", group = "g" })
      j:close()
      st = assert(journal.load(path))
      assert.equal(0, st.bad_lines)
      assert.is_nil(st.problem)
      assert.equal("succeeded", st.tasks.b.state)
      -- A last record that lost only its newline is kept, and ended.
      write_file(path, PLAN .. TASK_A:sub(1, -2))
      st, notes = journal.recover(path, {})
      assert.equal(0, #notes)
      assert.equal("succeeded", st.tasks.a.state)
      assert.equal(PLAN .. TASK_A, read_file(path))
    end)

    it("a dry run reads a damaged journal and changes nothing", function()
      write_file(path, PLAN .. "garbage\n" .. TASK_A)
      local st, notes, err = journal.recover(path, { read_only = true })
      assert.is_table(st)
      assert.is_nil(err)
      assert.equal(0, #notes)
      assert.equal(PLAN .. "garbage\n" .. TASK_A, read_file(path))
    end)
  end)
end)

if not e2e.ready() then
  describe("a damaged journal, end to end", function()
    pending("needs the engine and the Compute Engine client")
  end)
  return
end

describe("a damaged journal, end to end", function()
  local FLEET = {
    instances = {
      { name = "j1", disks = {
        { name = "j1-boot", boot = true, autoDelete = true, sizeGb = 20 },
        { name = "j1-data", deviceName = "data", type = "pd-standard", sizeGb = 40 } } },
      { name = "j2", status = "TERMINATED", disks = { { name = "j2-boot", boot = true, sizeGb = 20 } } },
    },
    disks = { { name = "ju1", type = "pd-standard", sizeGb = 50 }, { name = "ju2", sizeGb = 10 } },
  }
  local ALL = { "j1-boot", "j1-data", "j2-boot", "ju1", "ju2" }
  local ARGS = "--target-disk-type pd-ssd --yes"
  local emu
  setup(function() emu = e2e.start(e2e.fleet(FLEET)) end)
  teardown(function() if emu then emu:stop() end end)

  -- A run killed with -9 once its journal has `at` lines.
  local function killed_run(at)
    emu:load_fleet(e2e.fleet(FLEET))
    local before = emu:state()
    local dir = e2e.state_dir()
    local p = e2e.spawn(emu, ARGS, dir)
    e2e.wait_journal(dir, at, p.pid)
    assert.is_true(e2e.kill(p.pid, "KILL"))
    local path = assert(glob(dir .. "/*.journal.jsonl")[1], "no journal in " .. dir)
    return dir, path, before
  end

  -- Replaces line n of a file with `text` (a line of its own).
  local function replace_line(path, n, text)
    local lines = {}
    for l in read_file(path):gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.is_true(#lines >= n, ("the journal has %d lines, not %d"):format(#lines, n))
    lines[n] = text
    write_file(path, table.concat(lines, "\n") .. "\n")
  end

  local FRESH = ": run the same command without %-%-resume; it starts over from what Compute Engine shows "
    .. "%(each disk's pdlua labels%)"

  it("empty: --resume names it and the command that recovers; the command itself sets it aside and finishes", function()
    local dir, path, before = killed_run(30)
    write_file(path, "")
    local res = e2e.run(emu, ARGS .. " --resume", { state_dir = dir })
    assert.equal(2, res.code, res.err)
    assert.matches("^migrate%.lua: journal " .. path:gsub("%p", "%%%0") .. " is empty" .. FRESH .. "\n$", res.err)
    res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    assert.matches("journal " .. path:gsub("%p", "%%%0") .. " is empty; it was moved to "
                   .. path:gsub("%p", "%%%0") .. "%.broken%-", res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
    assert.equal(1, #glob(path .. ".broken-*"))
    assert.equal("plan", records(path)[1].type)
  end)

  it("no readable plan: --resume names the line; the command itself starts over from the labels", function()
    local dir, path, before = killed_run(30)
    replace_line(path, 1, read_file(path):sub(1, 200))
    local res = e2e.run(emu, ARGS .. " --resume", { state_dir = dir })
    assert.equal(2, res.code, res.err)
    assert.matches("^migrate%.lua: journal " .. path:gsub("%p", "%%%0")
                   .. " has no readable plan %(line 1: not valid JSON [^\n]*%)" .. FRESH .. "\n$", res.err)
    res = e2e.run(emu, ARGS, { state_dir = dir })
    assert.equal(0, res.code, res.err)
    assert.matches("has no readable plan %(line 1: .*%); it was moved to ", res.err)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
  end)

  it("unreadable lines in the middle: --resume goes on from before them, and says which were ignored", function()
    local dir, path, before = killed_run(40)
    local total = #records(path)
    replace_line(path, 20, '{"type":"task","id":"verify:us-cen')
    local res = e2e.run(emu, ARGS .. " --resume", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    local said = {}
    for l in res.err:gmatch("[^\n]+") do
      if l:find("unreadable", 1, true) then said[#said + 1] = l end
    end
    assert.equal(1, #said, res.err)
    assert.matches("^migrate%.lua: journal " .. path:gsub("%p", "%%%0") .. ": line 20 is unreadable %(not valid JSON"
                   .. ".*%); it and the " .. (total - 20) .. " line%(s%) after it were ignored %(the file as it was is "
                   .. path:gsub("%p", "%%%0") .. "%.broken%-", said[1])
    e2e.expect_status(res, "migrated", ALL)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
    for i, rec in ipairs(records(path)) do assert.is_table(rec, "line " .. i .. " of the journal") end
  end)

  it("a last line cut short by a kill is normal: not a word about it, and the journal stays clean", function()
    local dir, path, before = killed_run(30)
    local f = assert(io.open(path, "ab"))
    f:write('{"type":"task","id":"snapshot:us-central1-a/ju1","sta')
    f:close()
    local res = e2e.run(emu, ARGS .. " --resume", { state_dir = dir })
    assert.equal(0, res.code, res.err)
    assert.is_nil(res.err:find("unreadable", 1, true), res.err)
    assert.is_nil(res.err:find("broken", 1, true), res.err)
    e2e.expect_status(res, "migrated", ALL)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = ALL })
    for i, rec in ipairs(records(path)) do assert.is_table(rec, "line " .. i .. " of the journal") end
    assert.equal(0, #glob(path .. ".broken-*"))
  end)
end)
