-- Fault injection (POST /emulator/v1/faults): error rates per method,
-- connection resets, hangs, dropped responses, one-shot faults, operation
-- failures, latency multipliers and delays; and the request log.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulator faults", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  it("answers injected HTTP errors with the API's error body, for the method only", function()
    emu:faults{errors = {["disks.get"] = {["503"] = 1}}}
    local status, b = emu:api("GET", "zones/" .. Z .. "/disks/web-1")
    assert.equal(503, status)
    assert.equal(503, b.error.code)
    assert.equal("backendError", b.error.errors[1].reason)
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/instances/web-1")))
    emu:faults{errors = {["compute.disks.*"] = {["429"] = 1}}}
    status, b = emu:api("GET", "zones/" .. Z .. "/disks")
    assert.equal(429, status)
    assert.equal("rateLimitExceeded", b.error.errors[1].reason)
    emu:faults{errors = {["*"] = {["500"] = 1}}}
    assert.equal(500, (emu:api("GET", "zones")))
  end)

  it("applies nothing when a mutation gets an injected error", function()
    emu:faults{errors = {["disks.insert"] = {["500"] = 1}}}
    assert.equal(500, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "e1", sizeGb = 10})))
    emu:faults{}
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/disks/e1")))
  end)

  it("injects errors at about the configured rate, repeatably for a seed", function()
    emu:faults{errors = {["zones.get"] = {["503"] = 0.3}}}
    local function draw()
      local fails = 0
      for _ = 1, 60 do
        if emu:api("GET", "zones/" .. Z) == 503 then fails = fails + 1 end
      end
      return fails
    end
    local a = draw()
    assert.is_true(a > 5 and a < 40, "failures: " .. a)
    emu:reset()
    emu:faults{errors = {["zones.get"] = {["503"] = 0.3}}}
    assert.equal(a, draw())
  end)

  it("resets the connection without answering", function()
    emu:faults{errors = {["disks.get"] = {reset = 1}}}
    local status = emu:api("GET", "zones/" .. Z .. "/disks/web-1")
    assert.equal(0, status)
    local log = emu:requests{api = "disks.get"}
    assert.equal("reset", log[#log].fault)
    assert.equal(0, log[#log].status)
  end)

  it("hangs for hang_seconds, then drops the connection", function()
    emu:faults{hang_seconds = 0.3, once = {{method = "disks.get", action = "hang"}}}
    local t0 = pd.now()
    local status = emu:api("GET", "zones/" .. Z .. "/disks/web-1")
    local dt = pd.now() - t0
    assert.equal(0, status)
    assert.is_true(dt >= 0.25, "hung " .. dt)
    -- a client with a shorter timeout gives up first; the next call is fine
    emu:faults{once = {{method = "disks.get", action = "hang", seconds = 5}}}
    status = emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {timeout = 0.3})
    assert.equal(0, status)
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1")))
  end)

  it("drops the response after applying it; a retry with the requestId gets the same operation", function()
    emu:faults{once = {{method = "disks.insert", name = "dropped", action = "drop_response"}}}
    local q = {requestId = "11111111-2222-4333-8444-555555555555"}
    local status = emu:api("POST", "zones/" .. Z .. "/disks", {name = "dropped", sizeGb = 10}, {query = q})
    assert.equal(0, status)
    local s2, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "dropped", sizeGb = 10}, {query = q})
    assert.equal(200, s2)
    assert.equal("insert", op.operationType)
    emu:wait(op)
    local _, ops = emu:api("GET", "zones/" .. Z .. "/operations", nil, {query = {filter = "operationType = insert"}})
    assert.equal(1, #ops.items)
    local log = emu:requests{api = "disks.insert"}
    assert.equal(2, #log)
    assert.equal("drop_response", log[1].fault)
  end)

  it("matches one-shots by resource name and counts them down", function()
    emu:faults{once = {{method = "disks.insert", name = "target", action = "error", status = 503, count = 2}}}
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "bystander", sizeGb = 10})))
    assert.equal(503, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "target", sizeGb = 10})))
    local _, f = emu:request("GET", emu.url .. "/emulator/v1/faults")
    assert.equal(1, #f.once)
    assert.equal(503, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "target", sizeGb = 10})))
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "target", sizeGb = 10})))
  end)

  it("fails the operation of a one-shot fail_operation with the given code", function()
    emu:faults{once = {{method = "instances.attachDisk", action = "fail_operation",
                        code = "RESOURCE_OPERATION_RATE_EXCEEDED", http = 429, message = "slow down"}}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/instances/web-1/attachDisk",
                          {source = "zones/" .. Z .. "/disks/orphan-1"})
    local done = emu:wait(op)
    assert.equal("RESOURCE_OPERATION_RATE_EXCEEDED", done.error.errors[1].code)
    assert.equal("slow down", done.error.errors[1].message)
    assert.equal(429, done.httpErrorStatusCode)
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/orphan-1")
    assert.is_nil(d.users)
  end)

  it("multiplies operation durations by the latency factors", function()
    local function duration()
      local _, op = emu:api("POST", "zones/" .. Z .. "/instances/web-3/stop")
      local done = emu:wait(op)
      emu:wait((select(2, emu:api("POST", "zones/" .. Z .. "/instances/web-3/start"))))
      return done
    end
    local function secs(ts)
      local h, m, s = ts:match("T(%d+):(%d+):([%d%.]+)")
      return h * 3600 + m * 60 + tonumber(s)
    end
    local a = duration()
    emu:faults{latency = {stop = 10}}
    local b = duration()
    local da = secs(a.endTime) - secs(a.startTime)
    local db = secs(b.endTime) - secs(b.startTime)
    assert.is_true(db > 3 * da, string.format("%.3f vs %.3f", db, da))
  end)

  it("delays a method's answers", function()
    emu:faults{delay = {["zones.get"] = 0.2}}
    local t0 = pd.now()
    assert.equal(200, (emu:api("GET", "zones/" .. Z)))
    assert.is_true(pd.now() - t0 >= 0.2)
  end)

  it("rejects a malformed fault configuration with 400", function()
    for _, bad in ipairs {
      {errors = {["disks.get"] = {["503"] = 2}}},
      {errors = {["disks.get"] = {explode = 0.5}}},
      {once = {{method = "disks.get", action = "explode"}}},
      {once = {{action = "reset"}}},
      {latency = {stop = -1}},
    } do
      local status = emu:request("POST", emu.url .. "/emulator/v1/faults", {body = bad})
      assert.equal(400, status)
    end
  end)

  it("logs every API request with method, path, API name, status and duration", function()
    emu:clear_requests()
    emu:api("GET", "zones/" .. Z .. "/disks/web-1")
    emu:api("GET", "zones/" .. Z .. "/disks/ghost")
    local log, all = emu:requests()
    assert.equal(2, #log)
    assert.equal("GET", log[1].method)
    assert.equal("/compute/v1/projects/demo-project/zones/us-central1-a/disks/web-1", log[1].path)
    assert.equal("disks.get", log[1].api)
    assert.equal(200, log[1].status)
    assert.equal(404, log[2].status)
    assert.is_number(log[1].duration_ms)
    local newer = emu:requests{since = log[1].seq}
    assert.equal(1, #newer)
    assert.equal(all.last, log[2].seq)
  end)

  it("restores the --faults baseline on reset", function()
    local e2 = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json",
                                 args = {"--faults", '{"errors":{"zones.get":{"503":1}}}'}}
    assert.equal(503, (e2:api("GET", "zones/" .. Z)))
    e2:faults{}
    assert.equal(200, (e2:api("GET", "zones/" .. Z)))
    e2:reset()
    assert.equal(503, (e2:api("GET", "zones/" .. Z)))
    e2:stop()
  end)
end)
