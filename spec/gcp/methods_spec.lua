-- Every method of the client against pdlua-emu: paths, parameters,
-- bodies, returned resources, list iteration, operations, and the
-- structured errors of the API.
local fx = require "support.gcp"

describe("gcp methods against the emulator", function()
  local emu, c

  setup(function()
    emu = fx.start()
    c = fx.client(emu)
  end)

  teardown(function()
    emu:stop()
  end)

  before_each(function()
    emu:reset()
  end)

  it("zones.list and zones.get", function()
    local names = {}
    for z in c.zones:list{} do names[z.name] = z.status end
    assert.equal("UP", names["us-central1-a"])
    assert.equal("UP", names["us-central1-b"])
    assert.equal("us-central1-b", c.zones:get{zone = "us-central1-b"}.name)
  end)

  it("disk_types and machine_types get and list", function()
    local dt = c.disk_types:get{diskType = "hyperdisk-balanced"}
    assert.equal("compute#diskType", dt.kind)
    assert.equal("hyperdisk-balanced", dt.name)
    local types = {}
    for t in c.disk_types:list{} do types[t.name] = true end
    assert.is_true(types["pd-balanced"] and types["pd-ssd"] and types["hyperdisk-balanced"])
    local mt = c.machine_types:get{machineType = "n2-standard-4"}
    assert.equal(4, mt.guestCpus)
    assert.equal("integer", math.type(mt.guestCpus))
    local n = 0
    for m in c.machine_types:list{filter = 'name = "c4-*"'} do
      assert.matches("^c4%-", m.name)
      n = n + 1
    end
    assert.is_true(n > 0)
  end)

  it("disks.get returns the API's resource, int64 fields as strings", function()
    local d = c.disks:get{disk = "vm-1-data"}
    assert.equal("compute#disk", d.kind)
    assert.equal("100", d.sizeGb)
    assert.equal("READY", d.status)
    assert.matches("/diskTypes/pd%-standard$", d.type)
    assert.matches("/instances/vm%-1$", d.users[1])
    assert.equal("prod", d.labels.env)
    -- the zone can also be given as a URL, as resources carry it
    assert.equal("vm-2", c.disks:get{zone = d.zone:gsub("us%-central1%-a", "us-central1-b"), disk = "vm-2"}.name)
  end)

  it("disks.list filters, and aggregated_list walks every zone", function()
    local got = gcp.collect(c.disks:list{filter = "labels.env = prod"})
    assert.equal(1, #got)
    assert.equal("vm-1-data", got[1].name)
    local seen = {}
    for d, scope in c.disks:aggregated_list{} do seen[d.name] = scope end
    assert.equal("zones/us-central1-a", seen["vm-1-data"])
    assert.equal("zones/us-central1-b", seen["vm-2"])
    assert.equal("zones/us-central1-a", seen["spare"])
    local log = fx.requests(emu, "disks.aggregatedList")
    assert.equal("true", log[#log].query.returnPartialSuccess)
  end)

  it("disks.insert, get while creating, wait, delete", function()
    local op = c.disks:insert{body = {name = "new-1", sizeGb = "20", type = "zones/us-central1-a/diskTypes/pd-balanced",
                                      labels = {}}}
    assert.equal("compute#operation", op.kind)
    assert.equal("insert", op.operationType)
    assert.matches("^[%x%-]+$", op.clientOperationId)
    local done = c:wait(op)
    assert.equal("DONE", done.status)
    assert.is_nil(done.error)
    assert.equal("READY", c.disks:get{disk = "new-1"}.status)
    c:wait(c.disks:delete{disk = "new-1"})
    local err = fx.error_of(c.disks.get, c.disks, {disk = "new-1"})
    assert.equal(404, err.code)
    assert.equal("notFound", err.reason)
    assert.is_false(err.retryable)
    assert.equal("global", err.errors[1].domain)
    assert.equal("disks.get", err.method)
    assert.matches("^notFound %(404%): disks.get: The resource '.*new%-1' was not found$", tostring(err))
  end)

  it("raises the API's errors: alreadyExists, resourceInUseByAnotherResource, invalid", function()
    local err = fx.error_of(c.disks.insert, c.disks, {body = {name = "spare", sizeGb = "10"}})
    assert.equal(409, err.code)
    assert.equal("alreadyExists", err.reason)
    err = fx.error_of(c.disks.delete, c.disks, {disk = "vm-1-data"})
    assert.equal(400, err.code)
    assert.equal("resourceInUseByAnotherResource", err.reason)
    err = fx.error_of(c.disks.insert, c.disks, {body = {name = "Bad_Name", sizeGb = "10"}})
    assert.equal(400, err.code)
    assert.equal(1, err.attempts)
  end)

  it("disks.set_labels replaces the labels using the current fingerprint", function()
    local before = c.disks:get{disk = "spare"}
    c:wait(c.disks:set_labels{disk = "spare", labels = {env = "dev", migrated = "yes"}})
    local after = c.disks:get{disk = "spare"}
    assert.same({env = "dev", migrated = "yes"}, after.labels)
    assert.are_not.equal(before.labelFingerprint, after.labelFingerprint)
    c:wait(c.disks:set_labels{disk = "spare", labels = {}})
    assert.is_nil(c.disks:get{disk = "spare"}.labels)
  end)

  it("disks.set_labels refetches the fingerprint and retries on 412", function()
    local stale = c.disks:get{disk = "spare"}.labelFingerprint
    c:wait(c.disks:set_labels{disk = "spare", labels = {step = "1"}})   -- someone else changes them
    emu:clear_requests()
    local op = c.disks:set_labels{disk = "spare", body = {labels = {step = "2"}, labelFingerprint = stale}}
    c:wait(op)
    assert.same({step = "2"}, c.disks:get{disk = "spare"}.labels)
    local sets = fx.requests(emu, "disks.setLabels")
    assert.equal(2, #sets)
    assert.equal(412, sets[1].status)
    assert.equal(200, sets[2].status)
    assert.equal(1 + 1, #fx.requests(emu, "disks.get"))   -- the refetch, then ours above
  end)

  it("set_labels with precondition = true is a compare-and-set: a stale fingerprint raises 412", function()
    local stale = c.disks:get{disk = "spare"}.labelFingerprint
    c:wait(c.disks:set_labels{disk = "spare", labels = {step = "1"}})
    emu:clear_requests()
    local err = fx.error_of(c.disks.set_labels, c.disks,
      {disk = "spare", precondition = true, body = {labels = {step = "2"}, labelFingerprint = stale}})
    assert.equal(412, err.code)
    assert.equal(1, #fx.requests(emu, "disks.setLabels"))
    assert.equal(0, #fx.requests(emu, "disks.get"))
    assert.same({step = "1"}, c.disks:get{disk = "spare"}.labels)
    -- instances too
    local inst = c.instances:get{instance = "vm-1"}
    c:wait(c.instances:set_labels{instance = "vm-1", precondition = true,
                                  body = {labels = {owner = "a"}, labelFingerprint = inst.labelFingerprint}})
    assert.same({owner = "a"}, c.instances:get{instance = "vm-1"}.labels)
    err = fx.error_of(c.instances.set_labels, c.instances, {instance = "vm-1", precondition = true,
      body = {labels = {owner = "b"}, labelFingerprint = inst.labelFingerprint}})
    assert.equal(412, err.code)
    assert.equal("conditionNotMet", err.reason)
  end)

  it("gives up on 412 only after repeated conflicts, with the API's error", function()
    emu:faults{errors = {["disks.setLabels"] = {["412"] = 1.0}}}
    local err = fx.error_of(c.disks.set_labels, c.disks, {disk = "spare", labels = {a = "b"}})
    assert.equal(412, err.code)
    assert.equal(10, #fx.requests(emu, "disks.setLabels"))
  end)

  it("disks.create_snapshot, snapshots get/list/set_labels/delete (global operations)", function()
    local op = c.disks:create_snapshot{disk = "vm-1-data", body = {name = "snap-1"}, guestFlush = false}
    assert.equal("createSnapshot", op.operationType)
    assert.truthy(op.zone)
    c:wait(op)
    local s = c.snapshots:get{snapshot = "snap-1"}
    assert.equal("READY", s.status)
    assert.equal("100", s.diskSizeGb)
    assert.matches("/disks/vm%-1%-data$", s.sourceDisk)
    local names = {}
    for snap in c.snapshots:list{} do names[#names + 1] = snap.name end
    assert.same({"snap-1"}, names)
    emu:clear_requests()
    local lop = c.snapshots:set_labels{snapshot = "snap-1", labels = {keep = "no"}}
    assert.is_nil(lop.zone)                 -- a global operation
    -- SetLabelsSnapshotRequest has no requestId: none is sent, none taken.
    for _, r in ipairs(fx.requests(emu, "snapshots.setLabels")) do
      assert.is_nil(r.path:find("requestId", 1, true), r.path)
    end
    assert.equal("invalidArgument", fx.error_of(c.snapshots.set_labels, c.snapshots,
      {snapshot = "snap-1", labels = {}, requestId = "x"}).reason)
    c:wait(lop)
    assert.same({keep = "no"}, c.snapshots:get{snapshot = "snap-1"}.labels)
    local gop = c.global_operations:get{operation = lop.name}
    assert.equal("DONE", gop.status)
    assert.equal("DONE", c.global_operations:wait{operation = lop.name}.status)
    c:wait(c.snapshots:delete{snapshot = "snap-1"})
    assert.equal(404, fx.error_of(c.snapshots.get, c.snapshots, {snapshot = "snap-1"}).code)
  end)

  it("snapshots.insert from a disk, then a disk restored from it", function()
    c:wait(c.snapshots:insert{body = {name = "snap-2",
                                      sourceDisk = "projects/" .. emu.project .. "/zones/us-central1-a/disks/spare"}})
    c:wait(c.disks:insert{body = {name = "restored", sourceSnapshot = "global/snapshots/snap-2",
                                  type = "zones/us-central1-a/diskTypes/pd-balanced"}})
    local d = c.disks:get{disk = "restored"}
    assert.matches("/snapshots/snap%-2$", d.sourceSnapshot)
    assert.equal(emu:find("disks", "spare").contentFingerprint, emu:find("disks", "restored").contentFingerprint)
  end)

  it("instances: list, aggregated_list, get, stop, start", function()
    local names = {}
    for i in c.instances:list{} do names[#names + 1] = i.name end
    assert.same({"vm-1"}, names)
    local all = {}
    for i, scope in c.instances:aggregated_list{} do all[i.name] = scope end
    assert.same({["vm-1"] = "zones/us-central1-a", ["vm-2"] = "zones/us-central1-b"}, all)
    local vm = c.instances:get{instance = "vm-1"}
    assert.equal("RUNNING", vm.status)
    assert.equal("data", vm.disks[2].deviceName)
    c:wait(c.instances:stop{instance = "vm-1"})
    assert.equal("TERMINATED", c.instances:get{instance = "vm-1"}.status)
    c:wait(c.instances:start{instance = "vm-1"})
    assert.equal("RUNNING", c.instances:get{instance = "vm-1"}.status)
  end)

  it("instances: detach_disk, attach_disk, set_disk_auto_delete, set_machine_type", function()
    c:wait(c.instances:detach_disk{instance = "vm-1", deviceName = "data"})
    local vm = c.instances:get{instance = "vm-1"}
    assert.equal(1, #vm.disks)
    assert.is_nil(c.disks:get{disk = "vm-1-data"}.users)
    c:wait(c.instances:attach_disk{instance = "vm-1", body = {
      source = "zones/us-central1-a/disks/vm-1-data", deviceName = "data", mode = "READ_WRITE",
      autoDelete = false, boot = false}})
    vm = c.instances:get{instance = "vm-1"}
    assert.equal("data", vm.disks[2].deviceName)
    c:wait(c.instances:set_disk_auto_delete{instance = "vm-1", deviceName = "data", autoDelete = true})
    assert.is_true(c.instances:get{instance = "vm-1"}.disks[2].autoDelete)
    local op = c.instances:set_machine_type{zone = "us-central1-b", instance = "vm-2",
                                            body = {machineType = "zones/us-central1-b/machineTypes/e2-standard-4"}}
    c:wait(op)
    assert.matches("/e2%-standard%-4$", c.instances:get{zone = "us-central1-b", instance = "vm-2"}.machineType)
    local err = fx.error_of(c.instances.detach_disk, c.instances, {instance = "vm-1", deviceName = "vm-1"})
    assert.equal("invalidResourceUsage", err.reason)
  end)

  it("zone_operations get, wait and list", function()
    local op = c.disks:insert{body = {name = "op-1", sizeGb = "10"}}
    local got = c.zone_operations:get{operation = op.name}
    assert.equal(op.name, got.name)
    local done = c.zone_operations:wait{operation = op.name}
    while done.status ~= "DONE" do done = c.zone_operations:wait{operation = op.name} end
    assert.equal("DONE", done.status)
    local found = false
    for o in c.zone_operations:list{} do found = found or o.name == op.name end
    assert.is_true(found)
  end)

  it("a failed operation raises a structured error carrying error.errors[]", function()
    emu:faults{operation_failures = {insert = {rate = 1.0, code = "ZONE_RESOURCE_POOL_EXHAUSTED",
                                               message = "The zone does not have enough resources.", http = 503}}}
    local op = c.disks:insert{body = {name = "doomed", sizeGb = "10"}}
    local err = fx.error_of(c.wait, c, op)
    assert.equal(503, err.code)
    assert.equal("ZONE_RESOURCE_POOL_EXHAUSTED", err.reason)
    assert.equal(op.name, err.operation)
    assert.equal("ZONE_RESOURCE_POOL_EXHAUSTED", err.errors[1].code)
    assert.is_true(err.retryable)
    assert.matches("enough resources", err.message)
    assert.matches("^ZONE_RESOURCE_POOL_EXHAUSTED %(503%): operation ", tostring(err))
    emu:faults{operation_failures = {attachDisk = {rate = 1.0, code = "UNSUPPORTED_OPERATION", message = "too many"}}}
    c:wait(c.instances:detach_disk{instance = "vm-1", deviceName = "data"})
    err = fx.error_of(c.wait, c, c.instances:attach_disk{instance = "vm-1",
      body = {source = "zones/us-central1-a/disks/vm-1-data", deviceName = "data"}})
    assert.equal("UNSUPPORTED_OPERATION", err.reason)
    assert.is_false(err.retryable)
  end)

  it("counts calls, requests and latency per method", function()
    c:reset_stats()
    for _ = 1, 5 do c.disks:get{disk = "spare"} end
    pcall(c.disks.get, c.disks, {disk = "nope"})
    local st = c:stats()
    local m = st.methods["disks.get"]
    assert.equal(6, m.calls)
    assert.equal(6, m.requests)
    assert.equal(1, m.errors)
    assert.equal(0, m.retries)
    assert.is_true(m.p50 > 0 and m.p50 <= m.p99 and m.p99 <= m.max)
    assert.equal(6, st.requests)
    assert.is_true(st.bytes > 0)
  end)
end)

describe("gcp pagination", function()
  local emu, c

  setup(function()
    emu = fx.start{fleet = "gen:1200"}
    c = fx.client(emu, {zone = false})
  end)

  teardown(function()
    emu:stop()
  end)

  it("walks 1,000+ disks through nextPageToken, each exactly once", function()
    local st = emu:state()
    local want, zones = {}, {}
    for _, d in ipairs(st.disks) do
      want[d.zone:match("[^/]+$") .. "/" .. d.name] = true
      zones[d.zone:match("[^/]+$")] = true
    end
    assert.is_true(#st.disks >= 1000)
    -- aggregated, default page size (500)
    local seen, n = {}, 0
    for d, scope in c.disks:aggregated_list{} do
      local key = scope:match("[^/]+$") .. "/" .. d.name
      assert.is_nil(seen[key], key)
      seen[key] = true
      n = n + 1
    end
    assert.equal(#st.disks, n)
    for k in pairs(want) do assert.is_true(seen[k], k) end
    -- zonal lists with small pages
    emu:clear_requests()
    local total, pages = 0, 0
    for z in pairs(zones) do
      local before = #fx.requests(emu, "disks.list")
      local count = 0
      for _ in c.disks:list{zone = z, maxResults = 100} do count = count + 1 end
      pages = pages + (#fx.requests(emu, "disks.list") - before)
      assert.is_true(#fx.requests(emu, "disks.list") - before >= math.ceil(count / 100))
      total = total + count
    end
    assert.equal(#st.disks, total)
    assert.is_true(pages >= 12)
  end)

  it("stops fetching when the loop stops", function()
    emu:clear_requests()
    for _ in c.disks:aggregated_list{maxResults = 10} do break end
    assert.equal(1, #fx.requests(emu, "disks.aggregatedList"))
  end)
end)
