--- pdlua.migrate.gce: the few Compute Engine idioms every migration step
-- repeats — "get it, or nil if it is not there", "do this and wait for its
-- operation", "which disk sits at this device name" — written once so a
-- step reads like its runbook page. Calls go through the pdlua.gcp client
-- (`c.disks:get{...}`, `c:wait(op)`), whose errors are pdlua.error values.
local pd = require "pdlua"
local naming = require "pdlua.migrate.naming"

local M = {}

--- Whether an error is Compute Engine's 404 notFound.
function M.not_found(err)
  return pd.is_error(err) and (err.code == 404 or err.reason == "notFound")
end

--- Whether an error is 409 alreadyExists.
function M.already_exists(err)
  return pd.is_error(err) and (err.code == 409 or err.reason == "alreadyExists")
end

-- Calls fn(...); a 404 gives nil, any other error is raised again.
local function get_or_nil(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if M.not_found(res) then return nil end
  error(res, 0)
end

--- The disk `name` in `zone`, or nil.
function M.disk(c, zone, name)
  return get_or_nil(c.disks.get, c.disks, { zone = zone, disk = name })
end

--- The instance, or nil.
function M.instance(c, zone, name)
  return get_or_nil(c.instances.get, c.instances, { zone = zone, instance = name })
end

--- The snapshot, or nil.
function M.snapshot(c, name)
  return get_or_nil(c.snapshots.get, c.snapshots, { snapshot = name })
end

--- Issues a mutation (`fn(coll, params)`) and waits for its operation.
-- A wait cut short (cancelled, timed out) leaves the operation running in
-- Compute Engine: the error raised carries it as `operation_left`, so that
-- whoever puts the group back waits for it to end first.
-- @treturn table the DONE operation (its targetId is the resource's id)
function M.mutate(c, coll, method, params)
  local op = coll[method](coll, params)
  local ok, res = pcall(c.wait, c, op)
  if ok then return res end
  if M.interrupted(res) then res.operation_left = op end
  error(res, 0)
end

--- Whether an error is a cancel or a timeout.
function M.interrupted(err)
  return pd.is_error(err) and (err.reason == "cancelled" or err.reason == "timeout")
end

--- Waits for operations left running by interrupted steps; their outcome
-- does not matter (what they did is read afterwards), only that they end.
function M.settle(c, ops)
  for _, op in ipairs(ops or {}) do
    pcall(c.wait, c, op)
  end
end

--- Like `mutate`, but a 404 (the thing is already gone) is success: nil.
function M.mutate_gone_ok(c, coll, method, params)
  local ok, res = pcall(M.mutate, c, coll, method, params)
  if ok then return res end
  if M.not_found(res) then return nil end
  error(res, 0)
end

--- Deletes disk resource `d` of `zone` (already gone is success), but
-- never one still attached: then fails resourceInUseByAnotherResource with
-- `fmt` formatted with `name` and the instance it is attached to.
function M.delete_unattached(c, zone, d, name, request_id, fmt)
  if d.users and #d.users > 0 then
    M.fail("resourceInUseByAnotherResource", fmt, name, naming.last(d.users[1]))
  end
  return M.mutate_gone_ok(c, c.disks, "delete", { zone = zone, disk = name, requestId = request_id })
end

--- The AttachedDisk of `inst` at `device_name`, or nil.
function M.slot(inst, device_name)
  for _, a in ipairs(inst and inst.disks or {}) do
    if a.deviceName == device_name then return a end
  end
  return nil
end

--- Whether AttachedDisk `a` is the disk `name` of `zone`.
function M.slot_holds(a, zone, name)
  return a ~= nil and naming.disk_ref(a.source) == ("zones/%s/disks/%s"):format(zone, name)
end

--- Waits, with a growing pause, while `get()` returns a resource whose
-- status is in `busy`; returns it (nil once it is gone).
function M.until_settled(get, busy)
  local pause = 0.2
  while true do
    local res = get()
    if not res or not busy[res.status] then return res end
    pd.sleep(pause)
    pause = math.min(pause * 2, 10)
  end
end

--- Makes a resource that an earlier attempt or run may have begun — the
-- loop the snapshot and the new disk share: create at once on a fresh
-- run; else read it: someone else's is refused (`check` raises), one being
-- made is joined (the same requestId gives back its operation) and waited
-- for, a READY one is taken (`ready`), a broken one cleared and made anew.
-- @tparam table s {fresh, get, check, busy = {status = true}, create (issues
--   the insert and waits), clear, ready(resource), what}
function M.make(s)
  local function create(join)
    local ok, err = pcall(s.create)
    if ok or (join and M.already_exists(err)) then return ok end
    if not M.already_exists(err) then error(err, 0) end
    return false
  end
  if s.fresh and create() then return end
  for _ = 1, 3 do
    local res = s.get()
    if res then s.check(res) end
    if res and s.busy[res.status] then
      create(true)
      res = M.until_settled(s.get, s.busy)
    end
    if res and res.status == "READY" then return s.ready(res) end
    if res then s.clear() end
    if create() then return end
  end
  M.retry("resourceNotReady", "%s did not settle", s.what)
end

--- Raises a non-retryable pdlua.error with a clear message.
function M.fail(reason, fmt, ...)
  error(pd.error { reason = reason, message = fmt:format(...), retryable = false }, 0)
end

--- Raises a retryable pdlua.error (the engine tries the step again).
function M.retry(reason, fmt, ...)
  error(pd.error { reason = reason, message = fmt:format(...), retryable = true }, 0)
end

--- Copies a table one level deep.
function M.copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

--- Whether two label maps are equal.
function M.same_labels(a, b)
  a, b = a or {}, b or {}
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k, v in pairs(b) do if a[k] ~= v then return false end end
  return true
end

--- Whether `labels` contains every key/value of `want`.
function M.has_labels(labels, want)
  labels = labels or {}
  for k, v in pairs(want or {}) do if labels[k] ~= v then return false end end
  return true
end

--- Sets a resource's labels and waits. The client fetches a fresh
-- fingerprint and retries on 412 (a stale one) by itself; `fingerprint`
-- saves the fetch when the caller just read it.
function M.set_labels(c, coll, params, labels, fingerprint)
  local p = M.copy(params)
  p.body = { labels = labels, labelFingerprint = fingerprint }
  return M.mutate(c, coll, "set_labels", p)
end

return M
