--- Fault injection: what `POST /emulator/v1/faults` and the --fault flags
-- set (docs/emulator.md, "Faults"). A fault configuration:
--
--   errors      = {["disks.insert"] = {["503"] = 0.2, reset = 0.05, hang = 0.01}, ["*"] = {...}}
--   operation_failures = {insert = 0.1, createSnapshot = {rate = 1, code = "QUOTA_EXCEEDED",
--                         message = "...", http = 403}}
--   latency     = {createSnapshot = 3.0, ["*"] = 1.0}   -- operation duration multipliers
--   delay       = {["disks.get"] = 0.5}                  -- seconds before answering
--   hang_seconds = 30                                    -- how long a "hang" holds the request
--   once        = {{method = "disks.insert", name = "d1", action = "drop_response"}, ...}
--
-- Method names are the API's ("disks.insert", "zoneOperations.wait"), with
-- or without "compute."; `*` is a wildcard ("disks.*"). Draws use the
-- emulator's seeded generator, so a given seed and request sequence give
-- the same faults.
local errors = require "emu.errors"

local M = {}
local Faults = {}
Faults.__index = Faults

local ACTIONS = {error = true, reset = true, hang = true, drop_response = true, fail_operation = true}

--- Default operation error codes per operation type.
M.default_op_error = {
  insert = {code = "ZONE_RESOURCE_POOL_EXHAUSTED", http = 503,
            -- the real text, two spaces included; "{zone}" becomes the
            -- operation's zone ("projects/p/zones/z")
            message = "The zone '{zone}' does not have enough resources available to fulfill " ..
                      "the request.  Try a different zone, or try again later."},
  ["*"] = {code = "INTERNAL_ERROR", http = 500,
           message = "Internal error. Please try again or contact Google Support."},
}

function M.new(rng)
  local f = setmetatable({rng = rng}, Faults)
  f:set({})
  return f
end

local function glob(p)
  return "^" .. p:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

local function strip(method)
  return (tostring(method):gsub("^compute%.", ""))
end

