--- The Compute Engine v1 methods the emulator serves, with the real API's
-- rules and error bodies (docs/emulator.md lists them).
--
-- `compute.match(method, segments)` finds the route for a request under
-- /compute/v1/projects/{project}/; `route.run(ctx)` runs it and returns
-- the response table. ctx carries the model, the query, the raw body, the
-- caller's principal, the requestId and any fault decided for the request.
-- Handlers validate against the state at the request's instant (the
-- model is settled), create an operation whose effects land when it is
-- DONE, and return the Operation; invalid requests raise error values
-- (emu.errors) that the router turns into the API's error bodies.
local core = require "pdlua.core"
local json = require "emu.json"
local errors = require "emu.errors"
local catalog = require "emu.catalog"
local listing = require "emu.listing"

local M = {}

------------------------------------------------------------------ helpers

local NAME_RE = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"

local function valid_name(s)
  return type(s) == "string" and #s <= 63 and s:match("^[a-z][-a-z0-9]*$") ~= nil
         and s:sub(-1) ~= "-"
end

local function check_name(field, s)
  if s == nil or s == "" then errors.required(field) end
  if not valid_name(s) then
    errors.invalid(field, s, "Must be a match of regex '" .. NAME_RE .. "'")
  end
end

-- Label keys and values: lowercase letters, digits, "_" and "-", and
-- international (non-ASCII, UTF-8) characters; at most 63 characters; a
-- key starts with a lowercase or international letter. Messages are the
-- API's, which name the whole map's field with the value ''.
local function label_chars_ok(s, key)
  if type(s) ~= "string" then return false end
  local n = utf8.len(s)
  if not n or n > 63 or (key and n == 0) then return false end
  if key and not s:match("^[a-z\128-\255]") then return false end
  return s:match("^[a-z0-9_%-\128-\255]*$") ~= nil
end

local function check_labels(field, labels)
  if labels == nil then return {} end
  if type(labels) ~= "table" then errors.invalid(field, tostring(labels), "Labels must be a map.") end
  local n = 0
  for k, v in pairs(labels) do
    n = n + 1
    if not label_chars_ok(k, true) then
      errors.invalid(field, "", string.format("Label key '%s' violates format constraints. The key " ..
        "must start with a lowercase character, can only contain lowercase letters, numeric " ..
        "characters, underscores and dashes. The key can be at most 63 characters long. " ..
        "International characters are allowed.", tostring(k)))
    end
    if not label_chars_ok(v, false) then
      errors.invalid(field, "", string.format("Label value '%s' violates format constraints. The " ..
        "value can only contain lowercase letters, numeric characters, underscores and dashes. " ..
        "The value can be at most 63 characters long. International characters are allowed.",
        tostring(v)))
    end
  end
  if n > 64 then errors.invalid(field, "", "Resource can have at most 64 labels.") end
  local c = {}
  for k, v in pairs(labels) do c[k] = v end
  return c
end

local function uuid_ok(s)
  return s:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$")
         and s ~= "00000000-0000-0000-0000-000000000000"
end

local function ctx_body(ctx)
  if ctx.decoded ~= nil then return ctx.decoded end
  local raw = ctx.body or ""
  if raw:match("^%s*$") then
    ctx.decoded = {}
    return ctx.decoded
  end
  local v, err = json.decode(raw)
  if type(v) ~= "table" then
    errors.raise(400, "parseError", "Invalid JSON payload received. " .. tostring(err or "Expected an object."))
  end
  ctx.decoded = json.clean(v)
  return ctx.decoded
end
M.body = ctx_body

local function bool_param(v)
  if v == true or v == "true" or v == "True" or v == "1" then return true end
  if v == false or v == "false" or v == "False" or v == "0" then return false end
  return nil
end

local function op_response(m, op)
  return {status = 200, body = m:op_view(op)}
end

-- Looks a resource up or raises 404 with the real message.
local function get_disk(m, zone, name)
  local d = m:zone_disks(zone)[name]
  if not d then errors.not_found(m:path("zones", zone, "disks", name)) end
  return d
end

local function get_instance(m, zone, name)
  local i = m:zone_instances(zone)[name]
  if not i then errors.not_found(m:path("zones", zone, "instances", name)) end
  return i
end

local function get_snapshot(m, name)
  local s = m.snapshots[name]
  if not s then errors.not_found(m:path("global", "snapshots", name)) end
  return s
end

-- Common fields of an operation created for this request.
local function op_spec(ctx, spec)
  spec.user = ctx.user
  spec.client_id = ctx.request_id
  spec.fail = ctx.fail_op
  spec.names = ctx.names
  return spec
end

------------------------------------------------------------------ lists

