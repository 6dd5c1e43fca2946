--- What a Compute Engine project offers whatever its fleet: zones, disk
-- types, machine types, which disk types each machine series can take, and
-- the size and IOPS/throughput limits of each disk type.
--
-- Values follow Google's public documentation as summarised, with sources,
-- in docs/compute-facts.md; where the real rules are
-- finer (per-vCPU-count limits, preview features) the emulator keeps the
-- simpler rule written here, so that tests of pdlua know what to expect.
local M = {}

--- Zones every project sees (a fleet may add more).
M.default_zones = {
  "us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f",
  "us-east1-b", "us-east1-c", "us-east1-d",
  "us-east4-a", "us-east4-b", "us-east4-c",
  "us-west1-a", "us-west1-b", "us-west1-c",
  "europe-west1-b", "europe-west1-c", "europe-west1-d",
  "europe-west4-a", "europe-west4-b", "europe-west4-c",
  "asia-southeast1-a",
}

--- The region of a zone ("us-central1-a" -> "us-central1").
function M.region_of(zone)
  return zone:match("^(.*)%-[^-]+$") or zone
end

--- The multi-region a zone's snapshots are stored in by default.
function M.multi_region(zone)
  local area = zone:match("^(%a+)")
  return ({europe = "eu", us = "us", asia = "asia"})[area] or "us"
end