-- The entry of a method-keyed table for `api`: exact name, then patterns
-- (longest first), then "*".
local function lookup(t, api)
  if not t then return nil end
  if t[api] ~= nil then return t[api] end
  local best, best_len
  for k, v in pairs(t) do
    if k ~= "*" and k:find("*", 1, true) and api:match(glob(k)) and (not best_len or #k > best_len) then
      best, best_len = v, #k
    end
  end
  if best ~= nil then return best end
  return t["*"]
end

local function bad(msg)
  errors.raise(400, "invalid", "faults: " .. msg)
end

local function rate(v, what)
  local n = tonumber(v)
  if not n or n < 0 or n > 1 then bad(what .. " must be a rate between 0 and 1") end
  return n
end

--- Replaces the configuration (validating it; raises 400 on bad input).
function Faults:set(cfg)
  if type(cfg) ~= "table" then bad("expected a JSON object") end
  local c = {errors = {}, operation_failures = {}, latency = {}, delay = {}, once = {},
             hang_seconds = 30}
  for method, kinds in pairs(cfg.errors or {}) do
    if type(kinds) ~= "table" then bad("errors['" .. method .. "'] must be an object") end
    local e = {}
    for kind, r in pairs(kinds) do
      local status = math.tointeger(tonumber(kind))
      if not (kind == "reset" or kind == "hang" or kind == "drop_response" or
              (status and status >= 400 and status <= 599)) then
        bad("unknown error kind '" .. tostring(kind) .. "' (an HTTP status, reset, hang or drop_response)")
      end
      e[tostring(kind)] = rate(r, "errors['" .. method .. "']['" .. kind .. "']")
    end
    c.errors[strip(method)] = e
  end
  for op_type, v in pairs(cfg.operation_failures or {}) do
    if type(v) == "table" then
      c.operation_failures[op_type] = {rate = rate(v.rate or 1, "operation_failures rate"),
                                       code = v.code, message = v.message,
                                       http = math.tointeger(tonumber(v.http))}
    else
      c.operation_failures[op_type] = {rate = rate(v, "operation_failures['" .. op_type .. "']")}
    end
  end
  for op_type, v in pairs(cfg.latency or {}) do
    local n = tonumber(v)
    if not n or n < 0 then bad("latency['" .. op_type .. "'] must be a non-negative multiplier") end
    c.latency[op_type] = n
  end
  for method, v in pairs(cfg.delay or {}) do
    local n = tonumber(v)
    if not n or n < 0 or n > 3600 then bad("delay['" .. method .. "'] must be seconds (0..3600)") end
    c.delay[strip(method)] = n
  end
  if cfg.hang_seconds ~= nil then
    local n = tonumber(cfg.hang_seconds)
    if not n or n < 0 or n > 3600 then bad("hang_seconds must be between 0 and 3600") end
    c.hang_seconds = n
  end
  for i, o in ipairs(cfg.once or {}) do
    if type(o) ~= "table" or type(o.method) ~= "string" then bad("once[" .. i .. "] needs a method") end
    local action = o.action or (o.status and "error") or (o.code and "fail_operation")
    if not ACTIONS[action] then
      bad("once[" .. i .. "].action must be error, reset, hang, drop_response or fail_operation")
    end
    local status = math.tointeger(tonumber(o.status or 503))
    if action == "error" and not (status and status >= 400 and status <= 599) then
      bad("once[" .. i .. "].status must be an HTTP error status")
    end
    c.once[#c.once + 1] = {
      method = strip(o.method), name = o.name, action = action, status = status,
      reason = o.reason, message = o.message, code = o.code,
      http = math.tointeger(tonumber(o.http)), seconds = tonumber(o.seconds),
      count = math.tointeger(tonumber(o.count or 1)) or 1,
    }
  end
  self.cfg = c
  return self:view()
end

--- The configuration as JSON-friendly data (one-shots still pending).
function Faults:view()
  local c = self.cfg
  local once = {}
  for i, o in ipairs(c.once) do once[i] = o end
  return {errors = c.errors, operation_failures = c.operation_failures, latency = c.latency,
          delay = c.delay, hang_seconds = c.hang_seconds, once = once}
end

--- Latency multipliers per operation type (the model reads them).
function Faults:latency()
  return self.cfg.latency
end

local reasons = {
  [400] = {"badRequest", "Bad Request"},
  [401] = {"authError", "Invalid Credentials"},
  [403] = {"rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"},
  [404] = {"notFound", "Not Found"},
  [409] = {"conflict", "Conflict"},
  [412] = {"conditionNotMet", "Precondition Failed"},
  [429] = {"rateLimitExceeded", "Too Many Requests", nil, "RESOURCE_EXHAUSTED"},
  [500] = {"backendError", "Internal error. Please try again or contact Google Support. " ..
           "(Code: 'EMULATED-500')", nil, "INTERNAL"},
  [502] = {"backendError", "Bad Gateway", nil, "UNAVAILABLE"},
  [503] = {"backendError", "The service is currently unavailable.", nil, "UNAVAILABLE"},
  [504] = {"backendError", "Deadline exceeded.", nil, "DEADLINE_EXCEEDED"},
}

--- The error value an injected HTTP error answers with.
function M.error_for(status, reason, message)
  local r = reasons[status] or {"backendError", "Injected error"}
  return errors.new(status, reason or r[1], message or r[2], {domain = r[3], status = r[4]})
end

local function names_match(o, names)
  if not o.name then return true end
  for _, n in ipairs(names) do if n == o.name then return true end end
  return false
end

--- Decides the faults of one API request. Returns a table (possibly
-- empty) with: delay (seconds), error (an error value), reset, hang
-- (seconds), drop (answer dropped after the request is applied), fail_op
-- ({code, message, http} for the operation it creates).
function Faults:before(api, names)
  local c = self.cfg
  local out = {}
  out.delay = lookup(c.delay, api)
  for i, o in ipairs(c.once) do
    if api:match(glob(o.method)) and names_match(o, names) then
      o.count = o.count - 1
      if o.count <= 0 then table.remove(c.once, i) end
      if o.action == "error" then out.error = M.error_for(o.status, o.reason, o.message)
      elseif o.action == "reset" then out.reset = true
      elseif o.action == "hang" then out.hang = o.seconds or c.hang_seconds
      elseif o.action == "drop_response" then out.drop = true
      elseif o.action == "fail_operation" then
        local d = M.default_op_error[api:match("%.(%w+)$")] or M.default_op_error["*"]
        out.fail_op = {code = o.code or d.code, message = o.message or d.message, http = o.http or d.http}
      end
      out.once = o
      return out
    end
  end
  local e = lookup(c.errors, api)
  if e then
    local u = self.rng:float()
    local acc = 0
    local kinds = {}
    for k in pairs(e) do kinds[#kinds + 1] = k end
    table.sort(kinds)
    for _, k in ipairs(kinds) do
      acc = acc + e[k]
      if u < acc then
        if k == "reset" then out.reset = true
        elseif k == "hang" then out.hang = c.hang_seconds
        elseif k == "drop_response" then out.drop = true
        else out.error = M.error_for(math.tointeger(tonumber(k))) end
        break
      end
    end
  end
  return out
end

--- Draws whether a new operation of this type fails; returns {code,
-- message, http} or nil.
function Faults:op_failure(op_type)
  local f = self.cfg.operation_failures[op_type] or self.cfg.operation_failures["*"]
  if not f or f.rate <= 0 then return nil end
  if self.rng:float() >= f.rate then return nil end
  local d = M.default_op_error[op_type] or M.default_op_error["*"]
  return {code = f.code or d.code, message = f.message or d.message, http = f.http or d.http}
end

return M
