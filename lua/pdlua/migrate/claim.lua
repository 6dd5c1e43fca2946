--- pdlua.migrate.claim: which run owns a disk or an instance, written on
-- the resource itself.
--
-- Before its first change to a disk (or to the instance it is attached
-- to), a run claims it: three labels, `pdlua-claim` (the run's id),
-- `pdlua-claim-host` and `pdlua-claim-at` (Unix seconds), written with
-- setLabels and the labelFingerprint the run last read. Compute Engine
-- refuses a stale fingerprint (412 conditionNotMet), so of two runs that
-- read the same fingerprint only one can write its claim; the other
-- re-reads, sees the claim and refuses the resource, whatever its state
-- directory or machine. Every destructive step (deleting an original,
-- deleting a disk in an undo, detaching, putting a group back) re-reads
-- and goes on only while the claim is still its run's.
--
-- Where the claim lives: on the disk named as the original (the original
-- itself, or with --retain-name the replacement, which is created with
-- the claim), on the snapshot while no such disk exists (--retain-name,
-- between the original's deletion and its replacement's creation), and on
-- the instance of an instance group. It is released when the migration is
-- finished (the original's final labels carry none) or put back (the
-- original's own labels are restored). A command run from a state
-- directory claims under an id derived from the host, the directory and
-- the command (M.command_run_id), so the same command there continues its
-- claims even without its journal; any other run refuses them until it is
-- started with `--take-over RUN`.
local pd = require "pdlua"
local gce = require "pdlua.migrate.gce"
local labels_mod = require "pdlua.migrate.labels"
local naming = require "pdlua.migrate.naming"

local M = {}

M.keys = { run = labels_mod.keys.claim, host = labels_mod.keys.claim_host, at = labels_mod.keys.claim_at }

--- A new run id: 12 random hex digits (a valid label value), for a run
-- that keeps no journal (the library called directly).
function M.new_run_id()
  return naming.random_hex(6)
end

--- The run id of a command run from a state directory: a digest of this
-- host, the directory's absolute path and the command's identity (its
-- journal's stem). Every run of the command from that directory claims
-- under it — they take turns, by the journal's lock — so a journal that
-- is lost or set aside loses no claim; a run from anywhere else is another
-- run.
function M.command_run_id(state_dir, stem)
  local quoted = "'" .. tostring(state_dir):gsub("'", "'\\''") .. "'"
  local p = io.popen("cd " .. quoted .. " 2>/dev/null && pwd -P")
  local abs = p and p:read("l")
  if p then p:close() end
  if not abs or abs == "" then
    abs = state_dir:sub(1, 1) == "/" and state_dir or ((os.getenv("PWD") or ".") .. "/" .. state_dir)
  end
  return naming.run_id { host = M.host(), dir = abs, command = stem }
end

--- A string as a label value: lower case, [a-z0-9_-], at most 63 characters.
function M.label_value(s)
  return (tostring(s or ""):lower():gsub("[^a-z0-9_-]", "-"):sub(1, 63))
end

local host_cache
--- This machine's name, as a label value.
function M.host()
  if not host_cache then
    local f = io.open("/proc/sys/kernel/hostname", "r")
    local h = f and f:read("l")
    if f then f:close() end
    host_cache = M.label_value(h or os.getenv("HOSTNAME") or "unknown")
  end
  return host_cache
end

--- The claim a label map carries: {run, host, at} or nil.
function M.holder(labels)
  local run = labels and labels[M.keys.run]
  if not run or run == "" then return nil end
  return { run = run, host = labels[M.keys.host], at = tonumber(labels[M.keys.at]) }
end

--- "run 1a2b3c4d5e6f on host ops-1 since 2026-12-02 16:40 UTC"
function M.describe(h)
  local since = h.at and os.date("!%Y-%m-%d %H:%M UTC", h.at) or "an unknown time"
  return ("run %s on host %s since %s"):format(h.run, h.host or "unknown", since)
end

--- Why a resource claimed by another run is refused, with the way out.
function M.refusal(what, h)
  return ("%s is claimed by %s; if that run is gone, continue it with --resume where its journal is, or take its disks over with --take-over %s")
    :format(what, M.describe(h), h.run)
end

--- Whether labels carry no claim, or one this run may take (its own, or
-- that of the run named by --take-over).
function M.takeable(r, labels)
  local h = M.holder(labels)
  return h == nil or h.run == r.run_id or (r.take_over ~= nil and h.run == r.take_over)
end

--- Whether labels carry this run's claim.
function M.mine(r, labels)
  local h = M.holder(labels)
  return h ~= nil and h.run == r.run_id
end

--- `labels` with this run's claim added (a copy).
function M.stamp(r, labels)
  local out = gce.copy(labels)
  out[M.keys.run] = r.run_id
  out[M.keys.host] = M.host()
  out[M.keys.at] = tostring(r.claimed_at or os.time())
  return out
end

--- `labels` without any claim (a copy).
function M.strip(labels)
  local out = gce.copy(labels)
  for _, k in pairs(M.keys) do out[k] = nil end
  return out
end

local function claimed_error(what, h)
  return pd.error { reason = "claimedByAnotherRun", retryable = false,
                    message = M.refusal(what, h) }
end

--- Whether an error is a refusal because another run holds the claim
-- ("claimedByAnotherRun"), or because what was to be claimed is gone
-- ("vanished", most likely moved by another run since it was read).
function M.is_refusal(err)
  return pd.is_error(err) and (err.reason == "claimedByAnotherRun" or err.reason == "vanished")
end

--- Writes labels on a resource only if its labels are still those last
-- read, re-reading on a conflict (412): compare-and-set on the label
-- fingerprint. `want(labels)` gives the labels to write from the current
-- ones, or nil when nothing is to be written; `check(labels)` raises if
-- the resource may not be touched (claimed by another run).
-- @tparam table p {coll, params (zone/disk, snapshot or instance), get
--   (function reading the resource), resource (as last read, optional),
--   want, check, request_id (for the first attempt)}
-- @treturn table the resource as last read, or nil if it is gone
function M.cas(c, p)
  local res = p.resource or p.get()
  for attempt = 1, 8 do
    if not res then return nil end
    p.check(res.labels)
    local labels = p.want(res.labels or {})
    if not labels or gce.same_labels(labels, res.labels) then return res end
    local params = gce.copy(p.params)
    if attempt == 1 then params.requestId = p.request_id end
    params.body = { labels = labels, labelFingerprint = res.labelFingerprint }
    params.precondition = true
    local ok, err = pcall(gce.mutate, c, p.coll, "set_labels", params)
    if ok then return res end
    if gce.not_found(err) then return nil end   -- gone meanwhile
    if not (pd.is_error(err) and err.code == 412) then error(err, 0) end
    res = p.get()
  end
  gce.retry("conditionNotMet", "the labels of %s kept changing under this run", tostring(p.what))
end

-- The three kinds of resource whose labels a run writes: how to read one
-- and name it, for M.cas.
local function on(r, coll, params, get, what, p)
  return M.cas(r.client, { coll = coll, params = params, get = get, what = what,
                           resource = p.resource, want = p.want, check = p.check or function() end,
                           request_id = p.request_id })
end

--- M.cas on disk `name` of `zone`; p = {resource, want, check, request_id}.
function M.cas_disk(r, zone, name, p)
  local c = r.client
  return on(r, c.disks, { zone = zone, disk = name }, function() return gce.disk(c, zone, name) end,
            ("disk '%s'"):format(name), p)
end

--- M.cas on snapshot `name` (snapshots.setLabels takes no request id).
function M.cas_snapshot(r, name, p)
  local c = r.client
  return on(r, c.snapshots, { snapshot = name }, function() return gce.snapshot(c, name) end,
            ("snapshot '%s'"):format(name), p)
end

--- M.cas on instance `name` of `zone`.
function M.cas_instance(r, zone, name, p)
  local c = r.client
  return on(r, c.instances, { zone = zone, instance = name },
            function() return gce.instance(c, zone, name) end, ("instance '%s'"):format(name), p)
end

--- Raises unless `labels` carry this run's claim. `what` names the
-- resource in the message.
function M.require_mine(r, what, labels)
  if M.mine(r, labels) then return end
  local h = M.holder(labels)
  if h then error(claimed_error(what, h), 0) end
  gce.fail("claimLost", "%s no longer carries this run's claim (run %s); it was left alone", what, r.run_id)
end

--- Raises unless `labels` can be claimed by this run.
function M.require_takeable(r, what, labels)
  if M.takeable(r, labels) then return end
  error(claimed_error(what, M.holder(labels)), 0)
end

--- The resource that carries an item's claim now: the disk named as the
-- original, else (with --retain-name, while no such disk exists) the
-- snapshot. Returns kind ("disk" | "snapshot" | nil) and the resource.
function M.carrier(r, item)
  local d = gce.disk(r.client, item.zone, item.name)
  if d then return "disk", d end
  local s = gce.snapshot(r.client, item.snapshot_name)
  if s then return "snapshot", s end
  return nil, nil
end

--- Whether this run holds the claim of an item (read now).
function M.holds_item(r, item)
  local _, res = M.carrier(r, item)
  return res ~= nil and M.mine(r, res.labels)
end

--- Raises unless this run holds the claim of an item (read now).
function M.check_item(r, item)
  local kind, res = M.carrier(r, item)
  if not res then
    gce.fail("claimLost", "neither disk '%s' nor its snapshot '%s' exists; nothing was touched", item.name, item.snapshot_name)
  end
  M.require_mine(r, ("%s '%s'"):format(kind, kind == "disk" and item.name or item.snapshot_name), res.labels)
  return res
end

--- Whether this run holds the claim of a group (read now): its instance's
-- for an instance group, its disk's for a disk group.
function M.holds_group(r, g)
  if g.kind == "instance" then
    local inst = gce.instance(r.client, g.zone, g.instance)
    return inst ~= nil and M.mine(r, inst.labels)
  end
  return M.holds_item(r, r:item(g.items[1]))
end

return M
