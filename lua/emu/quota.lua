--- API quotas as Compute Engine enforces them per project: read and write
-- requests per minute (fixed windows refilled at window boundaries, like
-- the real per-minute quotas) and a limit on operations in flight.
-- Exceeding either answers 403 rateLimitExceeded with the real body shape.
-- A limit of 0 means unlimited; rate limits are off unless configured.
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
  self.window_start, self.counts = nil, {read = 0, write = 0}
  return self:view()
end

function Quota:view()
  return {read_per_minute = self.read, write_per_minute = self.write,
          concurrent_operations = self.concurrent, window_seconds = self.window,
          used = {read = self.counts.read, write = self.counts.write}}
end

--- Counts one request of class "read" or "write" at monotonic time now;
-- raises 403 rateLimitExceeded when the window's limit is used up.
function Quota:charge(class, now, project_number)
  local start = math.floor(now / self.window) * self.window
  if self.window_start ~= start then
    self.window_start = start
    self.counts = {read = 0, write = 0}
  end
  local lim = class == "read" and self.read or self.write
  if lim > 0 and self.counts[class] >= lim then
    local metric = class == "read" and "Read requests" or "Write requests"
    errors.rate_limit(metric, metric .. " per minute", project_number)
  end
  self.counts[class] = self.counts[class] + 1
end

--- Raises 403 when `active` operations already fill the limit.
function Quota:admit_operation(active, project_number)
  if self.concurrent > 0 and active >= self.concurrent then
    errors.rate_limit("Concurrent operations", "Concurrent operations per project", project_number,
                      "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED")
  end
end

return M
