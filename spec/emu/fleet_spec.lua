-- Fleets: the native format's checks, gcloud's JSON (disks list and
-- instances list), merging files, loading at run time, and the generator.
local env = require "support.env"
local emu_support = require "support.emu"
local json = require "pdlua.json"
local util = require "luassert.util"

local G = "https://www.googleapis.com/compute/v1/projects/rehearsal-prj"

local gcloud_disks = {
  {kind = "compute#disk", id = "1111111111111111111", name = "app-1", sizeGb = "20", status = "READY",
   creationTimestamp = "2023-04-01T10:00:00.000-07:00", labelFingerprint = "42WmSpB8rSM=",
   selfLink = G .. "/zones/europe-west4-a/disks/app-1", zone = G .. "/zones/europe-west4-a",
   type = G .. "/zones/europe-west4-a/diskTypes/pd-balanced", users = {G .. "/zones/europe-west4-a/instances/app-1"},
   sourceImage = "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20240110",
   guestOsFeatures = {{type = "UEFI_COMPATIBLE"}, {type = "VIRTIO_SCSI_MULTIQUEUE"}},
   licenses = {"https://www.googleapis.com/compute/v1/projects/debian-cloud/global/licenses/debian-12-bookworm"},
   physicalBlockSizeBytes = "4096", architecture = "X86_64"},
  {kind = "compute#disk", id = "2222222222222222222", name = "app-1-data", sizeGb = "300", status = "READY",
   selfLink = G .. "/zones/europe-west4-a/disks/app-1-data", zone = G .. "/zones/europe-west4-a",
   type = G .. "/zones/europe-west4-a/diskTypes/pd-ssd", labels = {env = "prod"},
   users = {G .. "/zones/europe-west4-a/instances/app-1"}},
  {kind = "compute#disk", id = "3333333333333333333", name = "loose", sizeGb = "100", status = "READY",
   selfLink = G .. "/zones/europe-west4-b/disks/loose", zone = G .. "/zones/europe-west4-b",
   type = G .. "/zones/europe-west4-b/diskTypes/hyperdisk-balanced", provisionedIops = "4000",
   provisionedThroughput = "200"},
  {kind = "compute#disk", id = "5555555555555555555", name = "regional", sizeGb = "200", status = "READY",
   selfLink = G .. "/regions/europe-west4/disks/regional", region = G .. "/regions/europe-west4",
   replicaZones = {G .. "/zones/europe-west4-a", G .. "/zones/europe-west4-b"},
   type = G .. "/regions/europe-west4/diskTypes/pd-balanced"},
}

local gcloud_instances = {
  {kind = "compute#instance", id = "4444444444444444444", name = "app-1", status = "STOPPING",
   machineType = G .. "/zones/europe-west4-a/machineTypes/n2-standard-4", zone = G .. "/zones/europe-west4-a",
   selfLink = G .. "/zones/europe-west4-a/instances/app-1", labels = {role = "app"},
   networkInterfaces = {{name = "nic0", networkIP = "10.164.0.7"}},
   disks = {
     {kind = "compute#attachedDisk", type = "PERSISTENT", mode = "READ_WRITE", boot = true, autoDelete = true,
      deviceName = "persistent-disk-0", index = 0, interface = "SCSI", diskSizeGb = "20",
      source = G .. "/zones/europe-west4-a/disks/app-1"},
     {kind = "compute#attachedDisk", type = "PERSISTENT", mode = "READ_WRITE", boot = false, autoDelete = false,
      deviceName = "data", index = 1, interface = "SCSI", diskSizeGb = "300",
      source = G .. "/zones/europe-west4-a/disks/app-1-data"},
     {kind = "compute#attachedDisk", type = "SCRATCH", mode = "READ_WRITE", deviceName = "local-ssd-0",
      index = 2, interface = "NVME", diskSizeGb = "375"},
   }},
}

local function tmpjson(doc)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(json.encode(doc))
  f:close()
  return path
end