--- Disk types. min/max: size in GB; iops/tput: {min, max} when the type
-- takes provisionedIops / provisionedThroughput (nil: not settable).
M.disk_types = {
  ["pd-standard"] = {description = "Standard Persistent Disk", min = 10, max = 65536, default = 500},
  ["pd-balanced"] = {description = "Balanced Persistent Disk", min = 10, max = 65536, default = 100},
  ["pd-ssd"] = {description = "SSD Persistent Disk", min = 10, max = 65536, default = 100},
  ["pd-extreme"] = {description = "Extreme Persistent Disk", min = 500, max = 65536, default = 1000,
                    iops = {10000, 120000}, default_iops = 10000},
  ["hyperdisk-balanced"] = {description = "Hyperdisk Balanced", min = 4, max = 65536, default = 100,
                            hyperdisk = true, boot = true,
                            iops = {3000, 160000}, tput = {140, 2400},
                            default_iops = 3000, default_tput = 140},
  ["hyperdisk-extreme"] = {description = "Hyperdisk Extreme", min = 64, max = 65536, default = 1000,
                           hyperdisk = true, iops = {128, 350000}, default_iops = 2500},
  ["hyperdisk-throughput"] = {description = "Hyperdisk Throughput", min = 2048, max = 32768,
                              default = 2048, hyperdisk = true, tput = {20, 2400}, default_tput = 20},
}
M.disk_type_names = {}
for name in pairs(M.disk_types) do M.disk_type_names[#M.disk_type_names + 1] = name end
table.sort(M.disk_type_names)

--- The provisioned IOPS range of a disk type for a size, or nil.
-- Hyperdisk Balanced: at most 500 IOPS per GB; Extreme: 1,000 per GB.
function M.iops_range(type_name, size_gb)
  local t = M.disk_types[type_name]
  if not (t and t.iops) then return nil end
  local lo, hi = t.iops[1], t.iops[2]
  if type_name == "hyperdisk-balanced" then hi = math.min(hi, math.max(lo, 500 * size_gb)) end
  if type_name == "hyperdisk-extreme" then hi = math.min(hi, math.max(lo, 1000 * size_gb)) end
  return lo, hi
end

--- The provisioned throughput range (MiB/s) for a size and IOPS, or nil.
-- Hyperdisk Balanced: at most IOPS / 4; Throughput: 10 to 90 per TiB.
function M.tput_range(type_name, size_gb, iops)
  local t = M.disk_types[type_name]
  if not (t and t.tput) then return nil end
  local lo, hi = t.tput[1], t.tput[2]
  if type_name == "hyperdisk-balanced" and iops then hi = math.min(hi, math.max(lo, iops // 4)) end
  if type_name == "hyperdisk-throughput" then
    lo = math.max(lo, math.ceil(10 * size_gb / 1024))
    hi = math.min(hi, math.max(lo, 90 * size_gb // 1024))
  end
  return lo, hi
end

--- Machine series: which disk types each can attach.
-- pd = Persistent Disk types allowed; hd = set of Hyperdisk types allowed.
local all_hd = {["hyperdisk-balanced"] = true, ["hyperdisk-extreme"] = true,
                ["hyperdisk-throughput"] = true}
M.series = {
  e2 = {pd = true, hd = {}},
  n1 = {pd = true, hd = {["hyperdisk-throughput"] = true}},
  n2 = {pd = true, hd = {["hyperdisk-throughput"] = true, ["hyperdisk-extreme"] = true}},
  n2d = {pd = true, hd = {["hyperdisk-throughput"] = true}},
  c3 = {pd = true, hd = all_hd},
  c3d = {pd = true, hd = all_hd},
  c4 = {pd = false, hd = all_hd, nvme = true},
  c4d = {pd = false, hd = all_hd, nvme = true},
  c4a = {pd = false, hd = all_hd, nvme = true, arm = true},
  n4 = {pd = false, hd = all_hd, nvme = true},
  n4d = {pd = false, hd = all_hd, nvme = true},
  n4a = {pd = false, hd = all_hd, nvme = true, arm = true},
}

-- name suffix -> vCPU counts; memory per vCPU (MB) per family.
local shapes = {
  e2 = {standard = {{2, 4, 8, 16, 32}, 4096}, highmem = {{2, 4, 8, 16}, 8192},
        highcpu = {{2, 4, 8, 16, 32}, 1024}},
  n1 = {standard = {{1, 2, 4, 8, 16, 32, 64, 96}, 3840}, highmem = {{2, 4, 8, 16, 32, 64, 96}, 6656},
        highcpu = {{2, 4, 8, 16, 32, 64, 96}, 921}},
  n2 = {standard = {{2, 4, 8, 16, 32, 48, 64, 80, 96, 128}, 4096},
        highmem = {{2, 4, 8, 16, 32, 48, 64, 80, 96, 128}, 8192},
        highcpu = {{2, 4, 8, 16, 32, 48, 64, 80, 96}, 1024}},
  n2d = {standard = {{2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224}, 4096},
         highmem = {{2, 4, 8, 16, 32, 48, 64, 80, 96}, 8192},
         highcpu = {{2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224}, 1024}},
  n4 = {standard = {{2, 4, 8, 16, 32, 48, 64, 80}, 4096}, highmem = {{2, 4, 8, 16, 32, 48, 64, 80}, 8192},
        highcpu = {{2, 4, 8, 16, 32, 48, 64, 80}, 2048}},
  n4d = {standard = {{2, 4, 8, 16, 32, 48, 64, 80, 96}, 4096}, highmem = {{2, 4, 8, 16, 32, 48, 64, 80, 96}, 8192}},
  n4a = {standard = {{1, 2, 4, 8, 16, 32, 48, 64}, 4096}},
  c3 = {standard = {{4, 8, 22, 44, 88, 176}, 4096}, highmem = {{4, 8, 22, 44, 88, 176}, 8192},
        highcpu = {{4, 8, 22, 44, 88, 176}, 2048}},
  c3d = {standard = {{4, 8, 16, 30, 60, 90, 180, 360}, 4096}, highmem = {{4, 8, 16, 30, 60, 90, 180, 360}, 8192}},
  c4 = {standard = {{2, 4, 8, 16, 24, 32, 48, 96, 144, 192}, 3840},
        highmem = {{2, 4, 8, 16, 24, 32, 48, 96, 144, 192}, 7936},
        highcpu = {{2, 4, 8, 16, 24, 32, 48, 96, 144, 192}, 2048}},
  c4d = {standard = {{2, 4, 8, 16, 32, 48, 64, 96, 192, 384}, 3840}},
  c4a = {standard = {{1, 2, 4, 8, 16, 32, 48, 64, 72}, 4096}, highmem = {{1, 2, 4, 8, 16, 32, 48, 64, 72}, 8192}},
}

local machine_types = {}
M.machine_type_names = {}
local function add_type(name, cpus, mem, shared)
  machine_types[name] = {name = name, cpus = cpus, memory_mb = mem, shared = shared or false,
                         series = name:match("^(%w+)%-")}
  M.machine_type_names[#M.machine_type_names + 1] = name
end
for family, kinds in pairs(shapes) do
  for kind, spec in pairs(kinds) do
    for _, n in ipairs(spec[1]) do add_type(string.format("%s-%s-%d", family, kind, n), n, n * spec[2]) end
  end
end
add_type("e2-micro", 2, 1024, true)
add_type("e2-small", 2, 2048, true)
add_type("e2-medium", 2, 4096, true)
add_type("f1-micro", 1, 614, true)
add_type("g1-small", 1, 1740, true)
machine_types["f1-micro"].series = "n1"
machine_types["g1-small"].series = "n1"
table.sort(M.machine_type_names)

--- A machine type by name, or nil. Custom types ("custom-4-16384",
-- "n2-custom-8-32768", "-ext" suffix) are synthesised.
function M.machine_type(name)
  local t = machine_types[name]
  if t then return t end
  local series, cpus, mem = name:match("^(%w+)%-custom%-(%d+)%-(%d+)")
  if not series then
    cpus, mem = name:match("^custom%-(%d+)%-(%d+)")
    series = cpus and "n1"
  end
  if series and M.series[series] then
    return {name = name, cpus = tonumber(cpus), memory_mb = tonumber(mem), shared = false,
            series = series, custom = true}
  end
  return nil
end

--- The series rules for a machine type (name or table).
function M.series_of(mt)
  if type(mt) == "string" then mt = M.machine_type(mt) end
  return mt and M.series[mt.series]
end

--- nil if a disk of `disk_type` can be attached to `machine_type`, else
-- the message of the real 400 badRequest.
function M.incompatibility(disk_type, machine_type, boot)
  local s = M.series_of(machine_type)
  if not s then return nil end
  local dt = M.disk_types[disk_type]
  if not dt then return nil end
  if dt.hyperdisk then
    if not s.hd[disk_type] then
      return string.format("%s disk type cannot be used by %s machine type.", disk_type, machine_type)
    end
    if boot and not dt.boot then
      return string.format("%s disk type cannot be used as a boot disk.", disk_type)
    end
  elseif not s.pd then
    return string.format("[%s, %s] features are not compatible for creating instance",
                         disk_type, machine_type)
  end
  return nil
end

--- The interface a disk gets on a machine series by default.
function M.default_interface(machine_type)
  local s = M.series_of(machine_type)
  return (s and s.nvme) and "NVME" or "SCSI"
end

--- The maximum number of disks a machine type takes.
function M.max_disks(machine_type)
  local mt = M.machine_type(machine_type)
  if mt and mt.shared then return 16 end
  return 128
end

return M
