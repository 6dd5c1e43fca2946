--- workflows.discover: which disks a migration takes.
-- Two halves. `inventory` reads the project (disks, instances, snapshots and
-- quotas of the chosen zones) with a handful of list calls; `select` is a
-- pure function from that inventory and the command's selectors to the
-- disks to migrate and the ones skipped, each with its reason. Keeping the
-- choice pure makes it testable without Compute Engine and lets `--dry-run`
-- show exactly what a real run would take.
local naming = require "pdlua.migrate.naming"
local labels = require "pdlua.migrate.labels"

local M = {}


-- A shell-style wildcard ('*', '?') as an anchored Lua pattern.
local function glob_pattern(glob)
  local p = glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
  return "^" .. p .. "$"
end

--- Whether `name` matches any of the wildcard names.
function M.matches_any(name, globs)
  for _, g in ipairs(globs or {}) do
    if name:match(glob_pattern(g)) then return true end
  end
  return false
end

local function zone_set(zones)
  local s = {}
  for _, z in ipairs(zones or {}) do s[z] = true end
  return s
end

--- Adds `zone` and `short_type` to API disk and instance resources.
local function annotate(inv)
  for _, d in ipairs(inv.disks or {}) do
    d.zone = d.zone and naming.last(d.zone) or naming.zone_of(d.selfLink)
    d.short_type = naming.last(d.type)
  end
  for _, i in ipairs(inv.instances or {}) do
    i.zone = i.zone and naming.last(i.zone) or naming.zone_of(i.selfLink)
  end
end

