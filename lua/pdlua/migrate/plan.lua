--- pdlua.migrate.plan: from the chosen disks to what will be done to each.
-- A plan is plain data (it goes into the journal before the first change):
-- per disk its names, its original settings and attachment, the new
-- disk's settings; per instance its original power state and machine type
-- and whether it must be stopped. Building it checks everything that can be
-- known in advance — machine series against disk types, attach counts,
-- hyperdisk ranges, sizes, name collisions, quota headroom — and refuses,
-- with the reason, what would fail. Pure: no API calls.
local naming = require "pdlua.migrate.naming"
local rules = require "pdlua.migrate.rules"
local claim = require "pdlua.migrate.claim"
local labels_mod = require "pdlua.migrate.labels"

local M = {}

local K = labels_mod.keys

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return c
end

-- The AttachedDisk of `inst` whose source is disk `d`.
local function attachment_of(inst, d)
  local ref = naming.disk_ref(d.selfLink) or ("zones/" .. d.zone .. "/disks/" .. d.name)
  for _, a in ipairs(inst.disks or {}) do
    if naming.disk_ref(a.source) == ref then return a end
  end
  return nil
end

-- What pdlua keeps of an attachment: everything `attachDisk` takes back.
local function keep_attachment(a)
  return {
    deviceName = a.deviceName,
    boot = a.boot and true or false,
    mode = a.mode or "READ_WRITE",
    autoDelete = a.autoDelete and true or false,
    interface = a.interface,
    index = a.index,
  }
end

-- A storage pool flag may be a name or a URL.
local function pool_url(project, zone, pool)
  if not pool then return nil end
  if pool:find("/", 1, true) then return pool end
  return ("projects/%s/zones/%s/storagePools/%s"):format(project, zone, pool)
end

-- The new disk's provisioned performance: the flag, else the original's
-- when both types take it, else the type's default (nil).
local function carried(flag, original, from_spec_has, to_spec_has)
  if flag then return flag end
  if original and from_spec_has and to_spec_has then return tonumber(original) end
  return nil
end

