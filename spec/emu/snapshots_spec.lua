-- snapshots (insert, get, list, delete, setLabels; disks.createSnapshot),
-- restoring disks from them, and the content fingerprint that proves the
-- data made the trip.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulated snapshots", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function reason(b) return b.error.errors[1].reason end

  it("snapshots a disk with createSnapshot: a zonal operation on the disk", function()
    local status, op = emu:api("POST", "zones/" .. Z .. "/disks/db-1-data/createSnapshot",
                               {name = "snap-a", labels = {k = "v"}}, {query = {guestFlush = "false"}})
    assert.equal(200, status)
    assert.equal("createSnapshot", op.operationType)
    assert.matches("/zones/us%-central1%-a/disks/db%-1%-data$", op.targetLink)
    assert.matches("/zones/us%-central1%-a$", op.zone)
    local _, s = emu:api("GET", "global/snapshots/snap-a")
    assert.is_true(s.status == "CREATING" or s.status == "UPLOADING" or s.status == "READY")
    emu:wait(op)
    _, s = emu:api("GET", "global/snapshots/snap-a")
    assert.equal("READY", s.status)
    assert.equal("compute#snapshot", s.kind)
    assert.equal("500", s.diskSizeGb)
    assert.matches("/disks/db%-1%-data$", s.sourceDisk)
    assert.is_true(tonumber(s.storageBytes) > 0)
    assert.equal("UP_TO_DATE", s.storageBytesStatus)
    assert.equal("v", s.labels.k)
  end)

  it("goes CREATING, UPLOADING, READY", function()
    emu:faults{latency = {createSnapshot = 2}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/db-1-data/createSnapshot", {name = "snap-b"})
    local seen = {}
    for _ = 1, 500 do
      local _, s = emu:api("GET", "global/snapshots/snap-b")
      seen[s.status] = true
      if s.status == "READY" then break end
      pd.sleep(0.005)
    end
    assert.is_true(seen.UPLOADING)
    assert.is_true(seen.READY)
    emu:wait(op)
  end)

  it("inserts a snapshot with snapshots.insert: a global operation", function()
    local status, op = emu:api("POST", "global/snapshots",
                               {name = "snap-g", sourceDisk = "https://www.googleapis.com/compute/v1/projects/demo-project/zones/" .. Z .. "/disks/web-1"})
    assert.equal(200, status, op.error and op.error.message)
    assert.equal("insert", op.operationType)
    assert.is_nil(op.zone)
    assert.matches("/global/operations/", op.selfLink)
    assert.matches("/global/snapshots/snap%-g$", op.targetLink)
    emu:wait(op)
    local _, l = emu:api("GET", "global/snapshots", nil, {query = {filter = "name = snap-*"}})
    assert.equal(1, #l.items)
    assert.equal("compute#snapshotList", l.kind)
    assert.equal(400, (emu:api("POST", "global/snapshots", {name = "no-source"})))
  end)

  it("refuses a snapshot name already used, and a missing disk", function()
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks/web-1/createSnapshot", {name = "db-1-data-nightly"})
    assert.equal(409, status)
    assert.equal("alreadyExists", reason(b))
    status, b = emu:api("POST", "zones/" .. Z .. "/disks/ghost/createSnapshot", {name = "x"})
    assert.equal(404, status)
  end)

  it("restores a disk of another type from a READY snapshot, carrying the content", function()
    local before = emu:find("disks", "db-1-data")
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/db-1-data/createSnapshot", {name = "mig"})
    emu:wait(op)
    local snap = emu:find("snapshots", "mig")
    assert.equal(before.contentFingerprint, snap.contentFingerprint)
    local status, op2 = emu:api("POST", "zones/" .. Z .. "/disks", {
      name = "db-1-data-hd", sourceSnapshot = "global/snapshots/mig", sizeGb = "500",
      type = "zones/" .. Z .. "/diskTypes/hyperdisk-balanced", provisionedIops = 6000})
    assert.equal(200, status, op2.error and op2.error.message)
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/db-1-data-hd")
    assert.is_true(d.status == "RESTORING" or d.status == "READY")
    emu:wait(op2)
    local restored = emu:find("disks", "db-1-data-hd")
    assert.equal("READY", restored.status)
    assert.equal(before.contentFingerprint, restored.contentFingerprint)
    assert.matches("/global/snapshots/mig$", restored.sourceSnapshot)
    assert.equal(snap.id, restored.sourceSnapshotId)
    assert.equal("6000", restored.provisionedIops)
  end)

  it("gives blank disks fresh content and writes change it", function()
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "blank-1", sizeGb = 10})
    emu:wait(op)
    local _, op2 = emu:api("POST", "zones/" .. Z .. "/disks", {name = "blank-2", sizeGb = 10})
    emu:wait(op2)
    local a, b = emu:find("disks", "blank-1"), emu:find("disks", "blank-2")
    assert.are_not.equal(a.contentFingerprint, b.contentFingerprint)
    local before = emu:find("disks", "web-1-data").contentFingerprint
    local w = emu:write(Z, "web-1-data")
    assert.are_not.equal(before, w.contentFingerprint)
    assert.equal(w.contentFingerprint, emu:find("disks", "web-1-data").contentFingerprint)
  end)

  it("keeps fleet fingerprints stable across resets and runs with the same seed", function()
    local a = emu:find("disks", "web-2").contentFingerprint
    emu:reset()
    assert.equal(a, emu:find("disks", "web-2").contentFingerprint)
    local other = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
    local b = other:find("disks", "web-2")
    other:stop()
    assert.equal(a, b.contentFingerprint)
  end)

  it("refuses to restore from a snapshot that is not READY", function()
    emu:faults{latency = {createSnapshot = 1000}}
    emu:api("POST", "zones/" .. Z .. "/disks/web-1/createSnapshot", {name = "slow-snap"})
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks", {name = "too-early", sourceSnapshot = "global/snapshots/slow-snap"})
    assert.equal(400, status)
    assert.equal("resourceNotReady", reason(b))
    assert.equal("The resource 'projects/demo-project/global/snapshots/slow-snap' is not ready", b.error.message)
  end)

  it("refuses to delete a disk while its snapshot is still CREATING", function()
    emu:faults{latency = {createSnapshot = 1000}}
    emu:api("POST", "zones/" .. Z .. "/disks/orphan-1/createSnapshot", {name = "busy"})
    local status, b = emu:api("DELETE", "zones/" .. Z .. "/disks/orphan-1")
    assert.equal(400, status)
    assert.equal("resourceNotReady", reason(b))
  end)

  it("refuses a disk smaller than its snapshot", function()
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks",
                              {name = "small", sourceSnapshot = "global/snapshots/db-1-data-nightly", sizeGb = 100})
    assert.equal(400, status)
    assert.equal("invalid", reason(b))
    assert.matches("cannot be smaller than the snapshot size", b.error.message)
    status = emu:api("POST", "zones/" .. Z .. "/disks", {name = "x", sourceSnapshot = "global/snapshots/ghost"})
    assert.equal(404, status)
  end)

  it("defaults a restored disk's size to the snapshot's", function()
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks",
                          {name = "same-size", sourceSnapshot = "global/snapshots/db-1-data-nightly",
                           type = "zones/" .. Z .. "/diskTypes/pd-balanced"})
    emu:wait(op)
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/same-size")
    assert.equal("500", d.sizeGb)
  end)

  it("deletes a snapshot with a global operation and sets its labels", function()
    local _, s = emu:api("GET", "global/snapshots/db-1-data-nightly")
    local status, op = emu:api("POST", "global/snapshots/db-1-data-nightly/setLabels",
                               {labels = {keep = "no"}, labelFingerprint = s.labelFingerprint})
    assert.equal(200, status)
    assert.equal("setLabels", op.operationType)
    emu:wait(op)
    _, s = emu:api("GET", "global/snapshots/db-1-data-nightly")
    assert.same({keep = "no"}, s.labels)
    assert.equal(412, (emu:api("POST", "global/snapshots/db-1-data-nightly/setLabels",
                               {labels = {}, labelFingerprint = "stale"})))
    status, op = emu:api("DELETE", "global/snapshots/db-1-data-nightly")
    assert.equal(200, status)
    assert.equal("delete", op.operationType)
    emu:wait(op)
    assert.equal(404, (emu:api("GET", "global/snapshots/db-1-data-nightly")))
  end)
end)
