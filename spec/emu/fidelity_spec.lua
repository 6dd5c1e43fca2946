-- Fidelity to the real Compute Engine v1 API: details that clients see and
-- that earlier versions of the emulator got wrong. Each case names the
-- public record it follows (real responses in public fixtures, error texts
-- in public issue threads, the API's error catalog); docs/emulator.md lists
-- the same sources.
local env = require "support.env"
local emu_support = require "support.emu"
local timefmt = require "emu.timefmt"

local Z = "us-central1-a"

-- The offset tzdata gives US Pacific time at a Unix time ("-07:00"), or nil
-- when the host has no zone database.
local function tz_offset(unix)
  local out, _, code = env.run("TZ=America/Los_Angeles date -d @" .. math.floor(unix) .. " +%z")
  if code ~= 0 or not out:match("^[+-]%d%d%d%d") then return nil end
  return out:sub(1, 3) .. ":" .. out:sub(4, 5)
end

describe("timestamps", function()
  it("are Pacific time with the daylight-saving offset of their instant", function()
    -- real resources: "2024-08-26T22:33:27.527-07:00" (summer),
    -- "2017-11-15T21:59:58.627-08:00" (winter)
    assert.equal("2024-08-27T05:33:27.527Z", os.date("!%Y-%m-%dT%H:%M:%S", 1724736807) .. ".527Z")
    assert.equal("2024-08-26T22:33:27.527-07:00", timefmt.format(1724736807.527))
    assert.equal("2017-11-15T21:59:58.627-08:00", timefmt.format(1510811998.627))
    -- 2024: daylight time from 2024-03-10 10:00 UTC to 2024-11-03 09:00 UTC
    assert.equal(-8, timefmt.pacific_offset(1710064799))
    assert.equal(-7, timefmt.pacific_offset(1710064800))
    assert.equal(-7, timefmt.pacific_offset(1730624399))
    assert.equal(-8, timefmt.pacific_offset(1730624400))
    assert.equal("2024-03-10T01:59:59.000-08:00", timefmt.format(1710064799))
    assert.equal("2024-03-10T03:00:00.000-07:00", timefmt.format(1710064800))
  end)

  it("agree with the zone database over many years", function()
    if not tz_offset(0) then
      pending("no America/Los_Angeles in the zone database")
      return
    end
    local t = 1167609600   -- 2007-01-01, when the current US rule began
    local checked = 0
    while t < 1893456000 do  -- 2030
      local s = timefmt.format(t)
      assert.equal(tz_offset(t), s:sub(-6), s)
      assert.equal(t, timefmt.parse(s))
      t = t + 86400 * 17 + 3607
      checked = checked + 1
    end
    assert.is_true(checked > 300)
  end)

  describe("on resources and operations", function()
    local emu
    setup(function() emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"} end)
    teardown(function() emu:stop() end)

    it("carry the offset of now and the current instant", function()
      local before = os.time()
      local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "ts-1", sizeGb = "10"})
      op = emu:wait(op)
      local _, d = emu:api("GET", "zones/" .. Z .. "/disks/ts-1")
      local after = os.time() + 1
      for _, s in ipairs {d.creationTimestamp, op.insertTime, op.startTime, op.endTime} do
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%-0[78]:00$", s)
        local t = timefmt.parse(s)
        assert.is_true(t >= before - 1 and t <= after, s)
        assert.equal(timefmt.format(t):sub(-6), s:sub(-6))
        local want = tz_offset(t)
        if want then assert.equal(want, s:sub(-6)) end
      end
    end)

    it("sort by instant across offsets (orderBy creationTimestamp)", function()
      local e2 = emu_support.start{fleet = {project = "p", zones = {Z}, disks = {
        {name = "winter", zone = Z, type = "pd-standard", sizeGb = 10,
         creationTimestamp = "2024-01-10T10:00:00.000-08:00"},          -- 18:00Z
        {name = "summer", zone = Z, type = "pd-standard", sizeGb = 10,
         creationTimestamp = "2024-01-10T10:30:00.000-07:00"},          -- 17:30Z
        {name = "utc", zone = Z, type = "pd-standard", sizeGb = 10,
         creationTimestamp = "2024-01-10T17:45:00Z"}}}}
      local _, l = e2:api("GET", "zones/" .. Z .. "/disks", nil, {query = {orderBy = "creationTimestamp"}})
      local names = {}
      for i, d in ipairs(l.items) do names[i] = d.name end
      assert.same({"summer", "utc", "winter"}, names)
      _, l = e2:api("GET", "zones/" .. Z .. "/disks", nil,
                    {query = {orderBy = "creationTimestamp desc", maxResults = 1}})
      assert.equal("winter", l.items[1].name)
      _, l = e2:api("GET", "zones/" .. Z .. "/disks", nil,
                    {query = {orderBy = "creationTimestamp desc", maxResults = 1, pageToken = l.nextPageToken}})
      e2:stop()
      assert.equal("utc", l.items[1].name)
    end)
  end)
end)

