-- instances: list, aggregatedList, get, stop/start life cycle, attachDisk,
-- detachDisk, setDiskAutoDelete, setMachineType, and the machine-series
-- rules for disk types.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulated instances", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function reason(b) return b.error.errors[1].reason end
  local function inst(name, zone) return select(2, emu:api("GET", "zones/" .. (zone or Z) .. "/instances/" .. name)) end
  local function post(name, verb, body, query, zone)
    return emu:api("POST", "zones/" .. (zone or Z) .. "/instances/" .. name .. "/" .. verb, body, {query = query})
  end
  local function run(name, verb, body, query, zone)
    local status, op = post(name, verb, body, query, zone)
    assert.equal(200, status, op.error and op.error.message)
    return emu:wait(op)
  end

  it("gets an instance with its attached disks", function()
    local i = inst("db-1")
    assert.equal("compute#instance", i.kind)
    assert.equal("RUNNING", i.status)
    assert.matches("/machineTypes/n2%-highmem%-16$", i.machineType)
    assert.equal(3, #i.disks)
    local boot = i.disks[1]
    assert.is_true(boot.boot)
    assert.equal(0, boot.index)
    assert.equal("db-1", boot.deviceName)
    assert.equal("READ_WRITE", boot.mode)
    assert.is_true(boot.autoDelete)
    assert.equal("PERSISTENT", boot.type)
    assert.equal("50", boot.diskSizeGb)
    assert.matches("/disks/db%-1$", boot.source)
    assert.equal("pgdata", i.disks[2].deviceName)
    assert.is_false(i.disks[2].autoDelete)
  end)

  it("lists and aggregates instances", function()
    local _, l = emu:api("GET", "zones/" .. Z .. "/instances")
    assert.equal("compute#instanceList", l.kind)
    local _, a = emu:api("GET", "aggregated/instances")
    local n = 0
    for _, b in pairs(a.items) do n = n + #(b.instances or {}) end
    assert.equal(20, n)
    local _, f = emu:api("GET", "aggregated/instances", nil, {query = {filter = "status = TERMINATED"}})
    local stopped = {}
    for _, b in pairs(f.items) do
      for _, i in ipairs(b.instances or {}) do stopped[#stopped + 1] = i.name end
    end
    table.sort(stopped)
    assert.same({"batch-3", "db-4", "web-5", "web-6"}, stopped)
  end)

  it("stops (RUNNING, STOPPING, TERMINATED) and starts (STAGING, RUNNING)", function()
    emu:faults{latency = {stop = 20, start = 20}}
    local status, op = post("web-1", "stop")
    assert.equal(200, status)
    assert.equal("stop", op.operationType)
    local seen = {}
    for _ = 1, 400 do
      local s = inst("web-1").status
      seen[s] = true
      if s == "TERMINATED" then break end
      pd.sleep(0.005)
    end
    assert.is_true(seen.STOPPING)
    assert.is_true(seen.TERMINATED)
    local i = inst("web-1")
    assert.is_string(i.lastStopTimestamp)
    _, op = post("web-1", "start")
    seen = {}
    for _ = 1, 400 do
      local s = inst("web-1").status
      seen[s] = true
      if s == "RUNNING" then break end
      pd.sleep(0.005)
    end
    assert.is_true(seen.STAGING)
    assert.is_true(seen.RUNNING)
    assert.is_string(inst("web-1").lastStartTimestamp)
    emu:wait(op)
  end)

  it("runs an instance's operations one after another", function()
    emu:faults{latency = {stop = 30}}
    local _, stop = post("web-1", "stop")
    local _, auto = post("web-1", "setDiskAutoDelete", nil, {autoDelete = "false", deviceName = "web-1"})
    assert.equal("PENDING", auto.status)
    local a = emu:wait(auto)
    local s = emu:wait(stop)
    assert.is_true(a.startTime >= s.endTime)
  end)

  it("detaches a data disk from a running instance and attaches it elsewhere", function()
    local op = run("web-1", "detachDisk", nil, {deviceName = "data"})
    assert.equal("detachDisk", op.operationType)
    local i = inst("web-1")
    for _, d in ipairs(i.disks) do assert.are_not.equal("data", d.deviceName) end
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/web-1-data")
    assert.is_nil(d.users)
    assert.is_string(d.lastDetachTimestamp)
    op = run("web-3", "attachDisk", {source = "zones/" .. Z .. "/disks/web-1-data", deviceName = "extra",
                                     autoDelete = true})
    local found
    for _, a in ipairs(inst("web-3").disks) do
      if a.deviceName == "extra" then found = a end
    end
    assert.truthy(found)
    assert.is_true(found.autoDelete)
    assert.equal("READ_WRITE", found.mode)
    _, d = emu:api("GET", "zones/" .. Z .. "/disks/web-1-data")
    assert.matches("/instances/web%-3$", d.users[1])
    assert.is_string(d.lastAttachTimestamp)
  end)

  it("names an attachment persistent-disk-N when no deviceName is given", function()
    run("legacy-1", "attachDisk", {source = "projects/demo-project/zones/" .. Z .. "/disks/orphan-1"})
    local names = {}
    for _, a in ipairs(inst("legacy-1").disks) do names[a.deviceName] = a.index end
    assert.equal(4, names["persistent-disk-4"])
  end)

  it("refuses to detach a boot disk from a running instance", function()
    local status, b = post("web-1", "detachDisk", nil, {deviceName = "web-1"})
    assert.equal(400, status)
    assert.equal("invalidResourceUsage", reason(b))
    -- the real message wraps the reason (litmuschaos/chaos-charts#562,
    -- GoogleCloudPlatform/cluster-toolkit#1366)
    assert.equal("Invalid resource usage: 'To detach the boot disk, the instance must be in TERMINATED state.'.",
                 b.error.message)
    assert.equal(b.error.message, b.error.errors[1].message)
  end)

  it("swaps a boot disk on a stopped instance", function()
    run("web-5", "detachDisk", nil, {deviceName = "web-5"})
    run("web-5", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-2", deviceName = "web-5",
                                boot = true, autoDelete = true})
    local i = inst("web-5")
    assert.is_true(i.disks[1].boot)
    assert.equal(0, i.disks[1].index)
    assert.matches("/disks/orphan%-2$", i.disks[1].source)
  end)

  it("refuses a second boot disk and a boot attach while running", function()
    local status, b = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-1", boot = true})
    assert.equal(400, status)
    assert.equal("invalid", reason(b))
    run("web-1", "stop")
    run("web-1", "detachDisk", nil, {deviceName = "web-1"})
    run("web-1", "start")
    status, b = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-1", boot = true})
    assert.equal(400, status)
    assert.equal("invalidResourceUsage", reason(b))
  end)

  it("refuses a duplicate deviceName", function()
    local status, b = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-1", deviceName = "data"})
    assert.equal(400, status)
    assert.equal("invalid", reason(b))
    assert.matches("device name 'data'", b.error.message)
  end)

  it("fails the attach operation of a disk in use read-write elsewhere, allows read-only sharing", function()
    -- The request is accepted; the operation fails, as GKE's attach errors
    -- show ("googleapi: Error 400: RESOURCE_IN_USE_BY_ANOTHER_RESOURCE - The
    -- disk resource '...' is already being used by '...'") and
    -- cloudfoundry/bosh-google-cpi-release#280 ("Google Operation ...
    -- finished with an error: The disk resource ... is already being used by").
    local status, op = post("web-3", "attachDisk", {source = "zones/" .. Z .. "/disks/web-1-data"})
    assert.equal(200, status)
    op = emu:wait(op)
    assert.equal("DONE", op.status)
    assert.equal(400, op.httpErrorStatusCode)
    assert.equal("BAD REQUEST", op.httpErrorMessage)
    assert.equal("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", op.error.errors[1].code)
    assert.equal("The disk resource 'projects/demo-project/zones/us-central1-a/disks/web-1-data' is already " ..
                 "being used by 'projects/demo-project/zones/us-central1-a/instances/web-1'",
                 op.error.errors[1].message)
    for _, a in ipairs(inst("web-3").disks) do assert.not_matches("/disks/web%-1%-data$", a.source) end
    -- attaching again to the instance that holds it fails the same way
    _, op = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/web-1-data", deviceName = "again"})
    op = emu:wait(op)
    assert.equal("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", op.error.errors[1].code)
    local _, shared = emu:api("GET", "zones/" .. Z .. "/disks/shared-assets")
    assert.equal(2, #shared.users)
    run("bastion-1", "attachDisk", {source = "zones/" .. Z .. "/disks/shared-assets", mode = "READ_ONLY"})
    _, shared = emu:api("GET", "zones/" .. Z .. "/disks/shared-assets")
    assert.equal(3, #shared.users)
  end)

  it("fails the second of two attaches of one disk made at once", function()
    local _, op1 = post("web-3", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-1"})
    local _, op2 = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/orphan-1"})
    op1, op2 = emu:wait(op1), emu:wait(op2)
    assert.is_nil(op1.error)
    assert.equal("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", op2.error.errors[1].code)
    assert.matches("used by 'projects/demo%-project/zones/us%-central1%-a/instances/web%-3'$",
                   op2.error.errors[1].message)
  end)

  it("refuses a Hyperdisk attached read-only with badRequest", function()
    -- google/cloud-forensics-utils#530: "hyperdisk-balanced disk type cannot
    -- be attached in read-only mode." (reason badRequest)
    local status, b = post("batch-1", "attachDisk", {source = "zones/" .. Z .. "/disks/ml-dataset",
                                                     mode = "READ_ONLY"})
    assert.equal(400, status)
    assert.equal("badRequest", reason(b))
    assert.equal("hyperdisk-balanced disk type cannot be attached in read-only mode.", b.error.message)
  end)

  it("refuses a disk from another zone, a missing disk and a missing source", function()
    local status, b = post("web-1", "attachDisk", {source = "zones/us-central1-b/disks/orphan-3"})
    assert.equal(400, status)
    status, b = post("web-1", "attachDisk", {source = "zones/" .. Z .. "/disks/ghost"})
    assert.equal(404, status)
    assert.equal("notFound", reason(b))
    status, b = post("web-1", "attachDisk", {})
    assert.equal(400, status)
    assert.equal("required", reason(b))
    status, b = post("ghost", "stop")
    assert.equal(404, status)
  end)

  it("refuses hyperdisk-balanced on a series that cannot take it", function()
    local status, b = post("legacy-1", "attachDisk", {source = "zones/" .. Z .. "/disks/ml-dataset"})
    assert.equal(400, status)
    assert.equal("badRequest", reason(b))
    assert.equal("hyperdisk-balanced disk type cannot be used by n1-standard-4 machine type.", b.error.message)
  end)

  it("refuses pd-* on a Hyperdisk-only series", function()
    local status, b = post("new-1", "attachDisk", {source = "zones/us-central1-b/disks/orphan-4"}, nil,
                           "us-central1-b")
    assert.equal(400, status)
    assert.equal("badRequest", reason(b))
    assert.equal("[pd-standard, n4-standard-4] features are not compatible for creating instance",
                 b.error.message)
  end)

  it("accepts hyperdisk on C3, which takes both", function()
    run("batch-1", "attachDisk", {source = "zones/" .. Z .. "/disks/ml-dataset"})
  end)

  it("sets autoDelete of an attachment", function()
    run("db-1", "setDiskAutoDelete", nil, {autoDelete = "true", deviceName = "pgdata"})
    assert.is_true(inst("db-1").disks[2].autoDelete)
    local status, b = post("db-1", "setDiskAutoDelete", nil, {autoDelete = "true", deviceName = "nope"})
    assert.equal(400, status)
    assert.equal("invalid", reason(b))
    status, b = post("db-1", "setDiskAutoDelete", nil, {deviceName = "pgdata"})
    assert.equal(400, status)
    assert.equal("required", reason(b))
  end)

  it("changes the machine type of a stopped instance only, within the series rules", function()
    local status, b = post("web-1", "setMachineType", {machineType = "zones/" .. Z .. "/machineTypes/n2-standard-4"})
    assert.equal(400, status)
    assert.equal("invalidResourceUsage", reason(b))
    -- the reason text clients match ("Instance is starting or running.",
    -- googleapis/google-cloud-node's VM.resize), in the invalidResourceUsage wrapper
    assert.equal("Invalid resource usage: 'Instance is starting or running.'.", b.error.message)
    run("web-5", "setMachineType", {machineType = "zones/us-central1-a/machineTypes/n2-standard-4"})
    assert.matches("/n2%-standard%-4$", inst("web-5").machineType)
    status, b = post("web-5", "setMachineType", {machineType = "zones/" .. Z .. "/machineTypes/n4-standard-4"})
    assert.equal(400, status)
    assert.equal("badRequest", reason(b))
    status, b = post("web-5", "setMachineType", {machineType = "zones/" .. Z .. "/machineTypes/n9-huge-1"})
    assert.equal(400, status)
    assert.equal("invalid", reason(b))
  end)

  it("serves zones, disk types and machine types", function()
    local _, zl = emu:api("GET", "zones")
    assert.equal("compute#zoneList", zl.kind)
    assert.is_true(#zl.items >= 20)
    local _, z = emu:api("GET", "zones/" .. Z)
    assert.equal("UP", z.status)
    assert.matches("/regions/us%-central1$", z.region)
    local _, tl = emu:api("GET", "zones/" .. Z .. "/diskTypes")
    local names = {}
    for _, t in ipairs(tl.items) do names[t.name] = t end
    for _, n in ipairs {"pd-standard", "pd-balanced", "pd-ssd", "pd-extreme", "hyperdisk-balanced",
                        "hyperdisk-extreme", "hyperdisk-throughput"} do
      assert.truthy(names[n], n)
    end
    assert.equal("4GB-65536GB", names["hyperdisk-balanced"].validDiskSize)
    local _, ml = emu:api("GET", "zones/" .. Z .. "/machineTypes", nil, {query = {filter = "name = c4-standard-*"}})
    assert.is_true(#ml.items >= 5)
    local _, mt = emu:api("GET", "zones/" .. Z .. "/machineTypes/n2-standard-16")
    assert.equal(16, mt.guestCpus)
    assert.equal(65536, mt.memoryMb)
    local _, custom = emu:api("GET", "zones/" .. Z .. "/machineTypes/n2-custom-4-16384")
    assert.equal(4, custom.guestCpus)
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/machineTypes/zz-top-1")))
    assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/diskTypes/pd-nope")))
  end)
end)
