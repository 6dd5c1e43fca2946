--- pdlua.invariants: the safety invariants of a migration, checked on two
-- states of the emulator (before and after); the demo, the chaos suite and
-- the specs share it.
--
--   local invariants = require "pdlua.invariants"
--   local before = emu:state()
--   ... run pdlua migrate.lua ...
--   invariants.check(before, emu:state(), {target_type = "pd-ssd",
--                    migrated = {"web-1-data"}, rolled_back = {"web-1"}})
--
-- For every instance of `before`: the same device names, each with the same
-- boot/mode/autoDelete/interface and the same content fingerprint (the data
-- made the trip, or the original is back), the same power state, the same
-- machine type (unless `machine_types` says otherwise); a migrated disk's
-- device holds a disk of the target type named as pdlua names it, carrying
-- the original's labels. For every disk: none lost; a disk that was not
-- migrated is exactly as it was (type, size, labels, fingerprint); a
-- migrated one has its replacement, and the original is kept (labelled
-- pdlua-state=migrated), or deleted with delete_original / retain_name. No
-- leftover: no pdlua snapshot unless keep_snapshots (then one per migrated
-- disk), no pdlua disk besides the replacements, every disk READY; and no
-- data lost: every original's content fingerprint is still on some disk.
-- Raises an assertion listing every violation.
--
-- When more than one run may have been at the fleet, what counts as
-- migrated is read from the emulator, not from a run's word:
--
--   local moved = invariants.migrated_disks(before, after, {target_type = "pd-ssd"})
--   invariants.check(before, after, {target_type = "pd-ssd", migrated = moved})
--   invariants.lost_data(before, mid_run_state, {snapshots = true})
local naming = require "pdlua.migrate.naming"

local M = {}

local function last(url) return url and tostring(url):match("([^/]+)$") end

local function index(list, key)
  local t = {}
  for _, x in ipairs(list or {}) do t[key(x)] = x end
  return t
end

local function disk_key(d) return last(d.zone) .. "/" .. d.name end
local function inst_key(i) return last(i.zone) .. "/" .. i.name end

local function same_map(a, b)
  a, b = a or {}, b or {}
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k, v in pairs(b) do if a[k] ~= v then return false end end
  return true
end

