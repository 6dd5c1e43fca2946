--- The emulator's resource model: one project's disks, snapshots,
-- instances and operations, and the clock that moves them.
--
-- Time model: nothing ticks in the background. An operation is created
-- with its transition times (PENDING until start, RUNNING until end, then
-- DONE), and the effects of those transitions are events in a min-heap.
-- Every request first calls `settle()`, which applies the events whose time
-- has come, in time order, and fixes `now` for the rest of the request, so
-- one request sees one consistent instant. A long-poll simply sleeps (the
-- interpreter lock released) until the time it waits for, then settles
-- again. Durations are drawn per operation type and multiplied by
-- `--latency-scale`.
--
-- Resources are kept raw (Lua tables with snake_case fields); the views
-- at the bottom turn them into the API's JSON shapes, with links on the
-- emulator's own base URL.
local core = require "pdlua.core"
local emu = require "pdlua.emu.core"
local rand = require "emu.rand"
local catalog = require "emu.catalog"
local timefmt = require "emu.timefmt"

local M = {}
local Model = {}
Model.__index = Model

--- A new, empty model. opts: project, seed, latency_scale, zones (array,
-- added to the catalogue's), base (URL prefix ending in "/compute/v1/").
function M.new(opts)
  local m = setmetatable({}, Model)
  m.project = opts.project or "emu-project"
  m.seed = math.tointeger(opts.seed) or 0
  m.rng = rand.new(m.seed)
  m.scale = opts.latency_scale or 1.0
  m.base = opts.base or "http://127.0.0.1:0/compute/v1/"
  m.project_number = m:stable_id("project/" .. m.project):sub(1, 12)
  m.latency = {}          -- op type (or "*") -> multiplier (faults)
  m.decide_failure = nil  -- function(op_type, names) -> {code, message, http} or nil
  m.zones, m.zone_names = {}, {}
  for _, z in ipairs(catalog.default_zones) do m:add_zone(z) end
  for _, z in ipairs(opts.zones or {}) do m:add_zone(z) end
  m.disks, m.instances, m.snapshots = {}, {}, {}
  m.ops = {global = {}}
  m.op_list = {}
  m.by_request_id = {}
  m.active_ops = 0
  m.active_by_location = {}   -- "global" or a region -> operations in flight
  m.ids = {}
  m.heap, m.seq = {}, 0
  m.counter = 0
  m.mono0, m.wall0 = core.now(), emu.wall_now()
  m.now = m.mono0
  return m
end

function Model:add_zone(z)
  if self.zones[z] then return end
  self.zones[z] = {name = z, region = catalog.region_of(z)}
  self.zone_names[#self.zone_names + 1] = z
  table.sort(self.zone_names)
end

------------------------------------------------------------------ clock

-- Binary heap of {t, seq, fn}, ordered by time then creation.
local function before(a, b)
  if a.t ~= b.t then return a.t < b.t end
  return a.seq < b.seq
end

--- Schedules fn(t) to run at monotonic time t (at the first settle after).
function Model:at(t, fn)
  self.seq = self.seq + 1
  local h = self.heap
  local e = {t = t, seq = self.seq, fn = fn}
  local i = #h + 1
  h[i] = e
  while i > 1 do
    local p = i // 2
    if before(h[p], h[i]) then break end
    h[p], h[i] = h[i], h[p]
    i = p
  end
end

local function pop(h)
  local top = h[1]
  local n = #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, s = 2 * i, 2 * i + 1, i
    if l <= n and before(h[l], h[s]) then s = l end
    if r <= n and before(h[r], h[s]) then s = r end
    if s == i then break end
    h[s], h[i] = h[i], h[s]
    i = s
  end
  return top
end

--- Applies every event that is due and fixes `self.now` for this request.
function Model:settle()
  local now = core.now()
  self.now = now
  local h = self.heap
  while h[1] and h[1].t <= now do
    local e = pop(h)
    e.fn(e.t)
  end
  return now
end

--- The time of the next pending event, or nil.
function Model:next_event()
  return self.heap[1] and self.heap[1].t
end

--- RFC 3339 timestamp (Pacific time, milliseconds) of a monotonic instant.
function Model:timestamp(mono)
  return timefmt.format(self.wall0 + ((mono or self.now) - self.mono0))
end

------------------------------------------------------------------ names and ids

--- A fresh 19-digit id (uint64 as the API writes it: a string).
function Model:new_id()
  while true do
    local id = self.rng:digits(19)
    if not self.ids[id] then
      self.ids[id] = true
      return id
    end
  end
end

--- A stable id derived from a string (catalogue entries, fleet resources).
function Model:stable_id(s)
  local hex = emu.sha256_hex(tostring(self.seed) .. "/" .. s)
  local n = math.tointeger(tonumber(hex:sub(1, 15), 16))
  return string.format("%d", 1000000000000000000 + n % 8000000000000000000)
end

-- The fingerprint the API gives a resource without labels (seen on every
-- unlabelled resource in real responses).
M.EMPTY_LABEL_FINGERPRINT = "42WmSpB8rSM="

--- The API's label fingerprint: base64 of 8 bytes; "42WmSpB8rSM=" for no
-- labels, else a hash of the sorted labels.
function Model:label_fingerprint(labels)
  if not labels or next(labels) == nil then return M.EMPTY_LABEL_FINGERPRINT end
  local keys = {}
  for k in pairs(labels or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(labels[k]) end
  return emu.b64encode(emu.sha256(table.concat(parts, "\n")):sub(1, 8))
end

--- A content fingerprint: what a disk "holds". Fleet disks get one derived
-- from project/zone/name/seed; new blank disks and writes get fresh ones.
function Model:content_fingerprint(...)
  return emu.sha256_hex(table.concat({tostring(self.seed), self.project, ...}, "/")):sub(1, 32)
end

function Model:fresh_fingerprint(what)
  self.counter = self.counter + 1
  return self:content_fingerprint(what, tostring(self.counter), tostring(self.rng:next()))
end

------------------------------------------------------------------ links

--- "projects/P/a/b/..." (the form used in error messages).
function Model:path(...)
  return "projects/" .. self.project .. "/" .. table.concat({...}, "/")
end

--- Full URL on the emulator's base.
function Model:link(...)
  return self.base .. self:path(...)
end

--- Parses a resource reference as the API accepts it in a body: a full URL
-- (any host, ".../compute/v1/projects/..."), "projects/p/...", or a path
-- relative to the project ("zones/z/disks/d", "global/snapshots/s").
-- Returns the path segments after "projects/{p}/" and the project.
function Model:parse_ref(ref)
  if type(ref) ~= "string" or ref == "" then return nil end
  local rest = ref:match("/compute/[^/]+/(projects/.*)$") or ref
  local project, tail = rest:match("^projects/([^/]+)/(.*)$")
  if not project then
    project, tail = self.project, rest
  end
  local segs = {}
  for s in tail:gmatch("[^/]+") do segs[#segs + 1] = s end
  return segs, project
end

------------------------------------------------------------------ operations

local op_durations = {
  -- seconds at latency scale 1 (before the random spread)
  insert = function(spec) return 4 + 2 * math.sqrt(spec.size_gb or 10) end,
  restore = function(spec) return 10 + 0.6 * (spec.size_gb or 10) end,
  createSnapshot = function(spec) return 15 + 1.2 * (spec.size_gb or 10) end,
  delete = function() return 6 end,
  setLabels = function() return 1 end,
  attachDisk = function() return 5 end,
  detachDisk = function() return 5 end,
  setDiskAutoDelete = function() return 2 end,
  stop = function() return 35 end,
  start = function() return 25 end,
  setMachineType = function() return 4 end,
}

--- Seconds (already scaled) an operation of this kind takes.
-- spec.kind names the duration model (defaults to the op type).
function Model:duration(kind, spec)
  local f = op_durations[kind] or op_durations.setLabels
  local base = f(spec or {}) * self.rng:range(0.75, 1.25)
  return base * self.scale * self:latency_multiplier(kind)
end

function Model:latency_multiplier(kind)
  return (self.latency[kind] or 1.0) * (self.latency["*"] or 1.0)
end

--- Creates an operation. spec: scope (zone name, or nil for global),
-- type (operationType), kind (duration model; default type), size_gb,
-- duration (overrides the model), target_link, target_id, user, serial
-- (a table whose busy_until serialises operations on one resource),
-- client_id (requestId), fail ({code, message, http} or nil), names
-- (resource names, for one-shot failures), on_start(t), on_done(t, failed).
function Model:new_op(spec)
  local now = self.now
  local kind = spec.kind or spec.type
  local mult = self.scale * self:latency_multiplier(kind)
  local start = now + self.rng:range(0.2, 1.0) * mult
  if spec.serial and (spec.serial.busy_until or 0) > start then start = spec.serial.busy_until end
  local dur = spec.duration or self:duration(kind, spec)
  local done = start + dur
  if spec.serial then spec.serial.busy_until = done end
  local fail = spec.fail
  if fail == nil and self.decide_failure then fail = self.decide_failure(spec.type, spec.names or {}) end
  if fail and fail.message and fail.message:find("{zone}", 1, true) then
    local where = spec.scope and self:path("zones", spec.scope) or self:path("global")
    fail = {code = fail.code, http = fail.http, message = fail.message:gsub("{zone}", where)}
  end
  local op = {
    name = string.format("operation-%d-%s-%s-%s", math.floor((self.wall0 + now - self.mono0) * 1000),
                         self.rng:hex(13), self.rng:hex(8), self.rng:hex(8)),
    id = self:new_id(), scope = spec.scope, type = spec.type,
    target_link = spec.target_link, target_id = spec.target_id,
    user = spec.user or "user@example.com", client_id = spec.client_id,
    status = "PENDING", insert_t = now, start_t = start, end_t = done, fail = fail or nil,
  }
  local scope = spec.scope or "global"
  self.ops[scope] = self.ops[scope] or {}
  self.ops[scope][op.name] = op
  self.op_list[#self.op_list + 1] = op
  self.active_ops = self.active_ops + 1
  local loc = self:op_location(spec.scope)
  self.active_by_location[loc] = (self.active_by_location[loc] or 0) + 1
  self:at(start, function(t)
    op.status = "RUNNING"
    if spec.on_start then spec.on_start(t) end
  end)
  self:at(done, function(t)
    op.status = "DONE"
    self.active_ops = self.active_ops - 1
    self.active_by_location[loc] = self.active_by_location[loc] - 1
    if spec.on_done then spec.on_done(t, op.fail ~= nil) end
  end)
  return op
end

--- Where an operation counts for quotas: the region of its zone, or
-- "global".
function Model:op_location(scope)
  if scope == nil or scope == "global" then return "global" end
  return catalog.region_of(scope)
end

--- Operations in flight at a location ("global" or a region).
function Model:active_at(location)
  return self.active_by_location[location] or 0
end

--- An operation by scope ("global" or a zone) and name, or nil.
function Model:find_op(scope, name)
  local s = self.ops[scope]
  return s and s[name]
end

------------------------------------------------------------------ resources

function Model:zone_disks(zone)
  local t = self.disks[zone]
  if not t then
    t = {}
    self.disks[zone] = t
  end
  return t
end

function Model:zone_instances(zone)
  local t = self.instances[zone]
  if not t then
    t = {}
    self.instances[zone] = t
  end
  return t
end

--- Adds a disk. spec: name, type, size_gb, labels, description, status,
-- fingerprint, id, created, iops, tput, source_snapshot (name),
-- source_snapshot_id, source_image, guest_os_features, licenses,
-- architecture, block_size.
function Model:add_disk(zone, spec)
  self:add_zone(zone)
  local d = {
    name = spec.name, zone = zone,
    id = spec.id or self:new_id(),
    created = spec.created or self:timestamp(self.now),
    type = spec.type or "pd-balanced",
    size_gb = spec.size_gb or 10,
    status = spec.status or "READY",
    labels = spec.labels or {},
    description = spec.description,
    users = {},
    fingerprint = spec.fingerprint or self:content_fingerprint("disk", zone, spec.name),
    block_size = spec.block_size or 4096,
    iops = spec.iops, tput = spec.tput,
    source_snapshot = spec.source_snapshot, source_snapshot_id = spec.source_snapshot_id,
    source_image = spec.source_image,
    guest_os_features = spec.guest_os_features, licenses = spec.licenses,
    architecture = spec.architecture,
    last_attach = spec.last_attach, last_detach = spec.last_detach,
    serial = {},
  }
  self.ids[d.id] = true
  d.label_fp = self:label_fingerprint(d.labels)
  self:zone_disks(zone)[d.name] = d
  return d
end

--- Adds an instance. spec: name, machine_type, status, labels, id,
-- created, description, attached = {{disk = name, device_name, boot,
-- auto_delete, mode, interface}}. The disks must exist in the zone.
function Model:add_instance(zone, spec)
  self:add_zone(zone)
  local inst = {
    name = spec.name, zone = zone,
    id = spec.id or self:new_id(),
    created = spec.created or self:timestamp(self.now),
    machine_type = spec.machine_type or "e2-standard-2",
    status = spec.status or "RUNNING",
    labels = spec.labels or {},
    description = spec.description,
    attached = {},
    serial = {},
    pending_attach = {}, pending_detach = {},
    ip = spec.ip,
    last_start = spec.last_start, last_stop = spec.last_stop,
  }
  self.ids[inst.id] = true
  inst.label_fp = self:label_fingerprint(inst.labels)
  inst.fingerprint = emu.b64encode(emu.sha256("instance/" .. inst.id):sub(1, 8))
  if not inst.ip then
    local n = self.counter + 2
    self.counter = self.counter + 1
    inst.ip = string.format("10.%d.%d.%d", (n >> 16) % 256, (n >> 8) % 256, n % 256)
  end
  self:zone_instances(zone)[inst.name] = inst
  for _, a in ipairs(spec.attached or {}) do
    local d = self:zone_disks(zone)[a.disk]
    self:attach(inst, d, a)
    -- a real disk that is attached has a lastAttachTimestamp (for a boot
    -- disk, moments after its creation); fleets rarely say when
    d.last_attach = d.last_attach or d.created
  end
  return inst
end

--- Attaches a disk (model-level, no checks): fills the attachment and the
-- disk's users.
function Model:attach(inst, d, a, t)
  local used = {}
  for _, x in ipairs(inst.attached) do used[x.index] = true end
  local index = a.boot and 0 or 1
  if a.boot and used[0] then index = 1 end
  while used[index] do index = index + 1 end
  local dev = a.device_name
  if not dev or dev == "" then dev = "persistent-disk-" .. index end
  local att = {
    disk = d.name, device_name = dev, boot = a.boot and true or false,
    auto_delete = a.auto_delete and true or false, mode = a.mode or "READ_WRITE",
    interface = a.interface or catalog.default_interface(inst.machine_type), index = index,
  }
  inst.attached[#inst.attached + 1] = att
  table.sort(inst.attached, function(x, y) return x.index < y.index end)
  local seen = false
  for _, u in ipairs(d.users) do if u == inst.name then seen = true end end
  if not seen then d.users[#d.users + 1] = inst.name end
  if t then d.last_attach = self:timestamp(t) end
  return att
end

--- Detaches by device name (model-level); returns the attachment.
function Model:detach(inst, device_name, t)
  for i, a in ipairs(inst.attached) do
    if a.device_name == device_name then
      table.remove(inst.attached, i)
      local d = self:zone_disks(inst.zone)[a.disk]
      if d then
        for j, u in ipairs(d.users) do
          if u == inst.name then
            table.remove(d.users, j)
            break
          end
        end
        if t then d.last_detach = self:timestamp(t) end
      end
      return a
    end
  end
  return nil
end

--- The attachment of an instance with this device name, or nil.
function Model:attachment(inst, device_name)
  for _, a in ipairs(inst.attached) do
    if a.device_name == device_name then return a end
  end
  return nil
end

--- Adds a snapshot. spec: name, status, source_disk ({zone, name}),
-- source_disk_id, disk_size_gb, storage_bytes, labels, fingerprint, id,
-- created, description, storage_locations, guest_os_features, licenses,
-- architecture.
function Model:add_snapshot(spec)
  local s = {
    name = spec.name,
    id = spec.id or self:new_id(),
    created = spec.created or self:timestamp(self.now),
    status = spec.status or "READY",
    source_disk = spec.source_disk, source_disk_id = spec.source_disk_id,
    disk_size_gb = spec.disk_size_gb or 10,
    storage_bytes = spec.storage_bytes,
    labels = spec.labels or {},
    description = spec.description,
    fingerprint = spec.fingerprint,
    storage_locations = spec.storage_locations,
    guest_os_features = spec.guest_os_features, licenses = spec.licenses,
    architecture = spec.architecture,
    serial = {},
  }
  self.ids[s.id] = true
  s.label_fp = self:label_fingerprint(s.labels)
  if not s.storage_bytes and s.status == "READY" then s.storage_bytes = self:storage_bytes(s) end
  self.snapshots[s.name] = s
  return s
end

--- A plausible compressed size for a snapshot (stable for its content).
function Model:storage_bytes(s)
  local h = emu.sha256_hex((s.fingerprint or s.name) .. "/size")
  local frac = 0.2 + 0.5 * (tonumber(h:sub(1, 4), 16) / 65535)
  return math.floor(s.disk_size_gb * 1073741824 * frac)
end

------------------------------------------------------------------ views

local function copy_labels(t)
  if not t or next(t) == nil then return nil end
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function copy_array(t)
  if not t or #t == 0 then return nil end
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  return c
end

--- A disk as the API shows it.
function Model:disk_view(d)
  local v = {
    kind = "compute#disk", id = d.id, creationTimestamp = d.created, name = d.name,
    description = d.description, sizeGb = string.format("%d", d.size_gb),
    zone = self:link("zones", d.zone), status = d.status,
    selfLink = self:link("zones", d.zone, "disks", d.name),
    type = self:link("zones", d.zone, "diskTypes", d.type),
    labels = copy_labels(d.labels), labelFingerprint = d.label_fp,
    physicalBlockSizeBytes = string.format("%d", d.block_size),
    lastAttachTimestamp = d.last_attach, lastDetachTimestamp = d.last_detach,
    sourceImage = d.source_image,
    guestOsFeatures = copy_array(d.guest_os_features), licenses = copy_array(d.licenses),
    architecture = d.architecture,
  }
  if #d.users > 0 then
    v.users = {}
    for i, u in ipairs(d.users) do v.users[i] = self:link("zones", d.zone, "instances", u) end
  end
  if d.source_snapshot then
    v.sourceSnapshot = self:link("global", "snapshots", d.source_snapshot)
    v.sourceSnapshotId = d.source_snapshot_id
  end
  if d.iops then v.provisionedIops = string.format("%d", d.iops) end
  if d.tput then v.provisionedThroughput = string.format("%d", d.tput) end
  local dt = catalog.disk_types[d.type]
  if dt and dt.hyperdisk then
    v.accessMode = "READ_WRITE_SINGLE"
    v.enableConfidentialCompute = false
  end
  v.satisfiesPzi = false
  return v
end

--- A snapshot as the API shows it.
function Model:snapshot_view(s)
  local ready = s.status == "READY"
  local v = {
    kind = "compute#snapshot", id = s.id, creationTimestamp = s.created, name = s.name,
    description = s.description, status = s.status,
    diskSizeGb = string.format("%d", s.disk_size_gb),
    storageBytes = string.format("%d", ready and (s.storage_bytes or 0) or 0),
    storageBytesStatus = ready and "UP_TO_DATE" or "UPDATING",
    labels = copy_labels(s.labels), labelFingerprint = s.label_fp,
    selfLink = self:link("global", "snapshots", s.name),
    snapshotType = "STANDARD", autoCreated = false,
    storageLocations = copy_array(s.storage_locations),
    guestOsFeatures = copy_array(s.guest_os_features), licenses = copy_array(s.licenses),
    architecture = s.architecture,
  }
  if s.source_disk then
    v.sourceDisk = self:link("zones", s.source_disk.zone, "disks", s.source_disk.name)
    v.sourceDiskId = s.source_disk_id
  end
  if ready then
    v.creationSizeBytes = v.storageBytes
    -- what a restore reads back: the stored bytes plus a little overhead
    v.downloadBytes = string.format("%d", (s.storage_bytes or 0) + 796 + (s.storage_bytes or 0) // 125000)
  end
  v.enableConfidentialCompute = false
  return v
end

--- An instance as the API shows it.
function Model:instance_view(inst)
  local disks = {}
  for i, a in ipairs(inst.attached) do
    local d = self:zone_disks(inst.zone)[a.disk]
    disks[i] = {
      kind = "compute#attachedDisk", type = "PERSISTENT", mode = a.mode,
      source = self:link("zones", inst.zone, "disks", a.disk), deviceName = a.device_name,
      index = a.index, boot = a.boot, autoDelete = a.auto_delete, interface = a.interface,
      diskSizeGb = d and string.format("%d", d.size_gb) or nil,
      guestOsFeatures = d and copy_array(d.guest_os_features) or nil,
      licenses = d and copy_array(d.licenses) or nil,
      architecture = d and d.architecture or nil,
    }
  end
  return {
    kind = "compute#instance", id = inst.id, creationTimestamp = inst.created, name = inst.name,
    description = inst.description,
    machineType = self:link("zones", inst.zone, "machineTypes", inst.machine_type),
    status = inst.status, zone = self:link("zones", inst.zone),
    selfLink = self:link("zones", inst.zone, "instances", inst.name),
    disks = #disks > 0 and disks or nil,
    labels = copy_labels(inst.labels), labelFingerprint = inst.label_fp,
    fingerprint = inst.fingerprint,
    networkInterfaces = {{
      kind = "compute#networkInterface", name = "nic0", networkIP = inst.ip,
      network = self:link("global", "networks", "default"),
      subnetwork = self:base_region_link(inst.zone, "subnetworks", "default"),
      fingerprint = emu.b64encode(emu.sha256("nic/" .. inst.id):sub(1, 8)),
      stackType = "IPV4_ONLY",
    }},
    scheduling = {onHostMaintenance = "MIGRATE", automaticRestart = true, preemptible = false,
                  provisioningModel = "STANDARD"},
    cpuPlatform = inst.status == "RUNNING" and "Intel Cascade Lake" or "Unknown CPU Platform",
    canIpForward = false, deletionProtection = false, startRestricted = false,
    lastStartTimestamp = inst.last_start, lastStopTimestamp = inst.last_stop,
  }
end

function Model:base_region_link(zone, ...)
  return self:link("regions", catalog.region_of(zone), ...)
end

local http_messages = {
  [400] = "BAD REQUEST", [403] = "FORBIDDEN", [404] = "NOT FOUND", [409] = "CONFLICT",
  [412] = "PRECONDITION FAILED", [429] = "TOO MANY REQUESTS", [500] = "INTERNAL SERVER ERROR",
  [503] = "SERVICE UNAVAILABLE",
}

--- An operation as the API shows it (at the settled instant).
function Model:op_view(op)
  local v = {
    kind = "compute#operation", id = op.id, name = op.name, operationType = op.type,
    targetLink = op.target_link, targetId = op.target_id, status = op.status, user = op.user,
    progress = 0, insertTime = self:timestamp(op.insert_t),
    clientOperationId = op.client_id,
  }
  if op.scope then
    v.zone = self:link("zones", op.scope)
    v.selfLink = self:link("zones", op.scope, "operations", op.name)
  else
    v.selfLink = self:link("global", "operations", op.name)
  end
  if op.status ~= "PENDING" then
    v.startTime = self:timestamp(op.start_t)
    if op.status == "RUNNING" and op.end_t > op.start_t then
      v.progress = math.min(99, math.floor(100 * (self.now - op.start_t) / (op.end_t - op.start_t)))
    end
  end
  if op.status == "DONE" then
    v.progress = 100
    v.endTime = self:timestamp(op.end_t)
    if op.fail then
      local http = op.fail.http or 500
      v.error = {errors = {{code = op.fail.code, message = op.fail.message}}}
      v.httpErrorStatusCode = http
      v.httpErrorMessage = http_messages[http] or "ERROR"
    end
  end
  return v
end

--- A zone as the API shows it.
function Model:zone_view(z)
  return {
    kind = "compute#zone", id = self:stable_id("zone/" .. z), name = z,
    creationTimestamp = "1969-12-31T16:00:00.000-08:00",
    description = z, status = "UP", region = self:link("regions", catalog.region_of(z)),
    selfLink = self:link("zones", z),
    availableCpuPlatforms = {"Intel Cascade Lake", "Intel Ice Lake", "Intel Sapphire Rapids",
                             "AMD Milan", "AMD Genoa", "Google Axion"},
    supportsPzs = false,
  }
end

--- A disk type as the API shows it.
function Model:disk_type_view(z, name)
  local t = catalog.disk_types[name]
  return {
    kind = "compute#diskType", id = self:stable_id("diskType/" .. name), name = name,
    creationTimestamp = "1969-12-31T16:00:00.000-08:00", description = t.description,
    validDiskSize = string.format("%dGB-%dGB", t.min, t.max), zone = self:link("zones", z),
    selfLink = self:link("zones", z, "diskTypes", name),
    defaultDiskSizeGb = string.format("%d", t.default),
  }
end

--- A machine type as the API shows it.
function Model:machine_type_view(z, mt)
  local s = catalog.series[mt.series] or {}
  return {
    kind = "compute#machineType", id = self:stable_id("machineType/" .. mt.name), name = mt.name,
    creationTimestamp = "1969-12-31T16:00:00.000-08:00",
    description = string.format("%d vCPU%s, %d GB RAM", mt.cpus, mt.cpus == 1 and "" or "s",
                                math.floor(mt.memory_mb / 1024 + 0.5)),
    guestCpus = mt.cpus, memoryMb = mt.memory_mb, isSharedCpu = mt.shared,
    maximumPersistentDisks = catalog.max_disks(mt.name),
    maximumPersistentDisksSizeGb = mt.shared and "3072" or "263168",
    zone = z, selfLink = self:link("zones", z, "machineTypes", mt.name),
    architecture = s.arm and "ARM64" or "X86_64",
  }
end

------------------------------------------------------------------ lazy views

-- Filters and orderBy read a few fields of every resource in a scope; with
-- thousands of disks, building each full view would dominate. A lazy view
-- computes a field on first read: cheap getters for the fields filters
-- usually name, the full view for anything else.
local cheap = {
  disk = {
    name = function(_, d) return d.name end,
    status = function(_, d) return d.status end,
    labels = function(_, d) return d.labels end,
    sizeGb = function(_, d) return string.format("%d", d.size_gb) end,
    id = function(_, d) return d.id end,
    creationTimestamp = function(_, d) return d.created end,
    description = function(_, d) return d.description end,
    type = function(m, d) return m:link("zones", d.zone, "diskTypes", d.type) end,
    zone = function(m, d) return m:link("zones", d.zone) end,
  },
  instance = {
    name = function(_, i) return i.name end,
    status = function(_, i) return i.status end,
    labels = function(_, i) return i.labels end,
    id = function(_, i) return i.id end,
    creationTimestamp = function(_, i) return i.created end,
    machineType = function(m, i) return m:link("zones", i.zone, "machineTypes", i.machine_type) end,
    zone = function(m, i) return m:link("zones", i.zone) end,
  },
  snapshot = {
    name = function(_, s) return s.name end,
    status = function(_, s) return s.status end,
    labels = function(_, s) return s.labels end,
    id = function(_, s) return s.id end,
    creationTimestamp = function(_, s) return s.created end,
  },
}
local full = {disk = "disk_view", instance = "instance_view", snapshot = "snapshot_view"}

--- A view of a disk, instance or snapshot whose fields are computed when
-- first read (for filtering and sorting; never encoded).
function Model:lazy_view(kind, obj)
  local getters, view_fn, m, whole = cheap[kind], full[kind], self, nil
  return setmetatable({}, {__index = function(t, k)
    local g = getters[k]
    local v
    if g then
      v = g(m, obj)
    else
      whole = whole or m[view_fn](m, obj)
      v = whole[k]
    end
    rawset(t, k, v)
    return v
  end})
end

return M