-- Builds a list response. `objs` is an array of {key, obj}; `view(obj)`
-- makes the API table; `created(obj)` its creationTimestamp.
-- `lazy(obj)` (optional) gives a view whose fields are computed on demand,
-- used to filter and sort without building every full view.
local function list_response(ctx, kind, self_link, objs, view, lazy)
  local filter = listing.parse_filter(ctx.query.filter)
  lazy = lazy or view
  local entries = {}
  for _, e in ipairs(objs) do
    if filter then
      local v = lazy(e.obj)
      if listing.matches(filter, v) then
        entries[#entries + 1] = {key = e.key, obj = e.obj, probe = v}
      end
    else
      entries[#entries + 1] = {key = e.key, obj = e.obj}
    end
  end
  local page, token = listing.page(entries, ctx.query, function(e, field)
    e.probe = e.probe or lazy(e.obj)
    return e.probe[field]
  end)
  local items = {}
  for i, e in ipairs(page) do items[i] = view(e.obj) end
  local id = self_link:match("/compute/v1/(.*)$")
  return {status = 200, body = {
    kind = kind, id = id, items = #items > 0 and items or nil,
    selfLink = self_link, nextPageToken = token,
  }}
end

-- Aggregated list: entries keyed "zones/Z" + name, grouped per zone.
local function aggregated_response(ctx, kind, field, self_link, m, per_zone, view, lazy)
  local filter = listing.parse_filter(ctx.query.filter)
  local entries = {}
  for _, z in ipairs(m.zone_names) do
    local scope = "zones/" .. z
    for name, obj in pairs(per_zone(z)) do
      local e = {key = scope .. "/" .. name, scope = scope, obj = obj}
      if filter then
        e.probe = lazy(obj)
        if listing.matches(filter, e.probe) then entries[#entries + 1] = e end
      else
        entries[#entries + 1] = e
      end
    end
  end
  local page, token = listing.page(entries, ctx.query, function(e, f)
    e.probe = e.probe or lazy(e.obj)
    return e.probe[f]
  end)
  local items = {}
  for _, e in ipairs(page) do
    local bucket = items[e.scope]
    if not bucket then
      bucket = {[field] = {}}
      items[e.scope] = bucket
    end
    bucket[field][#bucket[field] + 1] = view(e.obj)
  end
  for _, z in ipairs(m.zone_names) do
    local scope = "zones/" .. z
    if not items[scope] then
      items[scope] = {warning = {
        code = "NO_RESULTS_ON_PAGE",
        message = string.format("There are no results for scope '%s' on this page.", scope),
        data = {{key = "scope", value = scope}},
      }}
    end
  end
  return {status = 200, body = {
    kind = kind, id = self_link:match("/compute/v1/(.*)$"), items = items,
    selfLink = self_link, nextPageToken = token,
  }}
end

local function keyed(t)
  local out = {}
  for name, obj in pairs(t) do out[#out + 1] = {key = name, obj = obj} end
  return out
end

------------------------------------------------------------------ catalogue

--- The list and aggregatedList handlers of a zonal collection (disks,
-- instances): `kind` "disk" gives compute#diskList and
-- compute#diskAggregatedList; in_zone(m, z) is the zone's resources,
-- view(m, r) a resource's full view (lazy views come from m:lazy_view).
local function zonal_lists(kind, collection, in_zone, view)
  local function list(ctx)
    local m, z = ctx.model, ctx.params.zone
    return list_response(ctx, "compute#" .. kind .. "List", m:link("zones", z, collection),
                         keyed(in_zone(m, z)), function(r) return view(m, r) end,
                         function(r) return m:lazy_view(kind, r) end)
  end
  local function aggregated(ctx)
    local m = ctx.model
    return aggregated_response(ctx, "compute#" .. kind .. "AggregatedList", collection,
                               m:link("aggregated", collection), m,
                               function(z) return in_zone(m, z) end,
                               function(r) return view(m, r) end,
                               function(r) return m:lazy_view(kind, r) end)
  end
  return list, aggregated
end

local function zones_list(ctx)
  local m = ctx.model
  local objs = {}
  for _, z in ipairs(m.zone_names) do objs[#objs + 1] = {key = z, obj = z} end
  return list_response(ctx, "compute#zoneList", m:link("zones"), objs,
                       function(z) return m:zone_view(z) end)
end

local function zones_get(ctx)
  local m = ctx.model
  return {status = 200, body = m:zone_view(ctx.params.zone)}
end

local function disk_types_list(ctx)
  local m, z = ctx.model, ctx.params.zone
  local objs = {}
  for _, n in ipairs(catalog.disk_type_names) do objs[#objs + 1] = {key = n, obj = n} end
  return list_response(ctx, "compute#diskTypeList", m:link("zones", z, "diskTypes"), objs,
                       function(n) return m:disk_type_view(z, n) end)
end

local function disk_types_get(ctx)
  local m, z, n = ctx.model, ctx.params.zone, ctx.params.diskType
  if not catalog.disk_types[n] then errors.not_found(m:path("zones", z, "diskTypes", n)) end
  return {status = 200, body = m:disk_type_view(z, n)}
end

local function machine_types_list(ctx)
  local m, z = ctx.model, ctx.params.zone
  local objs = {}
  for _, n in ipairs(catalog.machine_type_names) do
    objs[#objs + 1] = {key = n, obj = catalog.machine_type(n)}
  end
  return list_response(ctx, "compute#machineTypeList", m:link("zones", z, "machineTypes"), objs,
                       function(mt) return m:machine_type_view(z, mt) end)
end

local function machine_types_get(ctx)
  local m, z, n = ctx.model, ctx.params.zone, ctx.params.machineType
  local mt = catalog.machine_type(n)
  if not mt then errors.not_found(m:path("zones", z, "machineTypes", n)) end
  return {status = 200, body = m:machine_type_view(z, mt)}
end

------------------------------------------------------------------ disks

local disks_list, disks_aggregated = zonal_lists("disk", "disks",
  function(m, z) return m:zone_disks(z) end, function(m, d) return m:disk_view(d) end)

local function disks_get(ctx)
  local m = ctx.model
  return {status = 200, body = m:disk_view(get_disk(m, ctx.params.zone, ctx.params.disk))}
end

-- Resolves a disk type reference in `zone`; raises 400 on a bad one.
local function resolve_disk_type(m, zone, ref)
  if ref == nil then return "pd-standard" end
  local segs = m:parse_ref(ref)
  if not segs or #segs ~= 4 or segs[1] ~= "zones" or segs[3] ~= "diskTypes" then
    errors.invalid("resource.type", ref, "The URL is malformed.")
  end
  if segs[2] ~= zone then
    errors.invalid("resource.type", ref, "Disk type must be in the same zone as the disk.")
  end
  if not catalog.disk_types[segs[4]] then
    errors.invalid("resource.type", ref, string.format("Disk type '%s' does not exist in zone '%s'.",
                                                        segs[4], zone))
  end
  return segs[4]
end

local function resolve_snapshot(m, ref, field)
  local segs, project = m:parse_ref(ref)
  if not segs or #segs ~= 3 or segs[1] ~= "global" or segs[2] ~= "snapshots" then
    errors.invalid(field, ref, "The URL is malformed.")
  end
  if project ~= m.project then
    errors.not_found(string.format("projects/%s/global/snapshots/%s", project, segs[3]))
  end
  return get_snapshot(m, segs[3])
end

local function resolve_disk(m, ref, field, want_zone)
  local segs, project = m:parse_ref(ref)
  if not segs or #segs ~= 4 or segs[1] ~= "zones" or segs[3] ~= "disks" then
    errors.invalid(field, ref, "The URL is malformed.")
  end
  if project ~= m.project then
    errors.not_found(string.format("projects/%s/zones/%s/disks/%s", project, segs[2], segs[4]))
  end
  if want_zone and segs[2] ~= want_zone then
    errors.invalid(field, ref, "Disk must be in the same zone as the instance.")
  end
  return get_disk(m, segs[2], segs[4])
end

local function check_provisioning(body, type_name, size)
  local dt = catalog.disk_types[type_name]
  local iops = body.provisionedIops ~= nil and json.int(body.provisionedIops) or nil
  local tput = body.provisionedThroughput ~= nil and json.int(body.provisionedThroughput) or nil
  if body.provisionedIops ~= nil and not iops then
    errors.invalid("resource.provisionedIops", body.provisionedIops)
  end
  if body.provisionedThroughput ~= nil and not tput then
    errors.invalid("resource.provisionedThroughput", body.provisionedThroughput)
  end
  if iops and not dt.iops then
    errors.invalid("resource.provisionedIops", iops,
                   string.format("Provisioned IOPS cannot be set for disk type '%s'.", type_name))
  end
  if tput and not dt.tput then
    errors.invalid("resource.provisionedThroughput", tput,
                   string.format("Provisioned throughput cannot be set for disk type '%s'.", type_name))
  end
  if dt.iops then
    iops = iops or dt.default_iops
    local lo, hi = catalog.iops_range(type_name, size)
    if iops < lo or iops > hi then
      errors.invalid("resource.provisionedIops", iops, string.format(
        "Requested provisioned IOPS is outside the allowed range [%d, %d] for a %d GB %s disk.",
        lo, hi, size, type_name))
    end
  end
  if dt.tput then
    local lo, hi = catalog.tput_range(type_name, size, iops)
    tput = tput or math.max(dt.default_tput, lo)
    if tput < lo or tput > hi then
      errors.invalid("resource.provisionedThroughput", tput, string.format(
        "Requested provisioned throughput is outside the allowed range [%d, %d] MiB/s for a %d GB %s disk.",
        lo, hi, size, type_name))
    end
  end
  return iops, tput
end

local function disks_insert(ctx)
  local m, zone = ctx.model, ctx.params.zone
  local body = ctx_body(ctx)
  check_name("resource.name", body.name)
  if m:zone_disks(zone)[body.name] then
    errors.already_exists(m:path("zones", zone, "disks", body.name))
  end
  local type_name = resolve_disk_type(m, zone, body.type)
  local dt = catalog.disk_types[type_name]
  local snap
  if body.sourceSnapshot ~= nil then
    snap = resolve_snapshot(m, body.sourceSnapshot, "resource.sourceSnapshot")
    if snap.status ~= "READY" then errors.not_ready(m:path("global", "snapshots", snap.name)) end
  end
  local size
  if body.sizeGb ~= nil then
    size = json.int(body.sizeGb)
    if not size then errors.invalid("resource.sizeGb", body.sizeGb) end
  else
    size = snap and snap.disk_size_gb or dt.default
  end
  if snap and size < snap.disk_size_gb then
    errors.invalid("resource.sizeGb", size, string.format(
      "Requested disk size cannot be smaller than the snapshot size (%d GB)", snap.disk_size_gb))
  end
  if size < dt.min or size > dt.max then
    errors.invalid("resource.sizeGb", size, string.format(
      "Disk size must be between %d GB and %d GB for disk type '%s'.", dt.min, dt.max, type_name))
  end
  local iops, tput = check_provisioning(body, type_name, size)
  local labels = check_labels("resource.labels", body.labels)

  local fingerprint
  if snap then fingerprint = snap.fingerprint
  elseif body.sourceImage then fingerprint = m:content_fingerprint("image", tostring(body.sourceImage))
  else fingerprint = m:fresh_fingerprint("blank/" .. zone .. "/" .. body.name) end

  local d = m:add_disk(zone, {
    name = body.name, type = type_name, size_gb = size, labels = labels,
    description = body.description, status = snap and "RESTORING" or "CREATING",
    fingerprint = fingerprint, iops = iops, tput = tput,
    source_snapshot = snap and snap.name, source_snapshot_id = snap and snap.id,
    source_image = body.sourceImage,
    guest_os_features = body.guestOsFeatures or (snap and snap.guest_os_features),
    licenses = body.licenses or (snap and snap.licenses),
    architecture = body.architecture or (snap and snap.architecture),
    block_size = json.int(body.physicalBlockSizeBytes),
  })
  local disks = m:zone_disks(zone)
  local op = m:new_op(op_spec(ctx, {
    scope = zone, type = "insert", kind = snap and "restore" or "insert", size_gb = size,
    target_link = m:link("zones", zone, "disks", d.name), target_id = d.id, serial = d.serial,
    on_done = function(_, failed)
      if disks[d.name] ~= d then return end
      if failed then disks[d.name] = nil else d.status = "READY" end
    end,
  }))
  return op_response(m, op)
end

local function disks_delete(ctx)
  local m, zone = ctx.model, ctx.params.zone
  local d = get_disk(m, zone, ctx.params.disk)
  local path = m:path("zones", zone, "disks", d.name)
  if #d.users > 0 then
    errors.in_use("disk", path, m:path("zones", zone, "instances", d.users[1]))
  end
  if d.pending_attach then
    errors.in_use("disk", path, m:path("zones", zone, "instances", d.pending_attach))
  end
  if d.status ~= "READY" or (d.snapshotting or 0) > 0 then errors.not_ready(path) end
  d.status = "DELETING"
  local disks = m:zone_disks(zone)
  local op = m:new_op(op_spec(ctx, {
    scope = zone, type = "delete", target_link = m:link("zones", zone, "disks", d.name),
    target_id = d.id, serial = d.serial,
    on_done = function(_, failed)
      if disks[d.name] ~= d then return end
      if failed then d.status = "READY" else disks[d.name] = nil end
    end,
  }))
  return op_response(m, op)
end

-- setLabels for any resource with labels/label_fp; the change is visible at
-- once (the real API applies label changes within the request).
local function set_labels(ctx, res, scope, target_link)
  local m = ctx.model
  local body = ctx_body(ctx)
  local labels = check_labels("labels", body.labels)
  if body.labelFingerprint ~= res.label_fp then
    errors.condition_not_met("Labels fingerprint either invalid or resource labels have changed")
  end
  local old, old_fp = res.labels, res.label_fp
  res.labels = labels
  res.label_fp = m:label_fingerprint(labels)
  local new_fp = res.label_fp
  local op = m:new_op(op_spec(ctx, {
    scope = scope, type = "setLabels", target_link = target_link, target_id = res.id,
    on_done = function(_, failed)
      if failed and res.label_fp == new_fp then
        res.labels, res.label_fp = old, old_fp
      end
    end,
  }))
  return op_response(m, op)
end

local function disks_set_labels(ctx)
  local m, zone = ctx.model, ctx.params.zone
  local d = get_disk(m, zone, ctx.params.disk)
  return set_labels(ctx, d, zone, m:link("zones", zone, "disks", d.name))
end

-- Takes a snapshot of disk d. zonal: disks.createSnapshot (a zonal
-- operation on the disk) rather than snapshots.insert (a global one).
local function snapshot_disk(ctx, d, body, zonal)
  local m = ctx.model
  check_name("resource.name", body.name)
  if m.snapshots[body.name] then errors.already_exists(m:path("global", "snapshots", body.name)) end
  if d.status ~= "READY" then errors.not_ready(m:path("zones", d.zone, "disks", d.name)) end
  local labels = check_labels("resource.labels", body.labels)
  local s = m:add_snapshot({
    name = body.name, status = "CREATING", source_disk = {zone = d.zone, name = d.name},
    source_disk_id = d.id, disk_size_gb = d.size_gb, labels = labels,
    description = body.description, fingerprint = d.fingerprint,
    storage_locations = body.storageLocations or {catalog.multi_region(d.zone)},
    guest_os_features = d.guest_os_features, licenses = d.licenses, architecture = d.architecture,
  })
  d.snapshotting = (d.snapshotting or 0) + 1
  d.snapshots_creating = d.snapshots_creating or {}
  d.snapshots_creating[s.name] = true
  local creating = true
  local function end_creating()
    if creating then
      creating = false
      d.snapshotting = d.snapshotting - 1
      d.snapshots_creating[s.name] = nil
    end
  end
  local snaps = m.snapshots
  local op = m:new_op(op_spec(ctx, {
    scope = zonal and d.zone or nil, type = zonal and "createSnapshot" or "insert",
    kind = "createSnapshot", size_gb = d.size_gb,
    target_link = zonal and m:link("zones", d.zone, "disks", d.name)
                  or m:link("global", "snapshots", s.name),
    target_id = zonal and d.id or s.id, serial = s.serial,
    on_done = function(_, failed)
      end_creating()
      if snaps[s.name] ~= s then return end
      if failed then
        snaps[s.name] = nil
      else
        s.status = "READY"
        s.storage_bytes = m:storage_bytes(s)
      end
    end,
  }))
  -- CREATING while the disk is read, then UPLOADING: the disk may be
  -- deleted once the snapshot is uploading.
  m:at(op.start_t + 0.3 * (op.end_t - op.start_t), function()
    end_creating()
    if snaps[s.name] == s and s.status == "CREATING" then s.status = "UPLOADING" end
  end)
  return op_response(m, op)
end

local function disks_create_snapshot(ctx)
  local m = ctx.model
  local d = get_disk(m, ctx.params.zone, ctx.params.disk)
  return snapshot_disk(ctx, d, ctx_body(ctx), true)
end

------------------------------------------------------------------ snapshots

local function snapshots_list(ctx)
  local m = ctx.model
  return list_response(ctx, "compute#snapshotList", m:link("global", "snapshots"),
                       keyed(m.snapshots), function(s) return m:snapshot_view(s) end,
                       function(s) return m:lazy_view("snapshot", s) end)
end

local function snapshots_get(ctx)
  local m = ctx.model
  return {status = 200, body = m:snapshot_view(get_snapshot(m, ctx.params.snapshot))}
end

local function snapshots_insert(ctx)
  local m = ctx.model
  local body = ctx_body(ctx)
  if body.sourceDisk == nil then errors.required("resource.sourceDisk") end
  local d = resolve_disk(m, body.sourceDisk, "resource.sourceDisk")
  return snapshot_disk(ctx, d, body, false)
end

local function snapshots_delete(ctx)
  local m = ctx.model
  local s = get_snapshot(m, ctx.params.snapshot)
  if s.status ~= "READY" then errors.not_ready(m:path("global", "snapshots", s.name)) end
  s.status = "DELETING"
  local snaps = m.snapshots
  local op = m:new_op(op_spec(ctx, {
    type = "delete", kind = "delete", target_link = m:link("global", "snapshots", s.name),
    target_id = s.id, serial = s.serial,
    on_done = function(_, failed)
      if snaps[s.name] ~= s then return end
      if failed then s.status = "READY" else snaps[s.name] = nil end
    end,
  }))
  return op_response(m, op)
end

local function snapshots_set_labels(ctx)
  local m = ctx.model
  local s = get_snapshot(m, ctx.params.snapshot)
  return set_labels(ctx, s, nil, m:link("global", "snapshots", s.name))
end

------------------------------------------------------------------ instances

local instances_list, instances_aggregated = zonal_lists("instance", "instances",
  function(m, z) return m:zone_instances(z) end, function(m, i) return m:instance_view(i) end)

local function instances_get(ctx)
  local m = ctx.model
  return {status = 200, body = m:instance_view(get_instance(m, ctx.params.zone, ctx.params.instance))}
end

local function instance_link(m, inst)
  return m:link("zones", inst.zone, "instances", inst.name)
end

local function instances_stop(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  local idle = inst.status == "TERMINATED" and (inst.serial.busy_until or 0) <= m.now
  local state = {}
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "stop", kind = idle and "setDiskAutoDelete" or "stop",
    target_link = instance_link(m, inst), target_id = inst.id, serial = inst.serial,
    on_start = function()
      if inst.status ~= "TERMINATED" then
        state.was = inst.status == "STAGING" and "RUNNING" or inst.status
        inst.status = "STOPPING"
      end
    end,
    on_done = function(t, failed)
      if not state.was then return end
      if failed then
        inst.status = state.was
      else
        inst.status = "TERMINATED"
        inst.last_stop = m:timestamp(t)
      end
    end,
  }))
  return op_response(m, op)
end

local function instances_start(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  -- a snapshot of the boot disk being taken keeps the instance from
  -- starting (Compute Engine's VM start-up troubleshooting guide quotes
  -- "The instance resource '...' is already being used by
  -- 'projects/.../global/snapshots/...'")
  for _, a in ipairs(inst.attached) do
    local d = a.boot and m:zone_disks(inst.zone)[a.disk]
    local snap = d and d.snapshots_creating and next(d.snapshots_creating)
    if snap and inst.status == "TERMINATED" then
      errors.in_use("instance", m:path("zones", inst.zone, "instances", inst.name),
                    m:path("global", "snapshots", snap))
    end
  end
  local idle = inst.status == "RUNNING" and (inst.serial.busy_until or 0) <= m.now
  local state = {}
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "start", kind = idle and "setDiskAutoDelete" or "start",
    target_link = instance_link(m, inst), target_id = inst.id, serial = inst.serial,
    on_start = function()
      if inst.status == "TERMINATED" then
        state.started = true
        inst.status = "STAGING"
      end
    end,
    on_done = function(t, failed)
      if not state.started then return end
      if failed then
        inst.status = "TERMINATED"
      else
        inst.status = "RUNNING"
        inst.last_start = m:timestamp(t)
      end
    end,
  }))
  return op_response(m, op)
end

local function has_boot(inst)
  for _, a in ipairs(inst.attached) do if a.boot then return true end end
  for _, p in pairs(inst.pending_attach) do if p.boot then return true end end
  return false
end

local function instances_attach_disk(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  local body = ctx_body(ctx)
  if body.source == nil then errors.required("resource.source") end
  local d = resolve_disk(m, body.source, "resource.source", inst.zone)
  local dpath = m:path("zones", d.zone, "disks", d.name)
  local ipath = m:path("zones", inst.zone, "instances", inst.name)
  if d.status ~= "READY" then errors.not_ready(dpath) end
  local mode = body.mode or "READ_WRITE"
  if mode ~= "READ_WRITE" and mode ~= "READ_ONLY" then errors.invalid("resource.mode", mode) end
  -- A disk already attached to this instance, being attached anywhere, or
  -- attached elsewhere unless both sides are READ_ONLY: the real API
  -- accepts the request and the operation fails with
  -- RESOURCE_IN_USE_BY_ANOTHER_RESOURCE (httpErrorStatusCode 400).
  local holder
  for _, u in ipairs(d.users) do
    if u == inst.name then holder = inst.name end
  end
  if not holder and d.pending_attach then holder = d.pending_attach end
  if not holder and #d.users > 0 then
    local shared = mode == "READ_ONLY"
    for _, u in ipairs(d.users) do
      local oi = m:zone_instances(d.zone)[u]
      for _, a in ipairs(oi and oi.attached or {}) do
        if a.disk == d.name and a.mode ~= "READ_ONLY" then shared = false end
      end
    end
    if not shared then holder = d.users[1] end
  end
  local dt = catalog.disk_types[d.type]
  if mode == "READ_ONLY" and dt and dt.hyperdisk then
    errors.bad_request(string.format("%s disk type cannot be attached in read-only mode.", d.type))
  end
  local dev = body.deviceName
  if dev ~= nil then
    if type(dev) ~= "string" or not dev:match("^[%w_%-]+$") or #dev > 63 then
      errors.invalid("resource.deviceName", dev)
    end
    if m:attachment(inst, dev) or inst.pending_attach[dev] then
      errors.invalid("resource.deviceName", dev, string.format(
        "A disk with device name '%s' is already attached to instance '%s'.", dev, ipath))
    end
  end
  local boot = body.boot == true
  if boot then
    if has_boot(inst) then errors.invalid("resource.boot", "true", "The instance already has a boot disk.") end
    if inst.status ~= "TERMINATED" then
      errors.invalid_usage("To attach the boot disk, the instance must be in TERMINATED state.")
    end
  end
  local bad = catalog.incompatibility(d.type, inst.machine_type, boot)
  if bad then errors.bad_request(bad) end
  local fail = ctx.fail_op
  if not fail and holder then
    fail = {code = "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", http = 400, message = string.format(
      "The disk resource '%s' is already being used by '%s'", dpath,
      m:path("zones", d.zone, "instances", holder))}
  end
  local count = #inst.attached
  for _ in pairs(inst.pending_attach) do count = count + 1 end
  if not fail and count >= catalog.max_disks(inst.machine_type) then
    fail = {code = "UNSUPPORTED_OPERATION", http = 400, message = string.format(
      "Exceeded limit 'MAX_DISKS' on resource '%s'. Limit: %d", inst.name,
      catalog.max_disks(inst.machine_type))}
  end
  -- an attachment that will fail reserves neither the device name nor the disk
  local key = dev or ("#" .. d.name)
  if not holder then
    inst.pending_attach[key] = {disk = d.name, boot = boot}
    d.pending_attach = inst.name
  end
  local iface = body.interface
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "attachDisk", target_link = instance_link(m, inst),
    target_id = inst.id, serial = inst.serial,
    on_done = function(t, failed)
      if holder then return end
      inst.pending_attach[key] = nil
      if d.pending_attach == inst.name then d.pending_attach = nil end
      if failed or m:zone_disks(d.zone)[d.name] ~= d then return end
      m:attach(inst, d, {device_name = dev, boot = boot, auto_delete = body.autoDelete == true,
                         mode = mode, interface = iface}, t)
    end,
  }))
  if fail and not op.fail then op.fail = fail end
  return op_response(m, op)
end

local function instances_detach_disk(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  local dev = ctx.query.deviceName
  if dev == nil or dev == "" then errors.required("deviceName") end
  local a = m:attachment(inst, dev)
  if not a or inst.pending_detach[dev] then
    errors.invalid("deviceName", dev, string.format("No attached disk with device name '%s' on instance '%s'.",
                                                     dev, m:path("zones", inst.zone, "instances", inst.name)))
  end
  if a.boot and inst.status ~= "TERMINATED" then
    errors.invalid_usage("To detach the boot disk, the instance must be in TERMINATED state.")
  end
  inst.pending_detach[dev] = true
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "detachDisk", target_link = instance_link(m, inst),
    target_id = inst.id, serial = inst.serial,
    on_done = function(t, failed)
      inst.pending_detach[dev] = nil
      if not failed then m:detach(inst, dev, t) end
    end,
  }))
  return op_response(m, op)
end

local function instances_set_disk_auto_delete(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  local auto = bool_param(ctx.query.autoDelete)
  if ctx.query.autoDelete == nil then errors.required("autoDelete") end
  if auto == nil then errors.invalid("autoDelete", ctx.query.autoDelete) end
  local dev = ctx.query.deviceName
  if dev == nil or dev == "" then errors.required("deviceName") end
  local a = m:attachment(inst, dev)
  if not a then
    errors.invalid("deviceName", dev, string.format("No attached disk with device name '%s' on instance '%s'.",
                                                     dev, m:path("zones", inst.zone, "instances", inst.name)))
  end
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "setDiskAutoDelete", target_link = instance_link(m, inst),
    target_id = inst.id, serial = inst.serial,
    on_done = function(_, failed)
      if not failed then a.auto_delete = auto end
    end,
  }))
  return op_response(m, op)
