-- Inventories in the shape Compute Engine returns, for specs that need no
-- emulator: a zone with unattached disks, a running n2 with a boot and two
-- data disks, a stopped e2, an n4, and whatever a spec adds.
local M = {}

local P = "proj"
local Z = "us-central1-a"
local BASE = "https://www.googleapis.com/compute/v1/projects/" .. P .. "/zones/" .. Z

function M.disk(name, fields)
  local d = {
    kind = "compute#disk", id = tostring(1000 + #name * 7 + name:byte(1) + name:byte(-1)),
    name = name, zone = BASE:match("^(.*/zones/[^/]+)"), selfLink = BASE .. "/disks/" .. name,
    type = BASE .. "/diskTypes/pd-balanced", sizeGb = "100", status = "READY",
    labels = {}, labelFingerprint = "fp-" .. name,
  }
  for k, v in pairs(fields or {}) do d[k] = v end
  if fields and fields.type and not fields.type:find("/") then
    d.type = BASE .. "/diskTypes/" .. fields.type
  end
  return d
end

function M.attach(inst, disk, a)
  a = a or {}
  disk.users = disk.users or {}
  table.insert(disk.users, BASE .. "/instances/" .. inst.name)
  inst.disks = inst.disks or {}
  table.insert(inst.disks, {
    type = "PERSISTENT", source = disk.selfLink, deviceName = a.deviceName or disk.name,
    boot = a.boot or false, mode = a.mode or "READ_WRITE", autoDelete = a.autoDelete or false,
    interface = a.interface or "SCSI", index = #inst.disks,
  })
end

function M.instance(name, machine_type, status)
  return {
    kind = "compute#instance", id = tostring(5000 + #name), name = name,
    zone = BASE:match("^(.*/zones/[^/]+)"), selfLink = BASE .. "/instances/" .. name,
    machineType = BASE .. "/machineTypes/" .. machine_type, status = status or "RUNNING",
    disks = {},
  }
end

--- A small fleet.
function M.fleet()
  local inv = { project = P, zones = { Z }, disks = {}, instances = {}, snapshots = {}, notes = {} }
  local function add(d) inv.disks[#inv.disks + 1] = d return d end
  local function inst(i) inv.instances[#inv.instances + 1] = i return i end
  add(M.disk("loose-1", { labels = { env = "prod" } }))
  add(M.disk("loose-2", { type = "pd-standard", sizeGb = "50", labels = { env = "dev" } }))
  add(M.disk("already", { type = "hyperdisk-balanced" }))
  local web = inst(M.instance("web-1", "n2-standard-4", "RUNNING"))
  M.attach(web, add(M.disk("web-1-boot", { sizeGb = "20" })), { boot = true, autoDelete = true })
  M.attach(web, add(M.disk("web-1-data", { labels = { env = "prod" } })), { deviceName = "data" })
  M.attach(web, add(M.disk("web-1-logs", { type = "pd-standard" })), { deviceName = "logs", mode = "READ_ONLY" })
  local batch = inst(M.instance("batch-1", "e2-standard-2", "TERMINATED"))
  M.attach(batch, add(M.disk("batch-1-boot", { sizeGb = "10" })), { boot = true })
  local n4 = inst(M.instance("new-1", "n4-standard-2", "RUNNING"))
  M.attach(n4, add(M.disk("new-1-boot", { type = "hyperdisk-balanced", sizeGb = "20" })), { boot = true })
  return inv
end

function M.opts(fields)
  local o = { project = P, zones = { Z }, target_type = "pd-ssd", selector = {},
              retain_name = false, delete_original = false, keep_snapshots = false }
  for k, v in pairs(fields or {}) do o[k] = v end
  return o
end

M.P, M.Z = P, Z
return M
