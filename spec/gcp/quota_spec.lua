-- Client-side quota: the request rate limiter holds its rate with 32
-- threads competing, and the cap on operations in flight is never exceeded
-- (the emulator, set to the same cap, never has to refuse one). Also: one
-- connection per thread, reused.
local fx = require "support.gcp"

-- Seconds since the epoch's day start from the log's "YYYY-MM-DDThh:mm:ss.mmm".
local function seconds(iso)
  local d, h, m, sec = iso:match("^%d+%-%d+%-(%d+)T(%d+):(%d+):([%d%.]+)")
  return tonumber(d) * 86400 + tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(sec)
end

describe("gcp client-side quota", function()
  local emu

  setup(function()
    emu = fx.start()
  end)

  teardown(function()
    emu:stop()
  end)

  before_each(function()
    emu:reset()
  end)

  it("holds the configured rate (within 10 %) with 32 threads", function()
    local qps = 25
    local c = fx.client(emu, {qps = qps, burst = 1})
    emu:clear_requests()
    local res = gcp.core._run_threads(32, function()
      for _ = 1, 3 do c.disks:get{disk = "spare"} end
      return true
    end)
    for i = 1, 32 do assert.is_true(res[i].ok, tostring(res[i].error)) end
    -- the rate the server saw: arrivals over the span between the first and the last
    local log = fx.requests(emu, "disks.get")
    assert.equal(96, #log)
    local first, last = math.huge, -math.huge
    for _, r in ipairs(log) do
      first = math.min(first, seconds(r.time))
      last = math.max(last, seconds(r.time))
    end
    local rate = (#log - 1) / (last - first)
    assert.is_true(math.abs(rate - qps) <= 0.1 * qps, ("rate %.2f/s for %d/s"):format(rate, qps))
    assert.is_true(c:stats().limiter_wait > 0)
  end)

  it("never has more operations in flight than max_in_flight_ops", function()
    emu:quota{concurrent_operations = 2}    -- the emulator refuses a third with 403
    local c = fx.client(emu, {max_in_flight_ops = 2})
    local peak = 0
    local res = gcp.core._run_threads(6, function(i)
      local op = c.disks:insert{body = {name = "cap-" .. i, sizeGb = "10"}}
      peak = math.max(peak, c:stats().ops_in_flight)
      c:wait(op)
      return true
    end)
    emu:quota{concurrent_operations = 500}
    for i = 1, 6 do assert.is_true(res[i].ok, tostring(res[i].error)) end
    assert.is_true(peak <= 2 and peak >= 1, "peak " .. peak)
    for _, r in ipairs(fx.requests(emu, "disks.insert")) do assert.equal(200, r.status) end
    assert.equal(0, c:stats().ops_in_flight)
  end)

  it("gives a slot back when the mutation fails or is already done", function()
    local c = fx.client(emu, {max_in_flight_ops = 1})
    for _ = 1, 3 do pcall(c.disks.insert, c.disks, {body = {name = "spare", sizeGb = "10"}}) end
    assert.equal(0, c:stats().ops_in_flight)
    local op = c.disks:insert{body = {name = "fresh", sizeGb = "10"}}
    assert.equal(1, c:stats().ops_in_flight)
    c.zone_operations:get{operation = op.name}
    c:wait(op)
    assert.equal(0, c:stats().ops_in_flight)
  end)

  it("a mutation waiting for a slot can be cancelled", function()
    local c = fx.client(emu, {max_in_flight_ops = 1})
    c.disks:insert{body = {name = "holder", sizeGb = "10"}}    -- nobody waits: holds the slot
    local res = gcp.core._run_threads(1, function()
      return c.disks:insert{body = {name = "blocked", sizeGb = "10"}}
    end, {timeout = 0.3})
    assert.equal("timeout", res[1].error.reason)
    assert.matches("operation slot", res[1].error.message)
  end)

  it("opens one connection per thread and reuses it", function()
    local c = fx.client(emu)
    gcp.core._run_threads(8, function()
      for _ = 1, 20 do c.disks:get{disk = "spare"} end
      return true
    end)
    local st = c:stats()
    assert.equal(160, st.requests)
    assert.equal(8, st.connections)
  end)
end)
