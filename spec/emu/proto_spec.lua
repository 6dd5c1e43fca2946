-- Every field the emulator emits, for every resource kind, is a real field
-- of compute.proto (npm @google-cloud/compute) with the JSON type the
-- proto's JSON mapping gives it: int64/uint64 as strings, int32 as
-- numbers, enums as strings, messages as objects, maps and repeated fields.
-- The proto is looked for in .cache/npm (or $PDLUA_COMPUTE_PROTO) and
-- fetched there with `npm pack` when missing.
local env = require "support.env"
local emu_support = require "support.emu"

local REL = "/.cache/npm/package/build/protos/google/cloud/compute/v1/compute.proto"

local function exists(p)
  local f = io.open(p, "r")
  if f then f:close() end
  return f ~= nil
end

local function find_proto()
  local p = os.getenv("PDLUA_COMPUTE_PROTO")
  if p and exists(p) then return p end
  p = env.root .. REL
  if exists(p) then return p end
  local dir = env.root .. "/.cache/npm"
  local _, err, code = env.run("mkdir -p " .. env.quote(dir) .. " && cd " .. env.quote(dir) ..
    " && npm pack --silent @google-cloud/compute >pack.out && tar xzf \"$(tail -n1 pack.out)\" " ..
    "package/build/protos/google/cloud/compute/v1/compute.proto")
  assert(code == 0 and exists(p), "cannot fetch compute.proto with npm: " .. err)
  return p
end

