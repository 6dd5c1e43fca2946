--- pdlua.result: methods of the table `wf:run` returns.
-- The engine builds the result in C (`res.ok`, `res.counts`, `res.tasks[id]`,
-- `res.makespan`, ...); this module gives it `to_json` and `summary`.
local json = require "pdlua.json"

local M = {}
local methods = {}
M.mt = {__index = methods}

-- A plain copy fit for JSON: error values become their fields, functions
-- and other non-data values become strings, metatables are dropped.
local function plain(v, seen)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
    return v
  elseif t == "string" or t == "boolean" or t == "nil" then
    return v
  elseif t ~= "table" then
    return tostring(v)
  end
  if seen[v] then return "<cycle>" end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" or type(k) == "number" then
      out[k] = plain(x, seen)
    end
  end
  seen[v] = nil
  return out
end

--- The result as a JSON document (tasks keyed by id, errors as
-- `{reason, message, code, retryable}`).
-- @return string
function methods:to_json()
  local doc = {}
  for k, v in pairs(self) do doc[k] = plain(v, {}) end
  return json.encode(doc)
end

--- One line: "name: 5 succeeded, 1 failed, 2 skipped in 1.20s".
-- @return string
function methods:summary()
  local parts = {}
  local order = {"succeeded", "failed", "timed_out", "cancelled", "skipped",
                 "rolled_back", "rollback_failed", "pending", "running"}
  for _, s in ipairs(order) do
    local n = self.counts[s] or 0
    if n > 0 then parts[#parts + 1] = n .. " " .. s end
  end
  if #parts == 0 then parts[1] = "no tasks" end
  local line = ("%s: %s in %.2fs"):format(self.name, table.concat(parts, ", "), self.makespan)
  if self.stopped then line = line .. " (stopped: " .. self.stopped .. ")" end
  return line
end

return M
