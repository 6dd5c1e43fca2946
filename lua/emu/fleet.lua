--- Fleets: the resources an emulator starts with (docs/emulator.md,
-- "Fleet format").
--
-- One loader reads both the emulator's own fleet format and what
-- `gcloud compute disks list --format=json` / `gcloud compute instances
-- list --format=json` print (arrays of API resources, or an object holding
-- them), because the native format is the API's shape with shortcuts: a
-- name wherever the API has a URL, numbers where it has int64 strings, and
-- disks that may be declared inline under the instance they are attached
-- to. Several documents can be merged (`--fleet a.json --fleet b.json`).
--
-- `generate{disks = N, seed = S}` makes a deterministic fleet of any size
-- for benchmarks and large tests.
local json = require "emu.json"
local rand = require "emu.rand"
local catalog = require "emu.catalog"

local M = {}

local function fail(fmt, ...)
  error("fleet: " .. string.format(fmt, ...), 0)
end

-- Last path segment of a URL or the string itself.
local function tail(v)
  if type(v) ~= "string" then return nil end
  return v:match("([^/]+)$")
end

local function zone_of(entry, default)
  local z = entry.zone
  if type(z) == "string" then return tail(z) end
  local link = entry.selfLink or entry.source
  if type(link) == "string" then
    local lz = link:match("/zones/([^/]+)/")
    if lz then return lz end
  end
  return default
end

local function project_of(doc_items)
  for _, it in ipairs(doc_items) do
    local link = type(it) == "table" and (it.selfLink or it.zone)
    if type(link) == "string" then
      local p = link:match("projects/([^/]+)/")
      if p then return p end
    end
  end
  return nil
end

local function int(v, what)
  if v == nil then return nil end
  local n = json.int(v)
  if not n then fail("%s: '%s' is not an integer", what, tostring(v)) end
  return n
end

local function status_of(s)
  s = s and tostring(s):upper() or "RUNNING"
  if s == "RUNNING" or s == "STAGING" or s == "PROVISIONING" or s == "REPAIRING" then return "RUNNING" end
  if s == "TERMINATED" or s == "STOPPED" or s == "STOPPING" or s == "SUSPENDED" or s == "SUSPENDING" then
    return "TERMINATED"
  end
  fail("unknown instance status '%s'", s)
end