--- Builds the plan.
-- @tparam table inv inventory (workflows.discover.inventory)
-- @tparam table sel selection (workflows.discover.select)
-- @tparam table opts command options (pdlua.migrate.cli)
-- @treturn table plan {version, project, target_type, options, items,
--   groups = {[key] = group}, group_order, problems, notes}
function M.build(inv, sel, opts)
  local plan = {
    version = 1, run_id = opts.run_id, project = opts.project, target_type = opts.target_type,
    zones = copy(inv.zones), machine_type = opts.machine_type,
    options = {
      retain_name = opts.retain_name or false,
      delete_original = opts.delete_original or false,
      keep_snapshots = opts.keep_snapshots or false,
      iops = opts.iops, throughput = opts.throughput,
      storage_pool = opts.storage_pool, kms_key = opts.kms_key,
      take_over = opts.take_over,
    },
    items = {}, groups = {}, group_order = {}, problems = {}, notes = copy(inv.notes or {}),
  }
  for _, p in ipairs(sel.problems or {}) do plan.problems[#plan.problems + 1] = p end

  local instances = {}
  for _, i in ipairs(inv.instances or {}) do
    instances[naming.key(i.zone or naming.zone_of(i.selfLink), i.name)] = i
  end
  local disks_by_ref = {}
  for _, d in ipairs(inv.disks or {}) do
    disks_by_ref["zones/" .. d.zone .. "/disks/" .. d.name] = d
  end
  local disks_by_key = {}
  for _, d in ipairs(inv.disks or {}) do disks_by_key[naming.key(d.zone, d.name)] = d end
  local snapshots = {}
  for _, s in ipairs(inv.snapshots or {}) do snapshots[s.name] = s end

  local target = opts.target_type
  local to_spec = rules.disk_types[target]

  -- Skipped disks are in the plan so the report can say why.
  for _, s in ipairs(sel.skipped or {}) do
    local d = s.disk
    local inst = d.users and d.users[1] and naming.last(d.users[1])
    plan.items[#plan.items + 1] = {
      key = naming.key(d.zone, d.name), name = d.name, zone = d.zone, id = d.id,
      from_type = d.short_type, target_type = target, size_gb = d.sizeGb,
      instance = inst, status = "skipped", reason = s.reason,
    }
  end

  local function refuse(item, why)
    item.status = "skipped"
    item.refused = true
    item.reason = item.reason and (item.reason .. "; " .. why) or why
  end

  local group_of = {}
  local function group(key, fields)
    local g = plan.groups[key]
    if not g then
      g = fields
      g.key = key
      g.items = {}
      plan.groups[key] = g
      plan.group_order[#plan.group_order + 1] = key
    end
    return g
  end

  local new_names = {}
  for _, d in ipairs(sel.disks) do
    local from_spec = rules.disk_types[d.short_type] or {}
    local labels = d.labels or {}
    local item = {
      key = naming.key(d.zone, d.name), name = d.name, zone = d.zone, id = d.id,
      self_link = d.selfLink,
      from_type = d.short_type, target_type = target, size_gb = d.sizeGb,
      labels = labels_mod.own(labels), description = d.description,
      from_iops = d.provisionedIops, from_throughput = d.provisionedThroughput,
      kms_key = opts.kms_key or (d.diskEncryptionKey and d.diskEncryptionKey.kmsKeyName),
      from_kms_key = d.diskEncryptionKey and d.diskEncryptionKey.kmsKeyName,
      from_storage_pool = d.storagePool,
      storage_pool = pool_url(opts.project, d.zone, opts.storage_pool),
      new_iops = carried(opts.iops, d.provisionedIops, from_spec.iops, to_spec.iops),
      new_throughput = carried(opts.throughput, d.provisionedThroughput,
                               from_spec.throughput, to_spec.throughput),
      new_name = naming.new_disk_name(d.name, target, opts.retain_name),
      snapshot_name = naming.snapshot_name(opts.project, d.zone, d.name, d.id, target),
      status = "planned",
      label_fingerprint = d.labelFingerprint,
      resumed = labels_mod.resumed(labels) or nil,
      was_running = labels[K.was_running] == "true" or nil,
      ghost = d.ghost,
    }
    plan.items[#plan.items + 1] = item
    -- Another run's claim (pdlua.migrate.claim) keeps this run off the disk.
    if not claim.takeable(opts, labels) then
      refuse(item, claim.refusal("disk '" .. d.name .. "'", claim.holder(labels)))
    end

    local user = d.users and d.users[1]
    local inst = user and instances[naming.key(naming.zone_of(user) or d.zone, naming.last(user))]
    if user and not inst then
      refuse(item, ("its instance '%s' was not found"):format(naming.last(user)))
    end
    -- A resumed run without its journal finds the original detached (its
    -- replacement may already sit in its place); its labels say where it was.
    if not user and labels[K.instance] then
      inst = instances[naming.key(d.zone, labels[K.instance])]
      if not inst then
        refuse(item, ("its instance '%s' (from its pdlua labels) was not found")
          :format(labels[K.instance]))
      end
    end
    if inst then
      local a = attachment_of(inst, d)
      if a then
        item.attachment = keep_attachment(a)
      else
        item.attachment = labels_mod.attachment_from(labels)
        if not item.attachment then
          refuse(item, "its attachment could not be read")
        end
      end
      item.instance = inst.name
      local gkey = "instance/" .. naming.key(inst.zone, inst.name)
      local g = group(gkey, { kind = "instance", zone = inst.zone, instance = inst.name })
      table.insert(g.items, item.key)
      item.group = gkey
      group_of[gkey] = inst
    elseif not item.refused then
      local gkey = "disk/" .. item.key
      local g = group(gkey, { kind = "disk", zone = d.zone })
      table.insert(g.items, item.key)
      item.group = gkey
    end

    -- The new disk itself.
    for _, p in ipairs(rules.check_disk {
      type = target, size_gb = d.sizeGb, boot = item.attachment and item.attachment.boot,
      iops = item.new_iops, throughput = item.new_throughput, storage_pool = item.storage_pool,
    }) do refuse(item, p) end

    -- Names that would collide.
    if not opts.retain_name then
      local other = disks_by_key[naming.key(d.zone, item.new_name)]
      if other then
        local from = other.labels and other.labels[K.migrated_from]
        if from == d.name then
          item.new_exists = true
        else
          refuse(item, ("a disk named '%s' already exists in %s and was not made by pdlua from '%s': rename or delete it, or use --retain-name")
            :format(item.new_name, d.zone, d.name))
        end
      end
    end
    local nk = naming.key(d.zone, item.new_name)
    if new_names[nk] then
      refuse(item, ("its new name '%s' is also the new name of '%s'"):format(item.new_name, new_names[nk]))
    else
      new_names[nk] = d.name
    end
    local snap = snapshots[item.snapshot_name]
    if snap then
      local ours = snap.labels and snap.labels[K.source_disk] == d.name
        and (snap.sourceDiskId == nil or tostring(snap.sourceDiskId) == tostring(d.id))
      if ours then
        item.snapshot_exists = true
      else
        refuse(item, ("a snapshot named '%s' exists and is not pdlua's snapshot of this disk")
          :format(item.snapshot_name))
      end
    end
  end

  -- Per instance: power state, machine type, and what it will carry.
  for _, gkey in ipairs(plan.group_order) do
    local g = plan.groups[gkey]
    local inst = group_of[gkey]
    if inst then M.plan_instance(plan, g, inst, disks_by_ref, opts) end
  end
  -- Instance mode: chosen instances with no disk to move may still change
  -- machine type.
  if opts.instances and opts.machine_type then
    for _, inst in ipairs(sel.instances or {}) do
      local gkey = "instance/" .. naming.key(inst.zone, inst.name)
      if not plan.groups[gkey] then
        local g = group(gkey, { kind = "instance", zone = inst.zone, instance = inst.name })
        M.plan_instance(plan, g, inst, disks_by_ref, opts)
        if not g.target_machine_type and not g.refused then
          plan.groups[gkey] = nil
          table.remove(plan.group_order)
        end
      end
    end
  end

  -- Refused items leave their group.
  local by_key = M.index(plan)
  for _, gkey in ipairs(plan.group_order) do
    local g = plan.groups[gkey]
    local kept = {}
    for _, k in ipairs(g.items) do
      local item = by_key[k]
      if item.status == "planned" then kept[#kept + 1] = k end
    end
    g.items = kept
  end
  local order = {}
  for _, gkey in ipairs(plan.group_order) do
    local g = plan.groups[gkey]
    if #g.items > 0 or (g.target_machine_type and not g.refused) then
      order[#order + 1] = gkey
    else
      plan.groups[gkey] = nil
    end
  end
  plan.group_order = order

  M.check_quota(plan, inv)
  -- Plans and reports list disks by zone and name.
  table.sort(plan.items, naming.by_zone_name)
  return plan
end

local POWER_OK = { RUNNING = true, TERMINATED = true, STOPPED = true }

--- Plans one instance: its original power state (labels of a run that was
-- stopped by pdlua and killed say it ran), whether to stop it, its machine
-- type change, and whether it can carry its disks afterwards.
function M.plan_instance(plan, g, inst, disks_by_ref, opts)
  local by_key = M.index(plan)
  local items = {}
  for _, k in ipairs(g.items) do items[#items + 1] = by_key[k] end
  local status = inst.status
  local was_running = false
  for _, item in ipairs(items) do
    if item.was_running then was_running = true end
  end
  if was_running and status ~= "RUNNING" then
    status = "RUNNING"
    g.resumed = true
  end
  g.status = status
  g.machine_type = naming.last(inst.machineType)
  g.instance_id = inst.id
  g.labels, g.label_fingerprint = inst.labels or {}, inst.labelFingerprint
  local function refuse_all(why)
    g.refused = why
    for _, item in ipairs(items) do
      local msg = ("instance '%s': %s"):format(inst.name, why)
      if item.status == "planned" then
        item.status = "skipped"
        item.refused = true
        item.reason = msg
      elseif item.refused then
        item.reason = item.reason .. "; " .. msg
      end
    end
  end
  if not claim.takeable(opts, inst.labels) then
    refuse_all(claim.refusal("it", claim.holder(inst.labels)))
    return
  end
  if not POWER_OK[status] then
    refuse_all(("it is %s; run again once it is RUNNING or TERMINATED"):format(tostring(status)))
    return
  end
  if opts.machine_type and opts.machine_type ~= g.machine_type then
    g.target_machine_type = opts.machine_type
  end
  -- What it will carry once done.
  -- Disks refused for their own reasons count as moved here, so that the
  -- report also names what the instance could not carry.
  local planned = {}
  for _, item in ipairs(items) do
    if item.status == "planned" or item.refused then planned[item.key] = item end
  end
  local final, scratch = {}, false
  for _, a in ipairs(inst.disks or {}) do
    if a.type == "SCRATCH" then
      scratch = true
    else
      local ref = naming.disk_ref(a.source)
      local d = ref and disks_by_ref[ref]
      local t = d and d.short_type
      if d and planned[naming.key(d.zone, d.name)] then t = plan.target_type end
      final[#final + 1] = { name = d and d.name or naming.last(a.source), type = t,
                            boot = a.boot }
    end
  end
  -- Originals already detached by a killed run still count.
  for _, item in ipairs(items) do
    local found = false
    for _, f in ipairs(final) do if f.name == item.name or f.name == item.new_name then found = true end end
    if not found and (item.status == "planned" or item.refused) then
      final[#final + 1] = { name = item.name, type = plan.target_type,
                            boot = item.attachment and item.attachment.boot }
    end
  end
  local mt = g.target_machine_type or g.machine_type
  local problems = rules.check_instance(mt, final)
  local known = rules.machine_takes(mt, plan.target_type)
  if known == nil then
    plan.notes[#plan.notes + 1] = ("instance '%s': machine series of %s is not in pdlua's model; its compatibility with %s is not checked")
      :format(inst.name, mt, plan.target_type)
  end
  if #problems > 0 then
    local hint = ""
    if not g.target_machine_type and rules.is_hyperdisk(plan.target_type) then
      hint = " (use instance mode with --machine-type to change the series too)"
    end
    refuse_all(table.concat(problems, "; ") .. hint)
    return
  end
  local writes = false
  for _, item in ipairs(items) do
    if item.status == "planned" and item.attachment
        and (item.attachment.boot or item.attachment.mode ~= "READ_ONLY") then
      writes = true
    end
  end
  g.stop = status == "RUNNING" and (writes or g.target_machine_type ~= nil)
  if g.stop and scratch then
    refuse_all("it has local SSDs, whose data stopping it would discard")
    return
  end
  -- Boot disk first, then by device index, so attaches put things back in
  -- their order.
  table.sort(g.items, function(a, b)
    local ia, ib = by_key[a].attachment or {}, by_key[b].attachment or {}
    if (ia.boot or false) ~= (ib.boot or false) then return ia.boot or false end
    return (ia.index or 0) < (ib.index or 0)
  end)
end

--- Quota headroom: the new disks' capacity per region and quota metric,
-- and the snapshots, against what the project reports as free. Originals
-- are kept until the end, so nothing is freed before the new disks exist.
function M.check_quota(plan, inv)
  local quotas = inv.quotas
  if not quotas then return end
  local need = {}
  local snaps = 0
  for _, item in ipairs(plan.items) do
    if item.status == "planned" then
      local region = naming.region_of_zone(item.zone)
      local metric = rules.quota_metric(item.target_type)
      if metric then
        need[region] = need[region] or {}
        need[region][metric] = (need[region][metric] or 0) + (tonumber(item.size_gb) or 0)
      end
      if not item.snapshot_exists then snaps = snaps + 1 end
    end
  end
  for region, metrics in pairs(need) do
    local q = quotas.regions and quotas.regions[region]
    for metric, gb in pairs(metrics) do
      local e = q and q[metric]
      if e then
        local free = (tonumber(e.limit) or 0) - (tonumber(e.usage) or 0)
        if gb > free then
          plan.problems[#plan.problems + 1] = ("quota %s in %s: the new disks need %d GB, %d GB are free")
            :format(metric, region, gb, math.floor(free))
        end
      end
    end
  end
  local e = quotas.project and quotas.project.SNAPSHOTS
  if e and snaps > 0 then
    local free = (tonumber(e.limit) or 0) - (tonumber(e.usage) or 0)
    if snaps > free then
      plan.problems[#plan.problems + 1] = ("quota SNAPSHOTS: %d snapshots needed, %d free")
        :format(snaps, math.floor(free))
    end
  end
end

--- item key -> item.
function M.index(plan)
  local by_key = {}
  for _, item in ipairs(plan.items) do by_key[item.key] = item end
  return by_key
end

--- Counts of planned and skipped items, and refused ones among the skipped.
function M.counts(plan)
  local c = { planned = 0, skipped = 0, refused = 0 }
  for _, item in ipairs(plan.items) do
    c[item.status] = (c[item.status] or 0) + 1
    if item.refused then c.refused = c.refused + 1 end
  end
  return c
end

return M
