-- The journal: every line flushed, read back after a crash, last torn
-- line ignored, groups' histories summarised.
local journal = require "pdlua.migrate.journal"

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
end)