-- Parses message and enum definitions: messages[name] = {json_name = field}
-- with field = {type, repeated, map_value}.
local function parse_proto(path)
  local messages, enums = {}, {}
  local stack = {}
  for line in io.lines(path) do
    line = line:gsub("//.*$", "")
    local kind, name = line:match("^%s*(%a+)%s+([%w_]+)%s*{")
    if kind == "message" or kind == "enum" or kind == "oneof" or kind == "service" then
      local full = name
      if kind == "message" then
        messages[name] = messages[name] or {}
      elseif kind == "enum" then
        enums[name] = true
      end
      stack[#stack + 1] = {kind = kind, name = full}
    elseif line:match("^%s*}") then
      stack[#stack] = nil
    else
      local top
      for i = #stack, 1, -1 do
        if stack[i].kind == "message" then top = stack[i]; break end
      end
      if top and (stack[#stack].kind == "message" or stack[#stack].kind == "oneof") then
        local kt, vt, fname = line:match("^%s*map<%s*([%w_]+)%s*,%s*([%w%._]+)%s*>%s+([%w_]+)%s*=")
        local field
        if fname then
          field = {type = vt, map = true}
        else
          local mod, ftype
          mod, ftype, fname = line:match("^%s*(%a*)%s*([%w%._]+)%s+([%w_]+)%s*=%s*%d+")
          if fname and mod ~= "option" and mod ~= "reserved" then
            if mod ~= "optional" and mod ~= "repeated" and mod ~= "" then
              ftype, fname = nil, nil
            else
              field = {type = ftype, repeated = mod == "repeated"}
            end
          end
        end
        if field then
          local json_name = fname:gsub("_(%w)", function(c) return c:upper() end)
          messages[top.name][json_name] = field
        end
      end
    end
  end
  return messages, enums
end

local INT64 = {int64 = true, uint64 = true, fixed64 = true, sint64 = true, sfixed64 = true}
local INT32 = {int32 = true, uint32 = true, fixed32 = true, sint32 = true, sfixed32 = true}

describe("emulator output against compute.proto", function()
  local emu, messages, enums
  local problems, seen = {}, {}

  local function check_value(v, ftype, where)
    local short = ftype:match("([%w_]+)$")
    if ftype == "string" or enums[short] then
      if type(v) ~= "string" then problems[#problems + 1] = where .. ": expected a string" end
    elseif INT64[ftype] then
      if type(v) ~= "string" or not v:match("^%-?%d+$") then
        problems[#problems + 1] = where .. ": int64 must be a decimal string, got " .. tostring(v)
      end
    elseif INT32[ftype] then
      if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
        problems[#problems + 1] = where .. ": expected an integer number"
      end
    elseif ftype == "bool" then
      if type(v) ~= "boolean" then problems[#problems + 1] = where .. ": expected a boolean" end
    elseif ftype == "double" or ftype == "float" then
      if type(v) ~= "number" then problems[#problems + 1] = where .. ": expected a number" end
    elseif messages[short] then
      if type(v) ~= "table" then
        problems[#problems + 1] = where .. ": expected an object"
      else
        local check = nil
        check = function(obj, msg, w)
          for k, x in pairs(obj) do
            local f = messages[msg][k]
            seen[msg .. "." .. k] = true
            if not f then
              problems[#problems + 1] = w .. "." .. tostring(k) .. ": not a field of " .. msg
            elseif f.map then
              if type(x) ~= "table" then problems[#problems + 1] = w .. "." .. k .. ": expected a map"
              else
                for mk, mv in pairs(x) do check_value(mv, f.type, w .. "." .. k .. "[" .. mk .. "]") end
              end
            elseif f.repeated then
              if type(x) ~= "table" or (next(x) ~= nil and x[1] == nil) then
                problems[#problems + 1] = w .. "." .. k .. ": expected an array"
              else
                for i, e in ipairs(x) do check_value(e, f.type, w .. "." .. k .. "[" .. i .. "]") end
              end
            else
              check_value(x, f.type, w .. "." .. k)
            end
          end
        end
        check(v, short, where)
      end
    else
      problems[#problems + 1] = where .. ": unknown proto type " .. ftype
    end
  end

  local function conforms(v, msg, what)
    assert.truthy(messages[msg], "no message " .. msg .. " in compute.proto")
    check_value(v, msg, what or msg)
  end

  setup(function()
    messages, enums = parse_proto(find_proto())
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)

  it("parses the proto", function()
    assert.truthy(messages.Disk and messages.Disk.sizeGb and messages.Disk.sizeGb.type == "int64")
    assert.truthy(messages.NetworkInterface.networkIP)
    assert.truthy(enums.Status)
  end)

  it("catches unknown fields and wrong JSON types", function()
    conforms({sizeGb = 10, id = "1", bogusField = "x", users = "not-an-array", labels = {a = 1}}, "Disk", "probe")
    conforms({disks = {{index = "0", boot = "true"}}}, "Instance", "probe")
    local got = table.concat(problems, "\n")
    for _, want in ipairs {"probe.sizeGb: int64", "probe.bogusField: not a field", "probe.users: expected an array",
                           "probe.labels[a]: expected a string", "probe.disks[1].index: expected an integer",
                           "probe.disks[1].boot: expected a boolean"} do
      assert.truthy(got:find(want, 1, true), want)
    end
    for k in pairs(problems) do problems[k] = nil end
    for k in pairs(seen) do seen[k] = nil end
  end)

  it("emits only real fields with the right JSON types, for every resource kind", function()
    local Z = "us-central1-a"
    local function api(method, path, body, query)
      local status, b = emu:api(method, path, body, {query = query})
      assert.equal(200, status, path .. ": " .. emu_support.json.encode(b))
      return b
    end
    -- exercise every kind of state a resource can be in
    emu:faults{latency = {stop = 1000}, once = {{method = "disks.insert", name = "failing", code = "QUOTA_EXCEEDED",
                                                 action = "fail_operation"}}}
    local running = api("POST", "zones/" .. Z .. "/instances/web-3/stop")
    local pending = api("POST", "zones/" .. Z .. "/instances/web-3/setLabels",
                        {labels = {a = "b"}, labelFingerprint = api("GET", "zones/" .. Z .. "/instances/web-3").labelFingerprint})
    conforms(running, "Operation", "Operation(running)")
    conforms(pending, "Operation", "Operation(pending)")
    local failed = emu:wait(api("POST", "zones/" .. Z .. "/disks", {name = "failing", sizeGb = 10}))
    assert.truthy(failed.error)
    conforms(failed, "Operation", "Operation(failed)")
    local snap = emu:wait(api("POST", "zones/" .. Z .. "/disks/db-1-data/createSnapshot", {name = "ps", labels = {x = "y"}}))
    conforms(snap, "Operation", "Operation(createSnapshot)")
    emu:wait(api("POST", "zones/" .. Z .. "/disks", {name = "restored", sourceSnapshot = "global/snapshots/ps",
      type = "zones/" .. Z .. "/diskTypes/hyperdisk-balanced", provisionedIops = "5000", provisionedThroughput = "300"}))
    emu:wait(api("POST", "zones/" .. Z .. "/disks", {name = "imaged", sizeGb = 10,
      sourceImage = "projects/debian-cloud/global/images/debian-12", guestOsFeatures = {{type = "UEFI_COMPATIBLE"}},
      licenses = {"projects/debian-cloud/global/licenses/debian-12"}, architecture = "X86_64"}))
    emu:wait(api("POST", "zones/" .. Z .. "/instances/web-1/detachDisk", nil, {deviceName = "data"}))
    emu:wait(api("POST", "zones/" .. Z .. "/instances/legacy-1/attachDisk", {source = "zones/" .. Z .. "/disks/web-1-data"}))
    emu:wait(api("POST", "global/snapshots", {name = "gs", sourceDisk = "zones/" .. Z .. "/disks/web-1"}))
    emu:faults{latency = {createSnapshot = 1000}}
    api("POST", "zones/" .. Z .. "/disks/web-1/createSnapshot", {name = "creating"})

    for _, d in ipairs {"restored", "imaged", "web-1-data", "db-1", "shared-assets", "ml-dataset"} do
      conforms(api("GET", "zones/" .. Z .. "/disks/" .. d), "Disk", "Disk(" .. d .. ")")
    end
    conforms(api("GET", "zones/" .. Z .. "/disks", nil, {maxResults = 3}), "DiskList")
    conforms(api("GET", "aggregated/disks", nil, {maxResults = 5}), "DiskAggregatedList")
    for _, s in ipairs {"ps", "gs", "creating", "db-1-data-nightly"} do
      conforms(api("GET", "global/snapshots/" .. s), "Snapshot", "Snapshot(" .. s .. ")")
    end
    conforms(api("GET", "global/snapshots"), "SnapshotList")
    for _, i in ipairs {"web-1", "web-3", "db-1", "legacy-1", "bastion-1"} do
      conforms(api("GET", "zones/" .. Z .. "/instances/" .. i), "Instance", "Instance(" .. i .. ")")
    end
    conforms(api("GET", "zones/us-central1-b/instances/new-1"), "Instance", "Instance(new-1)")
    conforms(api("GET", "zones/" .. Z .. "/instances"), "InstanceList")
    conforms(api("GET", "aggregated/instances"), "InstanceAggregatedList")
    conforms(api("GET", "zones/" .. Z .. "/operations"), "OperationList")
    conforms(api("GET", "global/operations"), "OperationList")
    conforms(api("GET", "zones"), "ZoneList")
    conforms(api("GET", "zones/" .. Z), "Zone")
    conforms(api("GET", "zones/" .. Z .. "/diskTypes"), "DiskTypeList")
    conforms(api("GET", "zones/" .. Z .. "/diskTypes/hyperdisk-throughput"), "DiskType")
    conforms(api("GET", "zones/" .. Z .. "/machineTypes", nil, {maxResults = 50}), "MachineTypeList")
    conforms(api("GET", "zones/" .. Z .. "/machineTypes/c4a-standard-8"), "MachineType")
    -- what the admin state shows is the API's shape plus contentFingerprint
    local st = emu:state()
    for _, kind in ipairs {{"disks", "Disk"}, {"snapshots", "Snapshot"}, {"instances", "Instance"}} do
      for _, r in ipairs(st[kind[1]]) do
        r.contentFingerprint = nil
        conforms(r, kind[2], "state." .. kind[1] .. "." .. r.name)
      end
    end

    assert.same({}, problems)
    -- the check saw the fields that matter (so it cannot pass vacuously)
    for _, f in ipairs {"Disk.sizeGb", "Disk.id", "Disk.users", "Disk.sourceSnapshot", "Disk.sourceSnapshotId",
                        "Disk.provisionedIops", "Disk.provisionedThroughput", "Disk.labelFingerprint",
                        "Disk.lastAttachTimestamp", "Disk.lastDetachTimestamp", "Disk.guestOsFeatures",
                        "GuestOsFeature.type", "Disk.accessMode", "Snapshot.storageBytes", "Snapshot.diskSizeGb",
                        "Snapshot.sourceDisk", "Instance.disks", "AttachedDisk.deviceName", "AttachedDisk.index",
                        "AttachedDisk.diskSizeGb", "NetworkInterface.networkIP", "Scheduling.automaticRestart",
                        "Operation.error", "Error.errors", "Errors.code", "Operation.httpErrorStatusCode",
                        "Operation.targetId", "Operation.progress", "Operation.startTime", "Operation.endTime",
                        "DiskAggregatedList.items", "DisksScopedList.warning", "Warning.data", "Data.key",
                        "DiskList.nextPageToken", "MachineType.guestCpus", "MachineType.maximumPersistentDisksSizeGb",
                        "DiskType.defaultDiskSizeGb", "Zone.availableCpuPlatforms", "InstancesScopedList.instances",
                        "Disk.satisfiesPzi", "Disk.enableConfidentialCompute", "Snapshot.downloadBytes",
                        "Snapshot.creationSizeBytes", "Snapshot.enableConfidentialCompute"} do
      assert.truthy(seen[f], f .. " was not checked")
    end
  end)
end)
