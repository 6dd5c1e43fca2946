-- zoneOperations and globalOperations: get, list, wait (long-poll that may
-- return early), delete; requestId replay; failed operations' error shape.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulated operations", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function uuid(n) return string.format("0f6c1d2e-3a4b-4c5d-8e9f-%012d", n) end

  it("gets an operation by name and follows its selfLink", function()
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "o1", sizeGb = 10})
    local status, got = emu:api("GET", "zones/" .. Z .. "/operations/" .. op.name)
    assert.equal(200, status)
    assert.equal(op.id, got.id)
    local s2, again = emu:api("GET", op.selfLink)
    assert.equal(200, s2)
    assert.equal(op.name, again.name)
    assert.equal("string", type(op.id))
    assert.equal("string", type(op.targetId))
    assert.matches("^operation%-%d+%-%x+%-%x+%-%x+$", op.name)
    assert.equal("user@example.com", op.user)
    assert.is_string(op.insertTime)
  end)

  it("answers 404 for an unknown operation", function()
    local status, b = emu:api("GET", "zones/" .. Z .. "/operations/operation-nope")
    assert.equal(404, status)
    assert.equal("notFound", b.error.errors[1].reason)
    assert.equal(404, (emu:api("POST", "global/operations/operation-nope/wait")))
  end)

  it("waits until DONE, with start and end times in order", function()
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "o2", sizeGb = 10})
    local status, done = emu:api("POST", "zones/" .. Z .. "/operations/" .. op.name .. "/wait")
    assert.equal(200, status)
    assert.equal("DONE", done.status)
    assert.equal(100, done.progress)
    assert.is_true(done.insertTime <= done.startTime)
    assert.is_true(done.startTime <= done.endTime)
  end)

  it("returns from wait before DONE after about two minutes (scaled)", function()
    -- scale 0.001: the wait limit is 0.12 s; this operation takes ~35 s
    emu:faults{latency = {createSnapshot = 100}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/web-1/createSnapshot", {name = "long"})
    local t0 = pd.now()
    local status, got = emu:api("POST", "zones/" .. Z .. "/operations/" .. op.name .. "/wait")
    local dt = pd.now() - t0
    assert.equal(200, status)
    assert.are_not.equal("DONE", got.status)
    assert.is_true(dt >= 0.1, "returned after " .. dt)
    assert.is_true(dt < 10, "returned after " .. dt)
  end)

  it("waits on global operations", function()
    local _, op = emu:api("POST", "global/snapshots", {name = "g1", sourceDisk = "zones/" .. Z .. "/disks/web-1"})
    local status, done = emu:api("POST", "global/operations/" .. op.name .. "/wait")
    assert.equal(200, status)
    assert.equal("DONE", done.status)
    local _, l = emu:api("GET", "global/operations")
    assert.equal("compute#operationList", l.kind)
    assert.equal(1, #l.items)
    local s2, got = emu:api("GET", "global/operations/" .. op.name)
    assert.equal(200, s2)
    assert.equal(op.id, got.id)
    assert.equal(200, (emu:api("DELETE", "global/operations/" .. op.name)))
    assert.equal(404, (emu:api("GET", "global/operations/" .. op.name)))
  end)

  it("lists a zone's operations, filtered by status and type", function()
    local _, a = emu:api("POST", "zones/" .. Z .. "/disks", {name = "o3", sizeGb = 10})
    emu:faults{latency = {stop = 1000}}
    local _, b = emu:api("POST", "zones/" .. Z .. "/instances/web-1/stop")
    emu:wait(a)
    local _, l = emu:api("GET", "zones/" .. Z .. "/operations", nil, {query = {filter = "status != DONE"}})
    assert.equal(1, #l.items)
    assert.equal(b.name, l.items[1].name)
    _, l = emu:api("GET", "zones/" .. Z .. "/operations", nil, {query = {filter = "operationType = insert"}})
    assert.equal(1, #l.items)
    assert.equal(a.name, l.items[1].name)
  end)

  it("deletes an operation record", function()
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "o4", sizeGb = 10})
    emu:wait(op)
    assert.equal(200, (emu:api("DELETE", "zones/" .. Z .. "/operations/" .. op.name)))
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/operations/" .. op.name)))
  end)

  it("returns the same operation for a repeated requestId, without doing it twice", function()
    local q = {requestId = uuid(1)}
    local _, first = emu:api("POST", "zones/" .. Z .. "/disks", {name = "once", sizeGb = 10}, {query = q})
    assert.equal(uuid(1), first.clientOperationId)
    emu:wait(first)
    local status, second = emu:api("POST", "zones/" .. Z .. "/disks", {name = "once", sizeGb = 10}, {query = q})
    assert.equal(200, status)
    assert.equal(first.name, second.name)
    assert.equal("DONE", second.status)
    local inserts = emu:requests{api = "disks.insert"}
    assert.equal(2, #inserts)
    -- a new id for the same name is a new request: alreadyExists
    status = emu:api("POST", "zones/" .. Z .. "/disks", {name = "once", sizeGb = 10}, {query = {requestId = uuid(2)}})
    assert.equal(409, status)
  end)

  it("rejects a requestId that is not a UUID, or the zero UUID", function()
    assert.equal(400, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "r", sizeGb = 10},
                               {query = {requestId = "not-a-uuid"}})))
    assert.equal(400, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "r", sizeGb = 10},
                               {query = {requestId = "00000000-0000-0000-0000-000000000000"}})))
  end)

  it("reports a failed operation the way the real API does, and undoes its effect", function()
    emu:faults{operation_failures = {insert = 1}}
    local status, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "doomed", sizeGb = 10})
    assert.equal(200, status)
    local done = emu:wait(op)
    assert.equal("DONE", done.status)
    assert.equal("ZONE_RESOURCE_POOL_EXHAUSTED", done.error.errors[1].code)
    assert.is_string(done.error.errors[1].message)
    assert.is_nil(done.error.errors[1].reason)
    assert.equal(503, done.httpErrorStatusCode)
    assert.equal("SERVICE UNAVAILABLE", done.httpErrorMessage)
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/disks/doomed")))
  end)

  it("keeps an instance running when its stop operation fails", function()
    emu:faults{operation_failures = {stop = {rate = 1, code = "INTERNAL_ERROR", http = 500}}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/instances/web-1/stop")
    local done = emu:wait(op)
    assert.equal("INTERNAL_ERROR", done.error.errors[1].code)
    local _, i = emu:api("GET", "zones/" .. Z .. "/instances/web-1")
    assert.equal("RUNNING", i.status)
  end)

  it("fails an attach when the machine has no room left for disks", function()
    local fleet = {project = "p", instances = {{name = "tiny", zone = Z, machineType = "e2-micro", disks = {}}},
                   disks = {}}
    for k = 1, 17 do
      fleet.disks[k] = {name = "d" .. k, zone = Z, type = "pd-standard", sizeGb = 10}
      if k <= 16 then fleet.instances[1].disks[k] = {source = "d" .. k, deviceName = "d" .. k} end
    end
    emu:load_fleet(fleet)
    local save = emu.project
    emu.project = "p"
    local _, op = emu:api("POST", "zones/" .. Z .. "/instances/tiny/attachDisk", {source = "zones/" .. Z .. "/disks/d17"})
    local done = emu:wait(op)
    emu.project = save
    assert.equal("UNSUPPORTED_OPERATION", done.error.errors[1].code)
    emu:load_fleet(emu_support.json.decode(io.open(env.root .. "/examples/fleets/demo.json"):read("a")))
  end)
end)

describe("emulated operations for generated REST clients", function()
  it("encodes Operation.status as its enum number when asked with $alt=json;enum-encoding=int", function()
    local emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
    local q = {["$alt"] = "json;enum-encoding=int"}
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "gapic", sizeGb = 10}, {query = q})
    assert.equal("number", type(op.status))
    local _, done = emu:api("POST", "zones/" .. Z .. "/operations/" .. op.name .. "/wait", nil, {query = q})
    assert.equal(2104194, done.status)   -- DONE in compute.proto
    local _, l = emu:api("GET", "zones/" .. Z .. "/operations", nil, {query = q})
    assert.equal(2104194, l.items[1].status)
    local _, plain = emu:api("GET", "zones/" .. Z .. "/operations/" .. op.name)
    assert.equal("DONE", plain.status)
    emu:stop()
  end)
end)