--- Collects the documents' entries into {project, zones, disks,
-- instances, snapshots} arrays (raw entries; validated by `load`).
function M.collect(docs)
  local out = {disks = {}, instances = {}, snapshots = {}, zones = {}}
  for _, doc in ipairs(docs) do
    if type(doc) ~= "table" then fail("a fleet must be a JSON object or array") end
    if doc[1] ~= nil then
      -- gcloud output: an array of API resources
      out.project = out.project or project_of(doc)
      for i, it in ipairs(doc) do
        if type(it) ~= "table" then fail("entry %d is not an object", i) end
        local kind = it.kind or ""
        if kind == "compute#disk" then out.disks[#out.disks + 1] = it
        elseif kind == "compute#instance" then out.instances[#out.instances + 1] = it
        elseif kind == "compute#snapshot" then out.snapshots[#out.snapshots + 1] = it
        elseif it.machineType then out.instances[#out.instances + 1] = it
        else out.disks[#out.disks + 1] = it end
      end
    else
      out.project = doc.project or out.project
      out.default_zone = doc.zone or out.default_zone
      for _, z in ipairs(doc.zones or {}) do out.zones[#out.zones + 1] = tail(z) end
      for _, k in ipairs {"disks", "instances", "snapshots"} do
        if doc[k] ~= nil and type(doc[k]) ~= "table" then fail("'%s' must be an array", k) end
        for _, it in ipairs(doc[k] or {}) do out[k][#out[k] + 1] = it end
      end
      if not out.project then
        out.project = project_of(doc.disks or {}) or project_of(doc.instances or {})
      end
    end
  end
  out.project = out.project or "emu-project"
  return out
end

local function disk_spec(e, where)
  local name = e.name
  if type(name) ~= "string" or name == "" then fail("%s: a disk needs a name", where) end
  local dtype = e.diskType or e.type
  if dtype == "PERSISTENT" or dtype == "SCRATCH" then dtype = nil end
  dtype = tail(dtype) or "pd-balanced"
  local dt = catalog.disk_types[dtype]
  if not dt then fail("disk '%s': unknown disk type '%s'", name, dtype) end
  local size = int(e.sizeGb or e.diskSizeGb, "disk '" .. name .. "' sizeGb") or dt.default
  local iops = int(e.provisionedIops, "disk '" .. name .. "' provisionedIops")
  local tput = int(e.provisionedThroughput, "disk '" .. name .. "' provisionedThroughput")
  if dt.iops and not iops then iops = dt.default_iops end
  if dt.tput and not tput then
    local lo = catalog.tput_range(dtype, size, iops)
    tput = math.max(dt.default_tput, lo)
  end
  return {
    name = name, type = dtype, size_gb = size, labels = e.labels, description = e.description,
    iops = dt.iops and iops or nil, tput = dt.tput and tput or nil,
    source_image = e.sourceImage, guest_os_features = e.guestOsFeatures, licenses = e.licenses,
    architecture = e.architecture, id = e.id and json.str(e.id) or nil,
    created = e.creationTimestamp, last_attach = e.lastAttachTimestamp,
    last_detach = e.lastDetachTimestamp, block_size = int(e.physicalBlockSizeBytes, "physicalBlockSizeBytes"),
    fingerprint = e.contentFingerprint,
  }
end

--- Loads collected entries into a model (emu.model). Raises "fleet: ..."
-- errors naming the offending entry.
function M.load(model, fl)
  for _, z in ipairs(fl.zones) do model:add_zone(z) end
  local default_zone = fl.default_zone or fl.zones[1] or "us-central1-a"
  local declared = {}
  local function warn(fmt, ...)
    io.stderr:write("pdlua-emu: fleet: ", string.format(fmt, ...), "\n")
  end
  for _, e in ipairs(fl.disks) do
    json.clean(e)
    if e.region and not e.zone then
      warn("skipping regional disk '%s' (regional disks are not emulated)", tostring(e.name))
      goto next_disk
    end
    local z = zone_of(e, default_zone)
    local spec = disk_spec(e, "disks")
    if model:zone_disks(z)[spec.name] then fail("disk '%s' in zone %s is declared twice", spec.name, z) end
    model:add_disk(z, spec)
    declared[z .. "/" .. spec.name] = true
    ::next_disk::
  end
  local seen_instances = {}
  for _, e in ipairs(fl.instances) do
    json.clean(e)
    local name = e.name
    if type(name) ~= "string" or name == "" then fail("an instance needs a name") end
    local z = zone_of(e, default_zone)
    if seen_instances[z .. "/" .. name] then fail("instance '%s' in zone %s is declared twice", name, z) end
    seen_instances[z .. "/" .. name] = true
    local mt_name = tail(e.machineType) or "e2-standard-2"
    local mt = catalog.machine_type(mt_name)
    if not mt then fail("instance '%s': unknown machine type '%s'", name, mt_name) end
    local attached, devices, boots = {}, {}, 0
    for i, a in ipairs(e.disks or {}) do
      if type(a.source) == "string" and a.source:find("/regions/", 1, true) then
        warn("instance '%s': skipping regional disk %s", name, a.source)
      elseif a.type ~= "SCRATCH" then
        local where = string.format("instance '%s' disk %d", name, i)
        local dname = tail(a.source) or a.name
        if not dname then fail("%s: needs a name or a source", where) end
        local src_zone = type(a.source) == "string" and a.source:match("/zones/([^/]+)/") or z
        if src_zone ~= z then fail("%s: disk '%s' is in zone %s, not %s", where, dname, src_zone, z) end
        local d = model:zone_disks(z)[dname]
        if not d then
          local spec = disk_spec(setmetatable({name = dname}, {__index = a}), where)
          d = model:add_disk(z, spec)
        end
        local dev = a.deviceName or dname
        if devices[dev] then fail("%s: device name '%s' is used twice", where, dev) end
        devices[dev] = true
        local boot = a.boot == true
        if boot then boots = boots + 1 end
        local mode = a.mode or "READ_WRITE"
        if #d.users > 0 and mode == "READ_WRITE" then
          fail("%s: disk '%s' is already attached read-write to '%s'", where, dname, d.users[1])
        end
        local bad = catalog.incompatibility(d.type, mt_name, boot)
        if bad then fail("%s: %s", where, bad) end
        attached[#attached + 1] = {disk = dname, device_name = dev, boot = boot,
                                   auto_delete = a.autoDelete == true, mode = mode,
                                   interface = a.interface}
      end
    end
    if boots > 1 then fail("instance '%s' has %d boot disks", name, boots) end
    local ip = e.networkInterfaces and e.networkInterfaces[1] and e.networkInterfaces[1].networkIP
    model:add_instance(z, {
      name = name, machine_type = mt_name, status = status_of(e.status), labels = e.labels,
      description = e.description, attached = attached, id = e.id and json.str(e.id) or nil,
      created = e.creationTimestamp, ip = ip, last_start = e.lastStartTimestamp,
      last_stop = e.lastStopTimestamp,
    })
  end
  for _, e in ipairs(fl.snapshots) do
    json.clean(e)
    if type(e.name) ~= "string" then fail("a snapshot needs a name") end
    local src, fp = nil, e.contentFingerprint
    if e.sourceDisk then
      local sz = zone_of({zone = e.sourceDisk:match("zones/([^/]+)/")}, default_zone)
      local sd = tail(e.sourceDisk)
      src = {zone = sz, name = sd}
      local d = model:zone_disks(sz)[sd]
      fp = fp or (d and d.fingerprint)
    end
    model:add_snapshot({
      name = e.name, status = "READY", source_disk = src, disk_size_gb = int(e.diskSizeGb, "diskSizeGb") or 10,
      labels = e.labels, description = e.description, id = e.id and json.str(e.id) or nil,
      created = e.creationTimestamp, fingerprint = fp or model:content_fingerprint("snapshot", e.name),
      storage_bytes = int(e.storageBytes, "storageBytes"),
    })
  end
  return model
end

--- Reads and decodes a fleet file; raises "fleet: ..." errors.
function M.read_file(path)
  local f, err = io.open(path, "r")
  if not f then fail("cannot read %s: %s", path, tostring(err)) end
  local s = f:read("a")
  f:close()
  local doc, derr = json.decode(s)
  if doc == nil then fail("%s is not valid JSON: %s", path, tostring(derr)) end
  return doc
end

------------------------------------------------------------------ generator

local SHAPES = {
  -- machine type, weight, disk types for data disks
  {"e2-standard-4", 22, {"pd-standard", "pd-balanced", "pd-ssd"}},
  {"n2-standard-8", 22, {"pd-standard", "pd-balanced", "pd-ssd"}},
  {"n1-standard-4", 14, {"pd-standard", "pd-ssd"}},
  {"n2d-standard-4", 10, {"pd-balanced", "pd-ssd"}},
  {"c3-standard-8", 12, {"pd-balanced", "pd-ssd", "hyperdisk-balanced"}},
  {"n4-standard-4", 12, {"hyperdisk-balanced"}},
  {"c4-standard-8", 8, {"hyperdisk-balanced"}},
}

--- A deterministic fleet with about `opts.disks` disks (exactly that many).
-- opts: disks, seed, project, zones, instances_stopped (fraction).
function M.generate(opts)
  local n = math.tointeger(opts.disks) or 100
  local r = rand.new((math.tointeger(opts.seed) or 1) * 7 + 3)
  local zones = opts.zones or {"us-central1-a", "us-central1-b", "us-east1-b"}
  local total_w = 0
  for _, s in ipairs(SHAPES) do total_w = total_w + s[2] end
  local function shape()
    local x = r:int(1, total_w)
    for _, s in ipairs(SHAPES) do
      x = x - s[2]
      if x <= 0 then return s end
    end
    return SHAPES[1]
  end
  local envs, teams = {"prod", "staging", "dev"}, {"web", "data", "ml", "ops", "billing"}
  local fleet = {project = opts.project or "emu-project", zones = zones, instances = {}, disks = {}}
  local made, vm = 0, 0
  local unattached_target = math.floor(n * 0.1)
  while made < n - unattached_target do
    vm = vm + 1
    local s = shape()
    local mt, dtypes = s[1], s[3]
    local hyper_only = not catalog.series_of(mt).pd
    local name = string.format("vm-%05d", vm)
    local env, team = r:pick(envs), r:pick(teams)
    local disks = {{
      name = name .. "-boot", deviceName = name, boot = true, autoDelete = true,
      type = hyper_only and "hyperdisk-balanced" or r:pick {"pd-balanced", "pd-standard", "pd-ssd"},
      sizeGb = r:pick {10, 20, 50, 100}, labels = {env = env, team = team},
    }}
    made = made + 1
    local ndata = math.min(r:int(0, 3), n - unattached_target - made)
    for k = 1, ndata do
      disks[#disks + 1] = {
        name = string.format("%s-data-%d", name, k), deviceName = "data-" .. k,
        autoDelete = r:float() < 0.3, type = r:pick(dtypes),
        sizeGb = r:pick {100, 200, 500, 1000, 2000}, labels = {env = env, team = team},
      }
      made = made + 1
    end
    fleet.instances[#fleet.instances + 1] = {
      name = name, zone = zones[(vm - 1) % #zones + 1], machineType = mt,
      status = r:float() < (opts.instances_stopped or 0.2) and "TERMINATED" or "RUNNING",
      labels = {env = env, team = team}, disks = disks,
    }
  end
  local k = 0
  while made < n do
    k = k + 1
    fleet.disks[#fleet.disks + 1] = {
      name = string.format("disk-%05d", k), zone = zones[(k - 1) % #zones + 1],
      type = r:pick {"pd-standard", "pd-balanced", "pd-ssd"}, sizeGb = r:pick {50, 100, 500},
      labels = {env = r:pick(envs), orphan = "true"},
    }
    made = made + 1
  end
  return fleet
end

return M
