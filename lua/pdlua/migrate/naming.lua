--- pdlua.migrate.naming: every name, label and request id a migration uses.
-- A killed run, resumed or simply run again, must find what it already
-- made instead of making it twice (docs/design.md, invariant 7). So nothing here
-- is random: a new disk's name comes from the original's name and the
-- target type, a snapshot's from a digest of what it is a snapshot of, a
-- request id from a digest of the request's identity. The same inputs give
-- the same names on any machine, in any run.
local digest = require "pdlua.migrate.digest"

local M = {}

--- Short codes for disk types, used as name suffixes ("data-1-hdb").
M.short_types = {
  ["pd-standard"] = "pds",
  ["pd-balanced"] = "pdb",
  ["pd-ssd"] = "pdssd",
  ["pd-extreme"] = "pdx",
  ["hyperdisk-balanced"] = "hdb",
  ["hyperdisk-balanced-high-availability"] = "hdbha",
  ["hyperdisk-extreme"] = "hdx",
  ["hyperdisk-throughput"] = "hdt",
  ["hyperdisk-ml"] = "hdml",
}

local NAME_PATTERN = "^[a-z][-a-z0-9]*$"

--- Whether `name` is a valid Compute Engine resource name:
-- [a-z]([-a-z0-9]{0,61}[a-z0-9])?
function M.valid_name(name)
  return type(name) == "string" and #name >= 1 and #name <= 63
    and name:match(NAME_PATTERN) ~= nil and name:sub(-1) ~= "-"
end

--- 8 hex digits of a digest of the parts.
function M.hash8(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  return digest.sha1_hex(table.concat(parts, "\0", 1, parts.n)):sub(1, 8)
end

-- Cuts `base` so that base .. suffix fits in `max`; a cut base also gets a
-- hash of the whole base so two long names cut alike stay distinct.
local function fit(base, suffix, max)
  if #base + #suffix <= max then return base .. suffix end
  local h = "-" .. M.hash8(base)
  local keep = max - #suffix - #h
  local cut = base:sub(1, keep):gsub("%-+$", "")
  return cut .. h .. suffix
end

--- The short code of a disk type ("hyperdisk-balanced" -> "hdb"); unknown
-- types get a code made of their words' initials.
function M.short_type(disk_type)
  local s = M.short_types[disk_type]
  if s then return s end
  local initials = disk_type:gsub("(%w)%w*%-?", "%1")
  return initials
end

--- The new disk's name: `<name>-<short type>`, cut and hashed to stay
-- within 63 characters; the original name itself with retain_name.
-- @tparam string name the original disk's name
-- @tparam string target_type e.g. "hyperdisk-balanced"
-- @tparam[opt] boolean retain_name
function M.new_disk_name(name, target_type, retain_name)
  if retain_name then return name end
  return fit(name, "-" .. M.short_type(target_type), 63)
end

--- The snapshot's name: `pdlua-<name>-<hash8>`, the hash over project, zone,
-- disk name and id, and target type; cut to 63 characters.
function M.snapshot_name(project, zone, name, disk_id, target_type)
  local h = M.hash8(project, zone, name, disk_id, target_type)
  local base = "pdlua-" .. name
  local suffix = "-" .. h
  if #base + #suffix > 63 then
    base = base:sub(1, 63 - #suffix):gsub("%-+$", "")
  end
  return base .. suffix
end

--- A deterministic requestId for one mutation (a UUID, version-5 style).
-- The same step of the same migration gets the same id in every run, so a
-- resumed run re-issuing it gets the first operation back; `attempt`
-- changes it on the engine's retries, because a retried step only follows a
-- failed operation, which must not be handed back again (check-before-act
-- finds what the failed attempt may have left).
-- @tparam table p {project, zone, resource, step, target, generation, attempt}
function M.request_id(p)
  return digest.uuid("pdlua-request", p.project or "", p.zone or "", p.resource or "",
                     p.step or "", p.target or "", p.generation or 0, p.attempt or 1)
end

--- The id of a run: a digest of what the command selects and does, so the
-- same command again finds its own journal.
-- @tparam table identity plain, JSON-like values
function M.run_id(identity)
  local function canon(v)
    local t = type(v)
    if t == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      local parts = {}
      for _, k in ipairs(keys) do
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        parts[#parts + 1] = k .. "=" .. canon(val)
      end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    return t .. ":" .. tostring(v)
  end
  return digest.sha1_hex(canon(identity)):sub(1, 12)
end

--- `n` random bytes from /dev/urandom as 2n hex digits (a run's id, a
-- run's nonce): unique per run, unlike everything else here.
function M.random_hex(n)
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(n)
  if f then f:close() end
  if not bytes or #bytes < n then
    bytes = (string.pack(">d", os.time() + os.clock()) .. tostring({})):rep(n):sub(1, n)
  end
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- The last path segment of a URL or partial URL ("…/disks/d1" -> "d1").
function M.last(url)
  if not url then return nil end
  return (tostring(url):match("([^/]+)/*$"))
end

--- The zone named in a URL, or nil.
function M.zone_of(url)
  return url and tostring(url):match("/zones/([^/]+)") or nil
end

--- The region named in a URL, or nil.
function M.region_of(url)
  return url and tostring(url):match("/regions/([^/]+)") or nil
end

--- The region of a zone ("us-central1-a" -> "us-central1").
function M.region_of_zone(zone)
  return zone and (zone:match("^(.*)%-[^-]+$")) or nil
end

--- "zones/Z/disks/D": the part of a disk URL that identifies it, so that
-- full and partial URLs, www.googleapis.com and compute.googleapis.com
-- links compare equal.
function M.disk_ref(url)
  if not url then return nil end
  local z, d = tostring(url):match("zones/([^/]+)/disks/([^/?]+)")
  if not z then return nil end
  return "zones/" .. z .. "/disks/" .. d
end

--- Partial URLs for request bodies (the API takes partial URLs).
function M.disk_url(project, zone, name)
  return ("projects/%s/zones/%s/disks/%s"):format(project, zone, name)
end
function M.disk_type_url(project, zone, disk_type)
  return ("projects/%s/zones/%s/diskTypes/%s"):format(project, zone, disk_type)
end
function M.machine_type_url(project, zone, machine_type)
  return ("projects/%s/zones/%s/machineTypes/%s"):format(project, zone, machine_type)
end
function M.snapshot_url(project, name)
  return ("projects/%s/global/snapshots/%s"):format(project, name)
end

--- Orders disks (or plan items) by zone, then name: how plans and reports
-- list them.
function M.by_zone_name(a, b)
  if a.zone ~= b.zone then return a.zone < b.zone end
  return a.name < b.name
end

--- The key under which a disk or instance is known in plans and journals.
function M.key(zone, name)
  return zone .. "/" .. name
end

return M
