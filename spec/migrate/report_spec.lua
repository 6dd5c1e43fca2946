-- Reports and plans as text and JSON.
local report = require "pdlua.migrate.report"
local json = require "pdlua.json"

local function sample()
  return {
    project = "p", target_type = "pd-ssd",
    disks = {
      { name = "a", zone = "z", instance = "vm", from_type = "pd-standard", to_type = "pd-ssd",
        status = "migrated", new_disk = "a-pdssd", snapshot = "pdlua-a-1", duration_s = 12.5 },
      { name = "b", zone = "z", from_type = "pd-standard", to_type = "pd-ssd",
        status = "failed", error = "undo of detach failed", action = "run the same command again" },
      { name = "c", zone = "z", from_type = "pd-ssd", to_type = "pd-ssd", status = "skipped",
        error = "already pd-ssd" },
    },
    instances = {},
    totals = { disks = 3, migrated = 1, rolled_back = 0, failed = 1, skipped = 1, planned = 0 },
    metrics = { makespan_s = 20, steps = { snapshot = { count = 2, p50 = 3, p95 = 4 } },
                api_calls = 30, api_calls_per_migrated = 30, http_retries = 2, step_retries = 1,
                rollbacks = 1 },
    notes = {},
  }
end

describe("report", function()
  it("computes nearest-rank percentiles", function()
    assert.equal(5, report.percentile({ 9, 1, 5, 3, 7 }, 50))
    assert.equal(9, report.percentile({ 9, 1, 5, 3, 7 }, 95))
    assert.equal(1, report.percentile({ 1 }, 95))
    assert.is_nil(report.percentile({}, 50))
  end)

  it("groups step durations by step name", function()
    local m = report.step_metrics {
      ["snapshot:z/a"] = { state = "succeeded", started = 0, finished = 2 },
      ["snapshot:z/b"] = { state = "succeeded", started = 1, finished = 5 },
      ["create:z/a"] = { state = "failed", started = 2, finished = 3 },
    }
    assert.equal(2, m.snapshot.count)
    assert.equal(2, m.snapshot.p50)
    assert.equal(4, m.snapshot.p95)
    assert.is_nil(m.create)
  end)

  it("renders a readable table with totals, metrics and what to do", function()
    local text = report.text(sample())
    assert.matches("DISK%s+ZONE%s+INSTANCE%s+FROM%s+TO%s+STATUS%s+NEW DISK%s+TIME", text)
    assert.matches("a%s+z%s+vm%s+pd%-standard%s+pd%-ssd%s+migrated%s+a%-pdssd%s+12%.5s", text)
    assert.matches("Totals: 1 migrated, 0 rolled back, 1 failed, 1 skipped, 0 planned %(3 disks%)", text)
    assert.matches("snapshot 3%.0/4%.0", text)
    assert.matches("API calls: 30", text)
    assert.matches("b %(FAILED%): undo of detach failed", text)
    assert.matches("to do: run the same command again", text)
  end)

  it("renders JSON with the per-disk fields", function()
    local t = json.decode(report.json(sample()))
    assert.equal(3, #t.disks)
    for _, f in ipairs { "name", "zone", "instance", "from_type", "to_type", "status", "new_disk",
                         "snapshot", "duration_s" } do
      assert.is_not_nil(t.disks[1][f], f)
    end
    assert.equal("undo of detach failed", t.disks[2].error)
    assert.equal(1, t.totals.migrated)
    assert.equal(30, t.metrics.api_calls)
    assert.matches('"instances": %[%]', report.json(sample()))
  end)

  it("encodes JSON with sorted keys and empty arrays", function()
    assert.equal('{"a":[],"b":{},"c":[1,2],"d":"x\\n"}',
                 json.encode({ b = {}, a = json.array {}, c = { 1, 2 }, d = "x\n" }, { sorted = true }))
  end)
end)