describe("emulator fleets", function()
  it("loads what gcloud compute disks/instances list --format=json print", function()
    local d, i = tmpjson(gcloud_disks), tmpjson(gcloud_instances)
    local emu = emu_support.start{args = {"--fleet", d, "--fleet", i}}
    os.remove(d)
    os.remove(i)
    assert.equal("rehearsal-prj", emu.project)
    local _, inst = emu:api("GET", "zones/europe-west4-a/instances/app-1")
    assert.equal("4444444444444444444", inst.id)
    assert.equal("TERMINATED", inst.status)
    assert.equal(2, #inst.disks)
    assert.equal("persistent-disk-0", inst.disks[1].deviceName)
    assert.is_true(inst.disks[1].boot)
    assert.equal("data", inst.disks[2].deviceName)
    assert.is_false(inst.disks[2].autoDelete)
    assert.equal("10.164.0.7", inst.networkInterfaces[1].networkIP)
    local _, boot = emu:api("GET", "zones/europe-west4-a/disks/app-1")
    assert.equal("1111111111111111111", boot.id)
    assert.equal("2023-04-01T10:00:00.000-07:00", boot.creationTimestamp)
    assert.equal("UEFI_COMPATIBLE", boot.guestOsFeatures[1].type)
    assert.matches("/instances/app%-1$", boot.users[1])
    local _, loose = emu:api("GET", "zones/europe-west4-b/disks/loose")
    assert.equal("4000", loose.provisionedIops)
    assert.is_nil(loose.users)
    assert.equal(3, #emu:state().disks)   -- the regional disk is skipped, with a warning
    local _, err = emu:stop()
    assert.matches("skipping regional disk 'regional'", err)
  end)

  it("checks a fleet for states the real API could never hold", function()
    local bad = {
      {{instances = {{name = "a", machineType = "n4-standard-4", disks = {{name = "a", type = "pd-ssd", boot = true}}}}},
       "features are not compatible"},
      {{disks = {{name = "x"}, {name = "x"}}}, "declared twice"},
      {{instances = {{name = "a", disks = {{name = "a", boot = true}, {name = "b", boot = true}}}}}, "2 boot disks"},
      {{instances = {{name = "a", disks = {{name = "a", deviceName = "d"}, {name = "b", deviceName = "d"}}}}},
       "device name 'd' is used twice"},
      {{disks = {{name = "s"}}, instances = {{name = "a", disks = {{source = "s"}}}, {name = "b", disks = {{source = "s"}}}}},
       "already attached read%-write"},
      {{disks = {{name = "t", type = "pd-imaginary"}}}, "unknown disk type"},
    }
    for _, c in ipairs(bad) do
      local path = tmpjson(c[1])
      local _, err, code = env.run(env.quote(env.emu) .. " --port 0 --fleet " .. env.quote(path))
      os.remove(path)
      assert.equal(2, code, err)
      assert.matches(c[2], err)
    end
  end)

  it("generates the same fleet for the same seed, with the requested disk count", function()
    local a = env.run(env.quote(env.emu) .. " --generate 500 --seed 7")
    local b = env.run(env.quote(env.emu) .. " --generate 500 --seed 7")
    local c = env.run(env.quote(env.emu) .. " --generate 500 --seed 8")
    -- same content (key order in the JSON text may differ)
    local doc = json.decode(a)
    assert.is_true(util.deepcompare(doc, json.decode(b)), "same seed, different fleets")
    assert.is_false(util.deepcompare(doc, json.decode(c)), "different seeds, same fleet")
    local n = #doc.disks
    local stopped = 0
    for _, i in ipairs(doc.instances) do
      n = n + #i.disks
      if i.status == "TERMINATED" then stopped = stopped + 1 end
    end
    assert.equal(500, n)
    assert.is_true(#doc.disks >= 40)
    assert.is_true(stopped > 0 and stopped < #doc.instances)
  end)

  it("serves a generated 10,000-disk fleet", function()
    local emu = emu_support.start{fleet = "gen:10000"}
    local _, l = emu:api("GET", "aggregated/disks", nil, {query = {maxResults = 500}})
    local n = 0
    for _, b in pairs(l.items) do n = n + #(b.disks or {}) end
    assert.equal(500, n)
    assert.is_string(l.nextPageToken)
    local st = emu:state()
    assert.equal(10000, #st.disks)
    emu:stop()
  end)

  it("loads a fleet at run time and resets to it", function()
    local emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
    local r = emu:load_fleet{project = "small", zone = "us-east1-b",
                             instances = {{name = "one", disks = {{name = "one", boot = true}}}}}
    assert.equal(1, r.disks)
    assert.equal(1, r.instances)
    emu.project = "small"
    local _, op = emu:api("POST", "zones/us-east1-b/disks", {name = "two", sizeGb = 10})
    emu:wait(op)
    emu:reset()
    assert.equal(1, #emu:state().disks)
    local status = emu:request("POST", emu.url .. "/emulator/v1/fleet",
                               {body = {instances = {{name = "x", machineType = "bogus-1"}}}})
    assert.equal(400, status)
    assert.equal(1, #emu:state().disks)
    r = emu:load_fleet{generate = {disks = 50, seed = 3}}
    assert.equal(50, r.disks)
    emu:stop()
  end)
end)
