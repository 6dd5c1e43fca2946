--- pdlua.migrate.rules: what Compute Engine allows, checked before anything
-- changes.
-- A migration that would fail half-way (a hyperdisk on an n2, a pd-standard
-- on an n4, IOPS out of range, a 100 GB disk as hyperdisk-throughput) is
-- cheaper to refuse in planning than to roll back. These tables are a model
-- of the public documentation (docs/compute-facts.md); where the
-- model does not know a machine series it says so instead of guessing.
local M = {}

--- Disk types: whether they can boot, their size range (GB), and the
-- provisioned-performance settings they accept ({min, max}).
M.disk_types = {
  ["pd-standard"] = { family = "pd", boot = true, min_gb = 10, max_gb = 65536 },
  ["pd-balanced"] = { family = "pd", boot = true, min_gb = 10, max_gb = 65536 },
  ["pd-ssd"] = { family = "pd", boot = true, min_gb = 10, max_gb = 65536 },
  ["pd-extreme"] = { family = "pd", boot = true, min_gb = 500, max_gb = 65536,
                     iops = { 10000, 120000 } },
  ["hyperdisk-balanced"] = { family = "hyperdisk", boot = true, min_gb = 4, max_gb = 65536,
                             iops = { 3000, 160000 }, throughput = { 140, 2400 },
                             iops_per_gb = 500, default_iops = 3000, throughput_per_iops = 0.25 },
  ["hyperdisk-balanced-high-availability"] = {
    family = "hyperdisk", boot = true, min_gb = 4, max_gb = 65536,
    iops = { 3000, 100000 }, throughput = { 140, 2400 }, iops_per_gb = 500,
    default_iops = 3000, throughput_per_iops = 0.25 },
  ["hyperdisk-extreme"] = { family = "hyperdisk", boot = false, min_gb = 64, max_gb = 65536,
                            iops = { 128, 350000 }, iops_per_gb = 1000 },
  ["hyperdisk-throughput"] = { family = "hyperdisk", boot = false, min_gb = 2048,
                               max_gb = 32768, throughput = { 20, 2400 },
                               throughput_per_tib = { 10, 90 } },
  ["hyperdisk-ml"] = { family = "hyperdisk", boot = false, min_gb = 4, max_gb = 65536,
                       throughput = { 400, 1200000 } },
}

local HD_ALL = { ["hyperdisk-balanced"] = true, ["hyperdisk-balanced-high-availability"] = true,
                 ["hyperdisk-extreme"] = true, ["hyperdisk-throughput"] = true,
                 ["hyperdisk-ml"] = true }
local HD_BAL_THR = { ["hyperdisk-balanced"] = true,
                     ["hyperdisk-balanced-high-availability"] = true,
                     ["hyperdisk-throughput"] = true }

