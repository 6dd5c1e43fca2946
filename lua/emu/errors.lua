--- Compute Engine error values and bodies.
-- A handler raises an error value (`errors.raise(...)` or one of the
-- constructors below, each raising); the router turns it into the body the
-- real API sends:
--   {"error":{"code":N,"message":"...","errors":[{"message","domain","reason"}]}}
-- Messages follow the real ones where they are known
-- (/work/shared/reference/compute-engine-facts.md).
local M = {}

local mt = {__tostring = function(e) return e.reason .. " (" .. e.code .. "): " .. e.message end}

--- A new error value: HTTP code, reason, message; `extra` may hold domain,
-- location, locationType, status (the google.rpc status word) and details.
function M.new(code, reason, message, extra)
  local e = {code = code, reason = reason, message = message}
  for k, v in pairs(extra or {}) do e[k] = v end
  return setmetatable(e, mt)
end

--- Raises a new error value.
function M.raise(code, reason, message, extra)
  error(M.new(code, reason, message, extra), 0)
end

--- True if v is an error value made here.
function M.is(v)
  return getmetatable(v) == mt
end

--- The JSON body (a table) for an error value.
function M.body(e)
  local item = {message = e.message, domain = e.domain or "global", reason = e.reason}
  if e.location then
    item.location = e.location
    item.locationType = e.locationType or "header"
  end
  local body = {error = {code = e.code, message = e.message, errors = {item}}}
  if e.status then body.error.status = e.status end
  if e.details then body.error.details = e.details end
  return body
end

function M.not_found(path)
  M.raise(404, "notFound", string.format("The resource '%s' was not found", path))
end

function M.already_exists(path)
  M.raise(409, "alreadyExists", string.format("The resource '%s' already exists", path))
end

function M.in_use(kind, path, user)
  M.raise(400, "resourceInUseByAnotherResource",
          string.format("The %s resource '%s' is already being used by '%s'", kind, path, user))
end

function M.not_ready(path)
  M.raise(400, "resourceNotReady", string.format("The resource '%s' is not ready", path))
end

--- 400 invalid: "Invalid value for field 'F': 'V'. WHY"
function M.invalid(field, value, why)
  local msg = string.format("Invalid value for field '%s': '%s'.", field, tostring(value))
  if why then msg = msg .. " " .. why end
  M.raise(400, "invalid", msg)
end

function M.required(field)
  M.raise(400, "required", string.format("Required field '%s' not specified", field))
end

function M.bad_request(message)
  M.raise(400, "badRequest", message)
end

function M.invalid_usage(message)
  M.raise(400, "invalidResourceUsage", message)
end

function M.condition_not_met(message)
  M.raise(412, "conditionNotMet", message, {location = "If-Match", locationType = "header"})
end

--- 403 rateLimitExceeded, the shape quota errors have (domain usageLimits,
-- status PERMISSION_DENIED, an ErrorInfo detail naming the limit).
function M.rate_limit(metric, limit, project, reason_code)
  local msg = string.format("Quota exceeded for quota metric '%s' and limit '%s' of service " ..
                            "'compute.googleapis.com' for consumer 'project_number:%s'.",
                            metric, limit, project)
  M.raise(403, "rateLimitExceeded", msg, {
    domain = "usageLimits", status = "PERMISSION_DENIED",
    details = {{
      ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
      reason = reason_code or "RATE_LIMIT_EXCEEDED",
      domain = "googleapis.com",
      metadata = {service = "compute.googleapis.com", quota_metric = metric, quota_limit = limit},
    }},
  })
end

return M
