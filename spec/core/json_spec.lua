-- pdlua.json, the one JSON codec of pdlua and pdlua-emu: what is decoded
-- as an array stays an array when it is written again, wherever it is
-- written (reports, plans, events, journal records, request bodies, the
-- emulator's responses); integers stay integers; reports and plans are
-- written indented with sorted keys.
local json = require "pdlua.json"
local env = require "support.env"

local read, tmpname = env.read_file, env.tmp_path

local BODY = '{"name":"d1","users":[],"labels":{},"sizeGb":"10","iops":3000}'

describe("pdlua.json", function()
  it("writes an array decoded from [] back as []", function()
    assert.equal('{"users":[]}', json.encode(json.decode('{"users":[]}')))
    local v = json.decode(BODY)
    assert.is_true(json.is_array(v.users))
    assert.matches('"users":%[%]', json.encode(v))
    assert.matches('"labels":{}', json.encode(v))
  end)

  it("keeps integers as integers", function()
    local v = json.decode(BODY)
    assert.equal("integer", math.type(v.iops))
    assert.equal("10", v.sizeGb)
    assert.equal('{"iops":3000}', json.encode { iops = v.iops })
    assert.equal("integer", math.type(json.decode("[9007199254740993]")[1]))
    assert.equal('[9007199254740993]', json.encode(json.decode("[9007199254740993]")))
  end)

  it("writes sorted, indented output", function()
    local v = { b = 1, a = json.array {}, c = { 2, { z = true, y = "x" } }, d = {} }
    assert.equal('{\n  "a": [],\n  "b": 1,\n  "c": [\n    2,\n    {\n      "y": "x",\n'
                 .. '      "z": true\n    }\n  ],\n  "d": {}\n}',
                 json.encode(v, { pretty = true, sorted = true }))
    assert.equal('{"a":[],"b":1,"c":[2,{"y":"x","z":true}],"d":{}}',
                 json.encode(v, { sorted = true }))
  end)

  it("has one null and one array marker, shared with the client", function()
    local gcp = require "pdlua.gcp"
    assert.equal(json.null, json.decode("[null]")[1])
    assert.equal(json.null, gcp.null)
    assert.equal(json.encode, gcp.json_encode)
    assert.equal(json.decode, gcp.json_decode)
    assert.equal(getmetatable(json.array {}), getmetatable(gcp.array {}))
    assert.equal(getmetatable(json.array {}), getmetatable(json.decode("[]")))
  end)

  it("raises a pdlua error on bad input, or returns nil and a message", function()
    local ok, err = pcall(json.decode, "{")
    assert.is_false(ok)
    assert.equal("malformedResponse", err.reason)
    local v, msg = json.decode_safe("{")
    assert.is_nil(v)
    assert.matches("malformed JSON at byte", msg)
    ok, err = pcall(json.encode, { 1, x = 2 })
    assert.is_false(ok)
    assert.equal("invalidArgument", err.reason)
  end)

  it("keeps decoded arrays in reports and plans", function()
    local report = require "pdlua.migrate.report"
    local rep = json.decode('{"project":"p","target_type":"pd-ssd","disks":[],"instances":[],'
      .. '"notes":[],"totals":{"disks":0},"metrics":{"steps":{}},"extra":{"users":[]}}')
    local text = report.json(rep)
    assert.matches('"users": %[%]', text)
    assert.equal(text, report.json(json.decode(text)))
    local plan = report.plan_json {
      project = "p", target_type = "pd-ssd", zones = json.decode('["z"]'), items = {},
      group_order = {}, groups = {},
      options = json.decode('{"types":[],"zones":["z"]}'), problems = {}, notes = {},
    }
    assert.matches('"types": %[%]', plan)
    assert.equal(plan, json.encode(json.decode(plan), { pretty = true, sorted = true }) .. "\n")
  end)

  it("keeps decoded arrays and integers in journal records", function()
    local journal = require "pdlua.migrate.journal"
    local path = tmpname()
    local j = assert(journal.open(path))
    j:write { type = "plan", plan = json.decode('{"version":1,"items":[],"zones":[]}') }
    j:write(json.decode('{"type":"fact","key":"z/d","name":"users","value":[]}'))
    j:close()
    assert.matches('"items":%[%]', read(path))
    assert.matches('"value":%[%]', read(path))
    local st = assert(journal.load(path))
    assert.equal("integer", math.type(st.plan.version))
    assert.equal('[]', json.encode(st.plan.items))
    os.remove(path)
  end)

  it("keeps decoded arrays in events", function()
    local events = require "pdlua.events"
    local path = tmpname()
    local w = assert(events.open(path, { run = "r1" }))
    w:run_finished { ok = true, exit_code = 0, makespan = 1,
                     counts = json.decode('{"succeeded":2,"users":[]}') }
    assert(w:close())
    local line = read(path)
    assert.matches('"users":%[%]', line)
    assert.equal(2, json.decode(line).counts.succeeded)
    assert.equal("integer", math.type(json.decode(line).counts.succeeded))
    os.remove(path)
  end)

  it("keeps decoded arrays in the emulator's bodies", function()
    local ejson = require "emu.json"
    local v = assert(ejson.decode('{"users":[],"labels":null,"zones":["a",null]}'))
    ejson.clean(v)
    assert.is_nil(v.labels)
    assert.equal('{"users":[],"zones":["a"]}', json.encode(v, { sorted = true }))
    assert.equal(ejson.encode, json.encode)
    local none, err = ejson.decode("")
    assert.is_nil(none)
    assert.equal("empty body", err)
  end)
end)
