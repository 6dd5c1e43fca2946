-- Quotas: read and write requests per window and operations in flight,
-- answered with 403 rateLimitExceeded as the real API does.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulator quotas", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function()
    emu:reset()
    emu:quota{read_per_minute = 0, write_per_minute = 0, concurrent_operations = 500, window_seconds = 60}
  end)

  it("limits read requests per window, then refills", function()
    emu:quota{read_per_minute = 5, window_seconds = 1}
    local _, q = emu:request("GET", emu.url .. "/emulator/v1/quota")
    assert.equal(5, q.read_per_minute)
    local _, health = emu:request("GET", emu.url .. "/emulator/v1/health")
    q.project_number = health.project_number
    -- 12 requests span at most two windows: at least 2 are refused
    local allowed, refused, body = 0, 0, nil
    for _ = 1, 12 do
      local status, b = emu:api("GET", "zones/" .. Z .. "/disks/web-1")
      if status == 200 then allowed = allowed + 1 else
        assert.equal(403, status)
        refused, body = refused + 1, b
      end
    end
    assert.is_true(refused >= 2 and allowed >= 5, allowed .. " allowed, " .. refused .. " refused")
    assert.equal("rateLimitExceeded", body.error.errors[1].reason)
    assert.equal("usageLimits", body.error.errors[1].domain)
    -- zonal methods count against the region's quota, with the real text
    -- (scylladb/scylla-cluster-tests#7940) and ErrorInfo metadata
    -- (GoogleCloudPlatform/marketing-analytics-jumpstart#163)
    assert.equal("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute " ..
                 "per region' of service 'compute.googleapis.com' for consumer 'project_number:" ..
                 q.project_number .. "'.", body.error.message)
    local info = body.error.details[1]
    assert.equal("type.googleapis.com/google.rpc.ErrorInfo", info["@type"])
    assert.equal("RATE_LIMIT_EXCEEDED", info.reason)
    assert.equal("googleapis.com", info.domain)
    assert.same({service = "compute.googleapis.com", consumer = "projects/" .. q.project_number,
                 quota_metric = "compute.googleapis.com/read_requests_per_region",
                 quota_limit = "ReadRequestsPerMinutePerProjectPerRegion", quota_limit_value = "5",
                 quota_location = "us-central1", quota_unit = "1/min/{project}/{region}"}, info.metadata)
    assert.equal("type.googleapis.com/google.rpc.Help", body.error.details[2]["@type"])
    pd.sleep(1.05)
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1")))
  end)

  it("counts writes separately from reads", function()
    emu:quota{write_per_minute = 2}
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "q1", sizeGb = 10})))
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "q2", sizeGb = 10})))
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks", {name = "q3", sizeGb = 10})
    assert.equal(403, status)
    assert.matches("^Quota exceeded for quota metric 'Mutation requests' and limit 'Mutation requests " ..
                   "per minute per region'", b.error.message)
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1")))
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/disks/q3")))
    -- per region: us-central1 is used up, europe-west1 is not
    assert.equal(200, (emu:api("POST", "zones/europe-west1-b/disks", {name = "q4", sizeGb = 10})))
  end)

  it("names the global quota for global methods", function()
    emu:quota{read_per_minute = 1}
    assert.equal(200, (emu:api("GET", "global/snapshots")))
    local status, b = emu:api("GET", "global/snapshots")
    assert.equal(403, status)
    assert.matches("and limit 'Read requests per minute' of service", b.error.message)
    assert.equal("global", b.error.details[1].metadata.quota_location)
    assert.equal("compute.googleapis.com/read_requests", b.error.details[1].metadata.quota_metric)
  end)

  it("limits operations in flight", function()
    emu:faults{latency = {insert = 1000}}
    emu:quota{concurrent_operations = 2}
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "c1", sizeGb = 10})))
    assert.equal(200, (emu:api("POST", "zones/" .. Z .. "/disks", {name = "c2", sizeGb = 10})))
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks", {name = "c3", sizeGb = 10})
    assert.equal(403, status)
    assert.equal("rateLimitExceeded", b.error.errors[1].reason)
    -- the body Compute Engine sends (podman-container-tools/podman#28212)
    assert.equal("Rate Limit Exceeded", b.error.message)
    assert.equal("Rate Limit Exceeded", b.error.errors[1].message)
    assert.equal("usageLimits", b.error.errors[1].domain)
    assert.is_nil(b.error.status)
    assert.equal("CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", b.error.details[1].reason)
    assert.equal("compute.googleapis.com", b.error.details[1].domain)
    assert.equal("us-central1", b.error.details[1].metadata.location)
    assert.equal("PROJECT", b.error.details[1].metadata.containerType)
    assert.matches("^Quota on concurrent operations exceeded for project %d+ in us%-central1%.$",
                   b.error.details[2].message)
    -- counted per region: another region still has room
    assert.equal(200, (emu:api("POST", "zones/europe-west1-b/disks", {name = "c4", sizeGb = 10})))
    emu:faults{}
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1")))
  end)

  it("takes limits from flags", function()
    local e2 = emu_support.start{args = {"--read-quota", "1", "--quota-window", "60"}}
    local a = e2:api("GET", "zones")
    local b = e2:api("GET", "zones")
    e2:stop()
    assert.equal(200, a)
    assert.equal(403, b)
  end)
end)