end

local function instances_set_machine_type(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  local body = ctx_body(ctx)
  if body.machineType == nil then errors.required("resource.machineType") end
  local segs = m:parse_ref(body.machineType)
  if not segs or #segs ~= 4 or segs[1] ~= "zones" or segs[3] ~= "machineTypes" then
    errors.invalid("resource.machineType", body.machineType, "The URL is malformed.")
  end
  local mt = catalog.machine_type(segs[4])
  if segs[2] ~= inst.zone or not mt then
    errors.invalid("resource.machineType", body.machineType, string.format(
      "Machine type with name '%s' does not exist in zone '%s'.", segs[4], inst.zone))
  end
  if inst.status ~= "TERMINATED" then
    errors.invalid_usage("Instance is starting or running.")
  end
  for _, a in ipairs(inst.attached) do
    local d = m:zone_disks(inst.zone)[a.disk]
    local bad = d and catalog.incompatibility(d.type, mt.name, a.boot)
    if bad then errors.bad_request(bad) end
  end
  local op = m:new_op(op_spec(ctx, {
    scope = inst.zone, type = "setMachineType", target_link = instance_link(m, inst),
    target_id = inst.id, serial = inst.serial,
    on_done = function(_, failed)
      if not failed then inst.machine_type = mt.name end
    end,
  }))
  return op_response(m, op)
end

local function instances_set_labels(ctx)
  local m = ctx.model
  local inst = get_instance(m, ctx.params.zone, ctx.params.instance)
  return set_labels(ctx, inst, inst.zone, instance_link(m, inst))
end

------------------------------------------------------------------ operations

local function op_scope(ctx)
  return ctx.params.zone or "global"
end

local function op_path(ctx, name)
  local m = ctx.model
  if ctx.params.zone then return m:path("zones", ctx.params.zone, "operations", name) end
  return m:path("global", "operations", name)
end

local function ops_get(ctx)
  local m = ctx.model
  local op = m:find_op(op_scope(ctx), ctx.params.operation)
  if not op then errors.not_found(op_path(ctx, ctx.params.operation)) end
  return op_response(m, op)
end

--- Seconds an operations.wait call may block at most (about two minutes,
-- scaled).
function M.wait_limit(m)
  return 120 * m.scale
end

local function ops_wait(ctx)
  local m = ctx.model
  local name = ctx.params.operation
  local deadline = m.now + M.wait_limit(m)
  while true do
    local op = m:find_op(op_scope(ctx), name)
    if not op then errors.not_found(op_path(ctx, name)) end
    if op.status == "DONE" or m.now >= deadline then return op_response(m, op) end
    -- sleeps with the interpreter lock released; shutdown interrupts it
    core.sleep(math.max(0, math.min(deadline, op.end_t) - core.now()) + 0.0005)
    if ctx.current_model and ctx.current_model() ~= m then
      errors.not_found(op_path(ctx, name))   -- the fleet was reset meanwhile
    end
    m:settle()
  end
end

local function ops_list(ctx)
  local m = ctx.model
  local scope = op_scope(ctx)
  local link = ctx.params.zone and m:link("zones", ctx.params.zone, "operations")
               or m:link("global", "operations")
  return list_response(ctx, "compute#operationList", link, keyed(m.ops[scope] or {}),
                       function(op) return m:op_view(op) end)
end

local function ops_delete(ctx)
  local m = ctx.model
  local scope = op_scope(ctx)
  local op = m:find_op(scope, ctx.params.operation)
  if not op then errors.not_found(op_path(ctx, ctx.params.operation)) end
  m.ops[scope][op.name] = nil
  return {status = 200, body = {}}
end

------------------------------------------------------------------ routing

-- {http method, path under projects/{p}/, API method name, handler, writes}
local routes = {
  {"GET", "zones", "zones.list", zones_list},
  {"GET", "zones/:zone", "zones.get", zones_get},
  {"GET", "zones/:zone/diskTypes", "diskTypes.list", disk_types_list},
  {"GET", "zones/:zone/diskTypes/:diskType", "diskTypes.get", disk_types_get},
  {"GET", "zones/:zone/machineTypes", "machineTypes.list", machine_types_list},
  {"GET", "zones/:zone/machineTypes/:machineType", "machineTypes.get", machine_types_get},
  {"GET", "zones/:zone/disks", "disks.list", disks_list},
  {"POST", "zones/:zone/disks", "disks.insert", disks_insert, true},
  {"GET", "aggregated/disks", "disks.aggregatedList", disks_aggregated},
  {"GET", "zones/:zone/disks/:disk", "disks.get", disks_get},
  {"DELETE", "zones/:zone/disks/:disk", "disks.delete", disks_delete, true},
  {"POST", "zones/:zone/disks/:disk/setLabels", "disks.setLabels", disks_set_labels, true},
  {"POST", "zones/:zone/disks/:disk/createSnapshot", "disks.createSnapshot", disks_create_snapshot, true},
  {"GET", "global/snapshots", "snapshots.list", snapshots_list},
  {"POST", "global/snapshots", "snapshots.insert", snapshots_insert, true},
  {"GET", "global/snapshots/:snapshot", "snapshots.get", snapshots_get},
  {"DELETE", "global/snapshots/:snapshot", "snapshots.delete", snapshots_delete, true},
  {"POST", "global/snapshots/:snapshot/setLabels", "snapshots.setLabels", snapshots_set_labels, true},
  {"GET", "zones/:zone/instances", "instances.list", instances_list},
  {"GET", "aggregated/instances", "instances.aggregatedList", instances_aggregated},
  {"GET", "zones/:zone/instances/:instance", "instances.get", instances_get},
  {"POST", "zones/:zone/instances/:instance/stop", "instances.stop", instances_stop, true},
  {"POST", "zones/:zone/instances/:instance/start", "instances.start", instances_start, true},
  {"POST", "zones/:zone/instances/:instance/attachDisk", "instances.attachDisk", instances_attach_disk, true},
  {"POST", "zones/:zone/instances/:instance/detachDisk", "instances.detachDisk", instances_detach_disk, true},
  {"POST", "zones/:zone/instances/:instance/setDiskAutoDelete", "instances.setDiskAutoDelete",
   instances_set_disk_auto_delete, true},
  {"POST", "zones/:zone/instances/:instance/setMachineType", "instances.setMachineType",
   instances_set_machine_type, true},
  {"POST", "zones/:zone/instances/:instance/setLabels", "instances.setLabels", instances_set_labels, true},
  {"GET", "zones/:zone/operations", "zoneOperations.list", ops_list},
  {"GET", "zones/:zone/operations/:operation", "zoneOperations.get", ops_get},
  {"DELETE", "zones/:zone/operations/:operation", "zoneOperations.delete", ops_delete},
  {"POST", "zones/:zone/operations/:operation/wait", "zoneOperations.wait", ops_wait},
  {"GET", "global/operations", "globalOperations.list", ops_list},
  {"GET", "global/operations/:operation", "globalOperations.get", ops_get},
  {"DELETE", "global/operations/:operation", "globalOperations.delete", ops_delete},
  {"POST", "global/operations/:operation/wait", "globalOperations.wait", ops_wait},
}

local compiled = {}
for _, r in ipairs(routes) do
  local segs = {}
  for s in r[2]:gmatch("[^/]+") do segs[#segs + 1] = s end
  compiled[#compiled + 1] = {method = r[1], segs = segs, api = r[3], handler = r[4],
                             writes = r[5] or false}
end

--- The API method names the emulator serves ("disks.insert", ...).
M.methods = {}
for _, r in ipairs(compiled) do M.methods[#M.methods + 1] = r.api end

--- Finds the route for an HTTP method and the path segments after
-- projects/{project}/. Returns route, params; or nil, "method" when the
-- path exists with another method; or nil.
function M.match(method, segs)
  local path_matched = false
  for _, r in ipairs(compiled) do
    if #r.segs == #segs then
      local params, ok = {}, true
      for i, s in ipairs(r.segs) do
        if s:sub(1, 1) == ":" then
          params[s:sub(2)] = segs[i]
        elseif s ~= segs[i] then
          ok = false
          break
        end
      end
      if ok then
        if r.method == method then return r, params end
        path_matched = true
      end
    end
  end
  return nil, path_matched and "method" or nil
end

--- The names a request is about (for one-shot faults): path resources
-- and the body's name.
function M.names(ctx)
  local names = {}
  for _, k in ipairs {"disk", "instance", "snapshot", "operation"} do
    if ctx.params[k] then names[#names + 1] = ctx.params[k] end
  end
  if ctx.route.writes and ctx.body and ctx.body:find('"name"', 1, true) then
    local ok, b = pcall(ctx_body, ctx)
    if ok and type(b.name) == "string" then names[#names + 1] = b.name end
  end
  return names
end

--- Runs a matched route. Mutations honour requestId: a repeated id returns
-- the operation the first request created. `admit()` is called before a
-- mutation creates anything (the concurrent-operations quota).
function M.run(ctx, admit)
  local m = ctx.model
  local z = ctx.params.zone
  if z and not m.zones[z] then
    if ctx.route.api == "zones.get" then errors.not_found(m:path("zones", z)) end
    errors.invalid("zone", z, "Unknown zone.")
  end
  if not ctx.route.writes then return ctx.route.handler(ctx) end
  local rid = ctx.query.requestId
  if rid ~= nil and rid ~= "" then
    if not uuid_ok(rid) then
      errors.invalid("requestId", rid, "The request id must be a valid UUID with the exception " ..
                     "that zero UUID is not supported (00000000-0000-0000-0000-000000000000).")
    end
    local prev = m.by_request_id[rid]
    if prev then return op_response(m, prev) end
    ctx.request_id = rid
  end
  if admit then admit() end
  local resp = ctx.route.handler(ctx)
  if rid ~= nil and rid ~= "" and resp.body and resp.body.kind == "compute#operation" then
    local scope = resp.body.zone and resp.body.zone:match("/zones/([^/]+)$") or "global"
    m.by_request_id[rid] = m:find_op(scope, resp.body.name)
  end
  return resp
end

return M