describe("emulator fidelity", function()
  local emu
  setup(function() emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"} end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function new_disk(name, extra)
    local body = {name = name, sizeGb = "10"}
    for k, v in pairs(extra or {}) do body[k] = v end
    local status, op = emu:api("POST", "zones/" .. Z .. "/disks", body)
    assert.equal(200, status, op.error and op.error.message)
    return emu:wait(op)
  end

  it("gives unlabelled resources the fingerprint 42WmSpB8rSM=", function()
    -- every unlabelled disk, instance and snapshot in real responses
    new_disk("fp-1")
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/fp-1")
    assert.equal("42WmSpB8rSM=", d.labelFingerprint)
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/fp-1/setLabels",
                          {labels = {env = "dev"}, labelFingerprint = d.labelFingerprint})
    emu:wait(op)
    _, d = emu:api("GET", "zones/" .. Z .. "/disks/fp-1")
    assert.are_not.equal("42WmSpB8rSM=", d.labelFingerprint)
    assert.matches("^[%w+/]+=$", d.labelFingerprint)
    _, op = emu:api("POST", "zones/" .. Z .. "/disks/fp-1/setLabels",
                    {labels = {}, labelFingerprint = d.labelFingerprint})
    emu:wait(op)
    _, d = emu:api("GET", "zones/" .. Z .. "/disks/fp-1")
    assert.equal("42WmSpB8rSM=", d.labelFingerprint)
  end)

  it("words label errors as the API does and allows international characters", function()
    -- googleapis/google-cloud-node-core#276 and #314, scylladb/scylla-cluster-tests#13147
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks",
                              {name = "lab-1", sizeGb = "10", labels = {owner = "test-by-Ahtasham"}})
    assert.equal(400, status)
    assert.equal("invalid", b.error.errors[1].reason)
    assert.equal("Invalid value for field 'resource.labels': ''. Label value 'test-by-Ahtasham' violates " ..
                 "format constraints. The value can only contain lowercase letters, numeric characters, " ..
                 "underscores and dashes. The value can be at most 63 characters long. International " ..
                 "characters are allowed.", b.error.message)
    status, b = emu:api("POST", "zones/" .. Z .. "/disks", {name = "lab-1", sizeGb = "10", labels = {iAmVm = "x"}})
    assert.equal(400, status)
    assert.equal("Invalid value for field 'resource.labels': ''. Label key 'iAmVm' violates format " ..
                 "constraints. The key must start with a lowercase character, can only contain lowercase " ..
                 "letters, numeric characters, underscores and dashes. The key can be at most 63 characters " ..
                 "long. International characters are allowed.", b.error.message)
    new_disk("lab-2", {labels = {["équipe"] = "données", ["git-sha"] = "380ab351648ae"}})
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/lab-2")
    status, b = emu:api("POST", "zones/" .. Z .. "/disks/lab-2/setLabels",
                        {labels = {Bad = "x"}, labelFingerprint = d.labelFingerprint})
    assert.equal(400, status)
    assert.matches("^Invalid value for field 'labels': ''%. Label key 'Bad'", b.error.message)
    status = emu:api("POST", "zones/" .. Z .. "/disks",
                     {name = "lab-3", sizeGb = "10", labels = {ok = string.rep("é", 63)}})
    assert.equal(200, status)
    status = emu:api("POST", "zones/" .. Z .. "/disks",
                     {name = "lab-4", sizeGb = "10", labels = {ok = string.rep("é", 64)}})
    assert.equal(400, status)
  end)

  it("adds the error catalog's ErrorInfo to invalid and missing fields", function()
    -- https://cloud.google.com/compute/docs/reference/rest/v1/errors:
    -- INVALID_FIELD_VALUE "Invalid value for field '{field}': '{value}'. {reason}",
    -- MISSING_REQUIRED_FIELD "Required field '{field}' not specified";
    -- detail shape as in scylladb/scylla-cluster-tests#13147
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks", {name = "Bad_Name", sizeGb = "10"})
    assert.equal(400, status)
    assert.equal("Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex " ..
                 "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", b.error.message)
    local info = b.error.details[1]
    assert.equal("type.googleapis.com/google.rpc.ErrorInfo", info["@type"])
    assert.equal("INVALID_FIELD_VALUE", info.reason)
    assert.equal("compute.googleapis.com", info.domain)
    assert.same({field = "resource.name", value = "Bad_Name",
                 reason = "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"}, info.metadata)
    status, b = emu:api("POST", "zones/" .. Z .. "/instances/web-1/attachDisk", {})
    assert.equal(400, status)
    assert.equal("Required field 'resource.source' not specified", b.error.message)
    assert.equal("MISSING_REQUIRED_FIELD", b.error.details[1].reason)
    assert.same({field = "resource.source"}, b.error.details[1].metadata)
  end)

  it("words a restore smaller than its snapshot like the image case", function()
    -- "Requested disk size cannot be smaller than the image size (20 GB)"
    -- (digio/terraform-google-gitlab-runner#3): no final period
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/web-1-data/createSnapshot", {name = "small-snap"})
    emu:wait(op)
    local _, s = emu:api("GET", "global/snapshots/small-snap")
    local status, b = emu:api("POST", "zones/" .. Z .. "/disks",
                              {name = "too-small", sizeGb = "10", sourceSnapshot = "global/snapshots/small-snap"})
    assert.equal(400, status)
    assert.equal(string.format("Invalid value for field 'resource.sizeGb': '10'. Requested disk size cannot " ..
                               "be smaller than the snapshot size (%s GB)", s.diskSizeGb), b.error.message)
  end)

  it("fails insert operations with the real ZONE_RESOURCE_POOL_EXHAUSTED text", function()
    -- "The zone 'projects/P/zones/Z' does not have enough resources available
    -- to fulfill the request.  Try a different zone, or try again later."
    -- (two spaces; skypilot and terraform logs)
    emu:faults{operation_failures = {insert = 1}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "zrpe", sizeGb = "10"})
    op = emu:wait(op)
    assert.equal("ZONE_RESOURCE_POOL_EXHAUSTED", op.error.errors[1].code)
    assert.equal("The zone 'projects/demo-project/zones/us-central1-a' does not have enough resources " ..
                 "available to fulfill the request.  Try a different zone, or try again later.",
                 op.error.errors[1].message)
    assert.equal(503, op.httpErrorStatusCode)
    assert.equal("SERVICE UNAVAILABLE", op.httpErrorMessage)
    assert.equal(100, op.progress)
  end)

  it("shows the fields real disks and snapshots carry", function()
    -- sapagent fixtures (2024): disks with satisfiesPzi, hyperdisks with
    -- enableConfidentialCompute and accessMode; snapshots with downloadBytes,
    -- creationSizeBytes, enableConfidentialCompute
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/web-1-data")
    assert.is_false(d.satisfiesPzi)
    -- an attached disk has been attached at some time (forseti fixtures:
    -- lastAttachTimestamp moments after creationTimestamp)
    assert.equal(d.creationTimestamp, d.lastAttachTimestamp)
    assert.equal("4096", d.physicalBlockSizeBytes)
    local _, hd = emu:api("GET", "zones/" .. Z .. "/disks/ml-dataset")
    assert.equal("READ_WRITE_SINGLE", hd.accessMode)
    assert.is_false(hd.enableConfidentialCompute)
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/web-1-data/createSnapshot", {name = "shape-snap"})
    local _, s = emu:api("GET", "global/snapshots/shape-snap")
    assert.equal("0", s.storageBytes)
    assert.equal("UPDATING", s.storageBytesStatus)
    assert.is_nil(s.downloadBytes)
    emu:wait(op)
    _, s = emu:api("GET", "global/snapshots/shape-snap")
    assert.equal("READY", s.status)
    assert.equal("UP_TO_DATE", s.storageBytesStatus)
    assert.equal(s.storageBytes, s.creationSizeBytes)
    assert.is_true(tonumber(s.downloadBytes) > tonumber(s.storageBytes))
    assert.is_false(s.enableConfidentialCompute)
  end)

  it("keeps an instance from starting while a snapshot of its boot disk is being taken", function()
    -- Compute Engine's VM start-up troubleshooting guide: "The instance
    -- resource 'projects/.../instances/example-vm' is already being used by
    -- 'projects/.../global/snapshots/...'"
    emu:faults{latency = {createSnapshot = 60}}
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks/web-5/createSnapshot", {name = "boot-snap"})
    local status, b = emu:api("POST", "zones/" .. Z .. "/instances/web-5/start")
    assert.equal(400, status)
    assert.equal("resourceInUseByAnotherResource", b.error.errors[1].reason)
    assert.equal("The instance resource 'projects/demo-project/zones/us-central1-a/instances/web-5' is " ..
                 "already being used by 'projects/demo-project/global/snapshots/boot-snap'", b.error.message)
    emu:faults{}
    emu:wait(op)
    local _, start = emu:api("POST", "zones/" .. Z .. "/instances/web-5/start")
    assert.is_nil(emu:wait(start).error)
  end)

  it("answers 401 with the real item messages and details", function()
    -- missing token: errors[0].message "Login Required.", ErrorInfo
    -- CREDENTIALS_MISSING (ivanvermeyen/laravel-google-drive-demo#118,
    -- reactmore/morelab#17); method names as "compute.v1.RegionsService.List"
    -- (trailofbits/algo#14854)
    local status, b = emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = false})
    assert.equal(401, status)
    assert.equal("Login Required.", b.error.errors[1].message)
    assert.equal("Authorization", b.error.errors[1].location)
    assert.equal("header", b.error.errors[1].locationType)
    assert.equal("CREDENTIALS_MISSING", b.error.details[1].reason)
    assert.equal("googleapis.com", b.error.details[1].domain)
    assert.same({service = "compute.googleapis.com", method = "compute.v1.DisksService.Get"},
                b.error.details[1].metadata)
    _, b = emu:api("POST", "zones/" .. Z .. "/operations/x/wait", nil, {token = false})
    assert.equal("compute.v1.ZoneOperationsService.Wait", b.error.details[1].metadata.method)
    -- rejected token: "Invalid Credentials", reason authError, no details
    -- (enupal/backup#44, dacastro4/laravel-gmail#273)
    emu:auth{strict = true}
    status, b = emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = "made-up"})
    emu:auth{strict = false}
    assert.equal(401, status)
    assert.equal("Request had invalid authentication credentials. Expected OAuth 2 access token, login " ..
                 "cookie or other valid authentication credential. See " ..
                 "https://developers.google.com/identity/sign-in/web/devconsole-project.", b.error.message)
    assert.equal("Invalid Credentials", b.error.errors[1].message)
    assert.equal("authError", b.error.errors[1].reason)
    assert.equal("UNAUTHENTICATED", b.error.status)
    assert.is_nil(b.error.details)
  end)
end)