--- Why a disk that the selectors chose is not migrated, or nil.
function M.skip_reason(d, target_type)
  local why = labels.skip_reason(d.labels, target_type)
  if why then return why end
  if d.short_type == target_type then
    return ("already %s"):format(target_type)
  end
  if d.users and #d.users > 1 then
    return ("attached to %d instances (multi-attach); pdlua moves a disk attached to one instance at most")
        :format(#d.users)
  end
  if d.status and d.status ~= "READY" then
    return ("disk is %s, not READY"):format(d.status)
  end
  local key = d.diskEncryptionKey
  if key and (key.rawKey or key.rsaEncryptedKey or (key.sha256 and not key.kmsKeyName)) then
    return "encrypted with a customer-supplied key, which pdlua cannot pass on"
  end
  return nil
end

local function labels_match(d, wanted)
  local have = d.labels or {}
  for _, l in ipairs(wanted or {}) do
    if have[l.key] ~= l.value then return false end
  end
  return true
end

local function type_match(d, types)
  if not types or #types == 0 then return true end
  for _, t in ipairs(types) do
    if d.short_type == t then return true end
  end
  return false
end

--- Chooses the disks to migrate.
-- @tparam table inv the inventory (see `inventory`)
-- @tparam table opts the command's options (pdlua.migrate.cli)
-- @treturn table {disks = {disk resource...}, skipped = {{disk=, reason=}...},
--   instances = {instance resource...} (instance mode: the chosen ones),
--   problems = {message...} (input errors: an instance that does not exist)}
function M.select(inv, opts)
  annotate(inv)
  local zones = zone_set(inv.zones)
  local by_ref = {}
  for _, d in ipairs(inv.disks or {}) do
    by_ref[naming.disk_ref(d.selfLink) or naming.disk_ref("zones/" .. d.zone .. "/disks/" .. d.name)] = d
  end
  local out = { disks = {}, skipped = {}, instances = {}, problems = {} }
  for _, p in ipairs(inv.problems or {}) do out.problems[#out.problems + 1] = p end
  local seen = {}
  local function consider(d)
    if seen[d] then return end
    seen[d] = true
    local why = M.skip_reason(d, opts.target_type)
    if why then
      out.skipped[#out.skipped + 1] = { disk = d, reason = why }
    else
      out.disks[#out.disks + 1] = d
    end
  end
  local sel = opts.selector or {}
  if opts.instances then
    local all = #opts.instances == 1 and opts.instances[1] == "*"
    local found = {}
    for _, inst in ipairs(inv.instances or {}) do
      if zones[inst.zone] and (all or M.matches_any(inst.name, opts.instances)) then
        out.instances[#out.instances + 1] = inst
        for _, g in ipairs(opts.instances) do
          if inst.name:match(glob_pattern(g)) then found[g] = true end
        end
        for _, a in ipairs(inst.disks or {}) do
          local d = by_ref[naming.disk_ref(a.source) or ""]
          if d and (a.type == nil or a.type == "PERSISTENT")
              and not M.matches_any(d.name, sel.exclude) then
            consider(d)
          end
        end
      end
    end
    if not all then
      for _, g in ipairs(opts.instances) do
        if not found[g] then
          out.problems[#out.problems + 1] = ("instance '%s' not found in %s"):format(
            g, table.concat(inv.zones or {}, ", "))
        end
      end
    end
  else
    for _, d in ipairs(inv.disks or {}) do
      if zones[d.zone]
          and (not sel.disks or M.matches_any(d.name, sel.disks))
          and not M.matches_any(d.name, sel.exclude)
          and labels_match(d, sel.labels)
          and type_match(d, sel.types)
          and (sel.attached == nil or (sel.attached == (d.users ~= nil and #d.users > 0))) then
        consider(d)
      end
    end
    if sel.disks then
      for _, g in ipairs(sel.disks) do
        if not g:find("[*?]") then
          local any = false
          for _, d in ipairs(inv.disks or {}) do
            if zones[d.zone] and d.name == g then any = true break end
          end
          if not any then
            out.problems[#out.problems + 1] = ("disk '%s' not found in %s"):format(
              g, table.concat(inv.zones or {}, ", "))
          end
        end
      end
    end
  end
  if opts.retain_name then M.add_ghosts(inv, opts, out, zones, by_ref, sel) end
  table.sort(out.disks, naming.by_zone_name)
  return out
end

--- With --retain-name, an original that a run deleted before it died —
-- and whose journal is lost — survives in its snapshot: its labels say
-- whose it is and where it was attached, its description holds the
-- original's own settings (tasks.snapshot). Such an original is planned
-- again as a disk of its own ("ghost"), so the migration finishes (or is
-- put back) instead of leaving its instance without it.
function M.add_ghosts(inv, opts, out, zones, by_ref, sel)
  sel = sel or {}
  local function disk_of(zone, name) return by_ref["zones/" .. zone .. "/disks/" .. name] end
  for _, s in ipairs(inv.snapshots or {}) do
    local ghost = labels.ghost(s, opts.target_type, zones, disk_of, inv.project or opts.project)
    if ghost then
      local name, zone, inst = ghost.name, ghost.zone, ghost.labels[labels.keys.instance]
      local wanted
      if opts.instances then
        local all = #opts.instances == 1 and opts.instances[1] == "*"
        wanted = inst ~= nil and (all or M.matches_any(inst, opts.instances))
      else
        wanted = (not sel.disks or M.matches_any(name, sel.disks)) and labels_match(ghost, sel.labels)
          and type_match(ghost, sel.types)
          and (sel.attached == nil or sel.attached == (inst ~= nil))
      end
      if wanted and not M.matches_any(name, sel.exclude) then
        -- It replaces the entry its replacement (same name) may have got.
        for i = #out.skipped, 1, -1 do
          local sk = out.skipped[i].disk
          if sk.name == name and sk.zone == zone then table.remove(out.skipped, i) end
        end
        out.disks[#out.disks + 1] = ghost
      end
    end
  end
end

-- Collects every page of a list call.
local function collect(iter)
  local out = {}
  for item in iter do out[#out + 1] = item end
  return out
end

--- Reads what a migration needs to know about the project.
-- @param client a gcp client
-- @tparam table opts {project, zones | region}
-- @treturn table inventory {project, zones, disks, instances, snapshots,
--   quotas = {regions = {[r] = {[metric] = {limit, usage}}}, project = {...}}
--   | nil, notes = {message...}}
function M.inventory(client, opts)
  local inv = { project = opts.project, notes = {} }
  local zones = opts.zones
  if not zones then
    -- Zones of a region: zones.list tells each zone's region.
    zones = {}
    for z in client.zones:list {} do
      if naming.last(z.region) == opts.region then zones[#zones + 1] = z.name end
    end
    table.sort(zones)
    if #zones == 0 then
      inv.problems = { ("region '%s' not found (no zone of the project is in it)"):format(opts.region) }
    end
  end
  inv.zones = zones
  inv.disks, inv.instances = {}, {}
  for _, z in ipairs(zones) do
    for _, d in ipairs(collect(client.disks:list { zone = z })) do inv.disks[#inv.disks + 1] = d end
    for _, i in ipairs(collect(client.instances:list { zone = z })) do
      inv.instances[#inv.instances + 1] = i
    end
  end
  -- Only pdlua's names matter (collisions, resumes): a project's other
  -- snapshots, possibly thousands, are not read.
  inv.snapshots = collect(client.snapshots:list { filter = 'name eq "pdlua-.*"' })
  -- Quota headroom is advice: a client or a project that does not report
  -- quotas (regions.get, projects.get) is noted, not refused.
  inv.quotas = { regions = {}, project = nil }
  if client.regions and client.regions.get then
    local regions = {}
    for _, z in ipairs(zones) do regions[naming.region_of_zone(z)] = true end
    for r in pairs(regions) do
      local ok, region = pcall(client.regions.get, client.regions, { region = r })
      if ok and type(region) == "table" and region.quotas then
        local q = {}
        for _, e in ipairs(region.quotas) do q[e.metric] = { limit = e.limit, usage = e.usage } end
        inv.quotas.regions[r] = q
      else
        inv.notes[#inv.notes + 1] = ("quota of region %s not checked: %s"):format(
          r, ok and "the region reports none" or tostring(region))
      end
    end
  else
    inv.notes[#inv.notes + 1] = "disk quota headroom not checked (regions.get is not available)"
  end
  if client.projects and client.projects.get then
    local ok, project = pcall(client.projects.get, client.projects, { project = opts.project })
    if ok and type(project) == "table" and project.quotas then
      local q = {}
      for _, e in ipairs(project.quotas) do q[e.metric] = { limit = e.limit, usage = e.usage } end
      inv.quotas.project = q
    end
  end
  return inv
end

return M