--- Machine series: whether they take Persistent Disk, which hyperdisk types
-- they take, and how many hyperdisk volumes a VM of the series may have
-- attached (`hyperdisk_max`, by vCPU count: the first {max_vcpus, count}
-- whose max_vcpus is at least the machine's).
M.series = {
  n1 = { pd = true, hyperdisk = { ["hyperdisk-throughput"] = true } },
  n2 = { pd = true, hyperdisk = { ["hyperdisk-extreme"] = true, ["hyperdisk-throughput"] = true } },
  n2d = { pd = true, hyperdisk = { ["hyperdisk-throughput"] = true } },
  e2 = { pd = true, hyperdisk = {} },
  t2d = { pd = true, hyperdisk = { ["hyperdisk-throughput"] = true } },
  t2a = { pd = true, hyperdisk = {} },
  c2 = { pd = true, hyperdisk = {} },
  c2d = { pd = true, hyperdisk = { ["hyperdisk-throughput"] = true } },
  m1 = { pd = true, hyperdisk = { ["hyperdisk-extreme"] = true } },
  m2 = { pd = true, hyperdisk = { ["hyperdisk-extreme"] = true } },
  a2 = { pd = true, hyperdisk = {} },
  g2 = { pd = true, hyperdisk = { ["hyperdisk-ml"] = true, ["hyperdisk-throughput"] = true } },
  c3 = { pd = true, hyperdisk = HD_ALL },
  c3d = { pd = true, hyperdisk = HD_ALL },
  m3 = { pd = true, hyperdisk = HD_ALL },
  n4 = { pd = false, hyperdisk = HD_BAL_THR },
  n4a = { pd = false, hyperdisk = HD_BAL_THR },
  n4d = { pd = false, hyperdisk = HD_BAL_THR },
  c4 = { pd = false, hyperdisk = HD_ALL },
  c4a = { pd = false, hyperdisk = HD_ALL },
  c4d = { pd = false, hyperdisk = HD_ALL },
  h3 = { pd = false, hyperdisk = HD_BAL_THR },
  x4 = { pd = false, hyperdisk = HD_ALL },
}

--- Hyperdisk volumes per VM, by vCPU count ({max_vcpus, count}); a
-- conservative reading of the documented per-VM limits.
M.hyperdisk_max = { { 4, 16 }, { 32, 24 }, { math.huge, 32 } }

--- Persistent disks of any kind per VM (16 on shared-core machines).
M.disks_max = 128
M.disks_max_shared_core = 16

--- Whether a machine type is shared-core (e2-micro/small/medium, f1, g1).
function M.shared_core(machine_type)
  local mt = machine_type and machine_type:match("([^/]+)$") or ""
  return (mt:match("^e2%-micro$") or mt:match("^e2%-small$") or mt:match("^e2%-medium$")
          or mt:match("^f1%-") or mt:match("^g1%-")) ~= nil
end

--- The series of a machine type ("n2-standard-16" -> "n2"; a bare
-- "custom-4-8192" is N1).
function M.machine_series(machine_type)
  if not machine_type then return nil end
  local mt = machine_type:match("([^/]+)$")
  if mt:match("^custom%-") then return "n1" end
  return (mt:match("^([a-z]+%d*[a-z]?)%-"))
end

--- The vCPU count of a machine type, when its name says it
-- ("n2-standard-16" -> 16, "n2-custom-4-8192" -> 4, "e2-micro" -> 2).
function M.machine_vcpus(machine_type)
  if not machine_type then return nil end
  local mt = machine_type:match("([^/]+)$")
  local custom = mt:match("custom%-(%d+)%-")
  if custom then return tonumber(custom) end
  local n = mt:match("%-(%d+)$") or mt:match("%-(%d+)%-lssd$")
  if n then return tonumber(n) end
  if mt:match("micro$") or mt:match("small$") or mt:match("medium$") then return 2 end
  return nil
end

--- Whether a string names a disk type pdlua knows.
function M.known_disk_type(t)
  return M.disk_types[t] ~= nil
end

function M.is_hyperdisk(t)
  return t ~= nil and t:sub(1, 10) == "hyperdisk-"
end

--- Whether a machine type can have a disk of type `disk_type` attached.
-- @treturn boolean|nil true, false, or nil when the series is unknown
-- @treturn string|nil why not
function M.machine_takes(machine_type, disk_type)
  local series = M.machine_series(machine_type)
  local s = series and M.series[series]
  if not s then return nil, ("machine series of '%s' is not in pdlua's model"):format(
      tostring(machine_type)) end
  local mt = machine_type:match("([^/]+)$")
  if M.is_hyperdisk(disk_type) then
    if s.hyperdisk[disk_type] then return true end
    return false, ("%s disk type cannot be used by %s machine type"):format(disk_type, mt)
  end
  if s.pd then return true end
  return false, ("[%s, %s] features are not compatible: %s is a Hyperdisk-only series")
      :format(disk_type, mt, series:upper())
end

--- How many hyperdisk volumes a machine type can have attached.
function M.hyperdisk_limit(machine_type)
  local n = M.machine_vcpus(machine_type) or 1
  for _, row in ipairs(M.hyperdisk_max) do
    if n <= row[1] then return row[2] end
  end
  return M.hyperdisk_max[#M.hyperdisk_max][2]
end

--- Checks a new disk's settings against its type.
-- @tparam table d {type, size_gb, boot, iops, throughput, storage_pool}
-- @treturn {string,...} problems (empty when fine)
function M.check_disk(d)
  local problems = {}
  local function add(fmt, ...) problems[#problems + 1] = fmt:format(...) end
  local spec = M.disk_types[d.type]
  if not spec then
    add("unknown disk type '%s'", tostring(d.type))
    return problems
  end
  local size = tonumber(d.size_gb)
  if size and size < spec.min_gb then
    add("%s needs at least %d GB; the disk has %d GB", d.type, spec.min_gb, size)
  elseif size and size > spec.max_gb then
    add("%s allows at most %d GB; the disk has %d GB", d.type, spec.max_gb, size)
  end
  if d.boot and not spec.boot then
    add("%s cannot be a boot disk", d.type)
  end
  if d.iops then
    if not spec.iops then
      add("%s does not take provisioned IOPS", d.type)
    elseif d.iops < spec.iops[1] or d.iops > spec.iops[2] then
      add("%s IOPS must be within %d-%d; asked for %d", d.type, spec.iops[1], spec.iops[2], d.iops)
    elseif spec.iops_per_gb and size and d.iops > math.max(spec.iops[1], spec.iops_per_gb * size) then
      add("%s allows at most %d IOPS per GB: %d GB takes at most %d IOPS; asked for %d",
          d.type, spec.iops_per_gb, size, math.max(spec.iops[1], spec.iops_per_gb * size), d.iops)
    end
  end
  if d.throughput then
    if not spec.throughput then
      add("%s does not take provisioned throughput", d.type)
    elseif d.throughput < spec.throughput[1] or d.throughput > spec.throughput[2] then
      add("%s throughput must be within %d-%d MiB/s; asked for %d", d.type,
          spec.throughput[1], spec.throughput[2], d.throughput)
    elseif spec.throughput_per_iops then
      -- Hyperdisk Balanced: at most one MiB/s per 4 provisioned IOPS.
      local iops = d.iops or spec.default_iops
      local max = math.max(spec.throughput[1], math.floor(iops * spec.throughput_per_iops))
      if d.throughput > max then
        add("%s throughput is at most %d MiB/s with %d IOPS (IOPS / 4); asked for %d (raise --iops)",
            d.type, max, iops, d.throughput)
      end
    elseif spec.throughput_per_tib and size then
      local lo = math.max(spec.throughput[1], math.ceil(spec.throughput_per_tib[1] * size / 1024))
      local hi = math.max(lo, spec.throughput_per_tib[2] * size // 1024)
      if d.throughput < lo or d.throughput > hi then
        add("%s throughput for %d GB must be within %d-%d MiB/s (%d-%d per TiB); asked for %d",
            d.type, size, lo, hi, spec.throughput_per_tib[1], spec.throughput_per_tib[2], d.throughput)
      end
    end
  end
  if d.storage_pool and spec.family ~= "hyperdisk" then
    add("storage pools hold only hyperdisk; %s cannot go in one", d.type)
  end
  return problems
end

--- Checks what an instance will carry after the migration.
-- @tparam string machine_type the machine type it will have
-- @tparam {table,...} disks every disk it will have attached: {name, type, boot}
-- @treturn {string,...} problems
function M.check_instance(machine_type, disks)
  local problems = {}
  local hyper = 0
  for _, d in ipairs(disks) do
    local ok, why = M.machine_takes(machine_type, d.type)
    if ok == false then
      problems[#problems + 1] = ("disk '%s': %s"):format(d.name, why)
    end
    if M.is_hyperdisk(d.type) then hyper = hyper + 1 end
  end
  local limit = M.hyperdisk_limit(machine_type)
  if hyper > limit then
    problems[#problems + 1] = ("%d hyperdisk volumes exceed the limit of %d for %s")
        :format(hyper, limit, machine_type:match("([^/]+)$"))
  end
  local max = M.shared_core(machine_type) and M.disks_max_shared_core or M.disks_max
  if #disks > max then
    problems[#problems + 1] = ("%d disks exceed the limit of %d for %s")
        :format(#disks, max, machine_type:match("([^/]+)$"))
  end
  return problems
end

--- The regional quota metric (compute.proto's Quota.Metric) that a disk
-- type's capacity counts against, or nil when the API names none for it.
function M.quota_metric(disk_type)
  if disk_type == "pd-standard" then return "DISKS_TOTAL_GB" end
  if disk_type == "pd-ssd" or disk_type == "pd-balanced" then return "SSD_TOTAL_GB" end
  return nil
end

return M
