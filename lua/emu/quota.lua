--- API quotas as Compute Engine enforces them per project: read and write
-- requests per minute (fixed windows refilled at window boundaries, like
-- the real per-minute quotas) and a limit on operations in flight.
-- Exceeding either answers 403 rateLimitExceeded with the real body shape.
-- A limit of 0 means unlimited; rate limits are off unless configured.
--
-- Like the real API since its move to regional quota metrics, zonal
-- methods count against a quota per region ("Read requests per minute per
-- region", metric compute.googleapis.com/read_requests_per_region) and
-- global ones against the global quota; the concurrent-operations limit is
-- also counted per location (the real error names the region). The
-- configured numbers apply to each location alike.
local errors = require "emu.errors"

local M = {}
local Quota = {}
Quota.__index = Quota

--- opts: read_per_minute, write_per_minute, concurrent_operations,
-- window_seconds (default 60).
function M.new(opts)
  local q = setmetatable({}, Quota)
  q:set(opts or {})
  return q
end

local function limit(v, what)
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < 0 then errors.raise(400, "invalid", what .. " must be a non-negative integer") end
  return n
end

--- Updates the limits (fields left out keep their value); resets counts.
function Quota:set(opts)
  self.read = limit(opts.read_per_minute, "read_per_minute") or self.read or 0
  self.write = limit(opts.write_per_minute, "write_per_minute") or self.write or 0
  self.concurrent = limit(opts.concurrent_operations, "concurrent_operations") or self.concurrent or 500
  local w = opts.window_seconds and tonumber(opts.window_seconds)
  if opts.window_seconds ~= nil and (not w or w <= 0) then
    errors.raise(400, "invalid", "window_seconds must be positive")
  end
  self.window = w or self.window or 60
  self.window_start, self.counts = nil, {}
  return self:view()
end

function Quota:view()
  local used = {read = 0, write = 0}
  local by_location = {}
  for key, n in pairs(self.counts) do
    local class, loc = key:match("^(%a+)/(.*)$")
    used[class] = used[class] + n
    by_location[loc] = by_location[loc] or {read = 0, write = 0}
    by_location[loc][class] = n
  end
  return {read_per_minute = self.read, write_per_minute = self.write,
          concurrent_operations = self.concurrent, window_seconds = self.window,
          used = used, used_by_location = next(by_location) and by_location or nil}
end

-- The quota a request of a class counts against at a location, with the
-- names the real error carries.
local function quota_names(class, location, value)
  local regional = location ~= "global"
  local q = {location = location, limit_value = value}
  if class == "read" then
    q.metric = "Read requests"
    q.metric_id = regional and "compute.googleapis.com/read_requests_per_region"
                  or "compute.googleapis.com/read_requests"
    q.limit = regional and "Read requests per minute per region" or "Read requests per minute"
    q.limit_id = regional and "ReadRequestsPerMinutePerProjectPerRegion" or "ReadRequestsPerMinutePerProject"
  else
    -- writes: the consolidated mutation metrics of the current quota
    -- system (no observed error text; see docs/emulator.md)
    q.metric = "Mutation requests"
    q.metric_id = regional and "compute.googleapis.com/writes_per_region" or "compute.googleapis.com/global_writes"
    q.limit = regional and "Mutation requests per minute per region" or "Mutation requests per minute"
    q.limit_id = regional and "WritesPerMinutePerProjectPerRegion" or "WritesPerMinutePerProject"
  end
  q.unit = regional and "1/min/{project}/{region}" or "1/min/{project}"
  return q
end

--- Counts one request of class "read" or "write" at monotonic time now
-- against `location` ("global" or a region); raises 403
-- rateLimitExceeded when the window's limit there is used up.
function Quota:charge(class, now, project_number, location)
  location = location or "global"
  local start = math.floor(now / self.window) * self.window
  if self.window_start ~= start then
    self.window_start = start
    self.counts = {}
  end
  local lim = class == "read" and self.read or self.write
  local key = class .. "/" .. location
  local used = self.counts[key] or 0
  if lim > 0 and used >= lim then
    errors.rate_limit(quota_names(class, location, lim), project_number)
  end
  self.counts[key] = used + 1
end

--- Raises 403 when `active` operations at `location` already fill the limit.
function Quota:admit_operation(active, project_number, location)
  if self.concurrent > 0 and active >= self.concurrent then
    errors.concurrent_ops(project_number, location or "global")
  end
end

return M