local function show(t)
  if type(t) ~= "table" then return tostring(t) end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(t[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function set_of(list)
  local s = {}
  for _, x in ipairs(list or {}) do s[x] = true end
  return s
end

--- The disks of `before` that the emulator's `after` shows migrated: the
-- disk pdlua names as the replacement (naming.new_disk_name) exists in the
-- original's zone, of the target type, labelled pdlua-migrated-from with
-- the original's name. Whether the rest is right (the swap, the original's
-- label, the data) is for `check` to say.
-- @tparam table opts {target_type, retain_name}
-- @treturn {string,...} names, in the order of before.disks
function M.migrated_disks(before, after, opts)
  local adisks = index(after.disks, disk_key)
  local out = {}
  for _, bd in ipairs(before.disks or {}) do
    local zone = last(bd.zone)
    local nd = adisks[zone .. "/" .. naming.new_disk_name(bd.name, opts.target_type, opts.retain_name)]
    if nd and last(nd.type) == opts.target_type and nd.labels
        and nd.labels["pdlua-migrated-from"] == bd.name then
      out[#out + 1] = bd.name
    end
  end
  return out
end

--- Data lost: the disks of `before` whose content fingerprint is on no disk
-- of `after` (nor on a snapshot, with opts.snapshots — a run stopped half
-- way may hold an original only in its snapshot).
-- @treturn {string,...} one message per lost disk (empty when none)
function M.lost_data(before, after, opts)
  local held = {}
  for _, d in ipairs(after.disks or {}) do
    if d.contentFingerprint then held[d.contentFingerprint] = held[d.contentFingerprint] or ("disk " .. d.name) end
  end
  if opts and opts.snapshots then
    for _, s in ipairs(after.snapshots or {}) do
      if s.contentFingerprint then
        held[s.contentFingerprint] = held[s.contentFingerprint] or ("snapshot " .. s.name)
      end
    end
  end
  local out = {}
  for _, bd in ipairs(before.disks or {}) do
    local fp = bd.contentFingerprint
    if fp and not held[fp] then
      out[#out + 1] = ("data lost: the content of %s (%s) is on no disk%s"):format(
        disk_key(bd), tostring(fp), opts and opts.snapshots and " or snapshot" or "")
    end
  end
  return out
end

--- Checks `after` against `before`. See the module's header for `expect`:
-- {target_type, migrated = {disk name...}, rolled_back = {...} (documents
-- intent; anything not in `migrated` must be untouched), retain_name,
-- delete_original, keep_snapshots, machine_types = {[instance] = type},
-- new_fields = {[disk name] = {field = value}} (e.g. provisionedIops),
-- allow_leftover_snapshots = bool}
-- @treturn table {violations = {...}} (raises unless expect.no_raise)
function M.check(before, after, expect)
  expect = expect or {}
  local bad = {}
  local function fail(fmt, ...) bad[#bad + 1] = fmt:format(...) end
  local migrated = set_of(expect.migrated)
  local retain = expect.retain_name
  local target = expect.target_type
  local new_name = function(name) return naming.new_disk_name(name, target, retain) end

  local bdisks = index(before.disks, disk_key)
  local adisks = index(after.disks, disk_key)
  local binst = index(before.instances, inst_key)
  local ainst = index(after.instances, inst_key)

  -- Instances: devices, attachments, data, power, machine type.
  for key, bi in pairs(binst) do
    local ai = ainst[key]
    if not ai then
      fail("instance %s is gone", key)
    else
      local zone = last(bi.zone)
      if ai.status ~= bi.status then
        fail("instance %s is %s; it was %s", key, tostring(ai.status), tostring(bi.status))
      end
      local want_mt = expect.machine_types and expect.machine_types[bi.name] or last(bi.machineType)
      if last(ai.machineType) ~= want_mt then
        fail("instance %s has machine type %s, expected %s", key, last(ai.machineType), want_mt)
      end
      local bdev = index(bi.disks, function(a) return a.deviceName end)
      local adev = index(ai.disks, function(a) return a.deviceName end)
      for dev, ba in pairs(bdev) do
        local aa = adev[dev]
        if not aa then
          fail("instance %s lost device %s", key, dev)
        else
          for _, f in ipairs { "boot", "mode", "autoDelete", "interface" } do
            if (aa[f] or false) ~= (ba[f] or false) then
              fail("instance %s device %s: %s is %s, was %s", key, dev, f, tostring(aa[f]), tostring(ba[f]))
            end
          end
          local bname, aname = last(ba.source), last(aa.source)
          local bd, ad = bdisks[zone .. "/" .. bname], adisks[zone .. "/" .. aname]
          if not ad then
            fail("instance %s device %s holds %s, which does not exist", key, dev, tostring(aname))
          elseif bd then
            if ad.contentFingerprint ~= bd.contentFingerprint then
              fail("instance %s device %s: data differs (%s holds %s, %s held %s)", key, dev,
                   aname, tostring(ad.contentFingerprint), bname, tostring(bd.contentFingerprint))
            end
            if migrated[bname] then
              if aname ~= new_name(bname) then
                fail("instance %s device %s holds %s, expected the new disk %s", key, dev, aname, new_name(bname))
              end
              if last(ad.type) ~= target then
                fail("instance %s device %s: %s is %s, not %s", key, dev, aname, last(ad.type), target)
              end
            elseif aname ~= bname then
              fail("instance %s device %s holds %s; it should still hold %s", key, dev, aname, bname)
            end
          end
        end
      end
      for dev in pairs(adev) do
        if not bdev[dev] then fail("instance %s has a new device %s", key, dev) end
      end
    end
  end

  -- Disks: nothing lost, untouched ones unchanged, migrated ones replaced.
  local expected_new = {}
  for key, bd in pairs(bdisks) do
    local zone = last(bd.zone)
    local ad = adisks[key]
    local own = require("pdlua.migrate.labels").own(bd.labels)
    if migrated[bd.name] then
      local nk = zone .. "/" .. new_name(bd.name)
      expected_new[nk] = true
      local nd = adisks[nk]
      if not nd then
        fail("disk %s was not migrated: %s does not exist", key, nk)
      else
        if last(nd.type) ~= target then fail("new disk %s is %s, not %s", nk, last(nd.type), target) end
        if nd.contentFingerprint ~= bd.contentFingerprint then
          fail("new disk %s has other data than %s", nk, key)
        end
        if tostring(nd.sizeGb) ~= tostring(bd.sizeGb) then
          fail("new disk %s has %s GB, the original %s GB", nk, tostring(nd.sizeGb), tostring(bd.sizeGb))
        end
        local want = {}
        for k, v in pairs(own) do want[k] = v end
        want["pdlua-migrated-from"] = bd.name
        if not same_map(nd.labels, want) then
          fail("new disk %s has labels %s, expected %s", nk, show(nd.labels), show(want))
        end
        if nd.status ~= "READY" then fail("new disk %s is %s", nk, tostring(nd.status)) end
        for f, v in pairs(expect.new_fields and expect.new_fields[bd.name] or {}) do
          if tostring(nd[f]) ~= tostring(v) then
            fail("new disk %s: %s is %s, expected %s", nk, f, tostring(nd[f]), tostring(v))
          end
        end
      end
      if not retain then
        if expect.delete_original then
          if ad then fail("original %s was not deleted", key) end
        elseif not ad then
          fail("original %s was deleted", key)
        else
          if ad.labels == nil or ad.labels["pdlua-state"] ~= "migrated" then
            fail("original %s is not labelled pdlua-state=migrated (%s)", key, show(ad.labels))
          end
          if ad.contentFingerprint ~= bd.contentFingerprint then fail("original %s changed", key) end
          if ad.users and #ad.users > 0 then fail("original %s is still attached", key) end
        end
      end
    else
      if not ad then
        fail("disk %s is gone", key)
      else
        if last(ad.type) ~= last(bd.type) then
          fail("disk %s is %s, was %s", key, last(ad.type), last(bd.type))
        end
        if ad.contentFingerprint ~= bd.contentFingerprint then fail("disk %s changed content", key) end
        if tostring(ad.sizeGb) ~= tostring(bd.sizeGb) then fail("disk %s changed size", key) end
        if not same_map(ad.labels, bd.labels) then
          fail("disk %s has labels %s, had %s", key, show(ad.labels), show(bd.labels))
        end
        for _, f in ipairs { "provisionedIops", "provisionedThroughput", "description" } do
          if tostring(ad[f]) ~= tostring(bd[f]) then
            fail("disk %s: %s is %s, was %s", key, f, tostring(ad[f]), tostring(bd[f]))
          end
        end
      end
    end
  end
  for key, ad in pairs(adisks) do
    if not bdisks[key] and not expected_new[key] then
      fail("leftover disk %s (labels %s)", key, show(ad.labels))
    end
    if ad.status ~= "READY" then fail("disk %s is %s", key, tostring(ad.status)) end
  end

  -- Snapshots: pdlua's are gone, or kept one per migrated disk.
  local bsnaps = index(before.snapshots, function(s) return s.name end)
  local kept = 0
  for _, s in ipairs(after.snapshots or {}) do
    if not bsnaps[s.name] then
      local src = s.labels and s.labels["pdlua-source-disk"]
      if expect.keep_snapshots and src and migrated[src] then
        kept = kept + 1
      elseif not expect.allow_leftover_snapshots then
        fail("leftover snapshot %s (of %s)", s.name, tostring(src))
      end
    end
  end
  for name in pairs(bsnaps) do
    local found = false
    for _, s in ipairs(after.snapshots or {}) do if s.name == name then found = true end end
    if not found then fail("snapshot %s is gone", name) end
  end
  if expect.keep_snapshots and kept ~= #(expect.migrated or {}) then
    fail("%d snapshots kept, expected %d", kept, #(expect.migrated or {}))
  end

  for _, msg in ipairs(M.lost_data(before, after)) do bad[#bad + 1] = msg end

  if #bad > 0 and not expect.no_raise then
    error("invariants violated:\n  " .. table.concat(bad, "\n  "), 2)
  end
  return { violations = bad }
end

return M
