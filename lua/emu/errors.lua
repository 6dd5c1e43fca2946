--- Compute Engine error values and bodies.
-- A handler raises an error value (`errors.raise(...)` or one of the
-- constructors below, each raising); the router turns it into the body the
-- real API sends:
--   {"error":{"code":N,"message":"...","errors":[{"message","domain","reason"}]}}
-- Messages follow the real ones where they are known
-- (docs/compute-facts.md, "Error bodies and reasons").
local M = {}

local mt = {__tostring = function(e) return e.reason .. " (" .. e.code .. "): " .. e.message end}

--- A new error value: HTTP code, reason, message; `extra` may hold domain,
-- location, locationType, status (the google.rpc status word), details and
-- item_message (errors[1].message when it differs from the top-level one,
-- as in the 401 bodies: "Login Required." under a longer message).
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
  local item = {message = e.item_message or e.message, domain = e.domain or "global", reason = e.reason}
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

-- The ErrorInfo detail Compute Engine attaches to field errors; reasons
-- and message templates from its error catalog
-- (https://cloud.google.com/compute/docs/reference/rest/v1/errors).
local function error_info(reason, metadata)
  return {{["@type"] = "type.googleapis.com/google.rpc.ErrorInfo", reason = reason,
           domain = "compute.googleapis.com", metadata = metadata}}
end

--- 400 invalid (INVALID_FIELD_VALUE): "Invalid value for field 'F': 'V'. WHY"
function M.invalid(field, value, why)
  local msg = string.format("Invalid value for field '%s': '%s'.", field, tostring(value))
  if why then msg = msg .. " " .. why end
  M.raise(400, "invalid", msg, {details = error_info("INVALID_FIELD_VALUE",
    {field = field, value = tostring(value), reason = why})})
end

--- 400 required (MISSING_REQUIRED_FIELD): "Required field 'F' not specified"
function M.required(field)
  M.raise(400, "required", string.format("Required field '%s' not specified", field),
          {details = error_info("MISSING_REQUIRED_FIELD", {field = field})})
end

function M.bad_request(message)
  M.raise(400, "badRequest", message)
end

--- 400 invalidResourceUsage; the real message wraps the reason:
-- "Invalid resource usage: 'To detach the boot disk, ...'."
function M.invalid_usage(message)
  M.raise(400, "invalidResourceUsage", string.format("Invalid resource usage: '%s'.", message))
end

function M.condition_not_met(message)
  M.raise(412, "conditionNotMet", message, {location = "If-Match", locationType = "header"})
end

--- 403 rateLimitExceeded for a per-minute rate quota, in the shape the
-- API's front end gives it (domain usageLimits, status PERMISSION_DENIED,
-- an ErrorInfo naming the quota and a Help link). q: metric (display
-- name), limit (display name), metric_id, limit_id, limit_value,
-- location ("global" or a region), unit.
function M.rate_limit(q, project_number)
  local msg = string.format("Quota exceeded for quota metric '%s' and limit '%s' of service " ..
                            "'compute.googleapis.com' for consumer 'project_number:%s'.",
                            q.metric, q.limit, project_number)
  M.raise(403, "rateLimitExceeded", msg, {
    domain = "usageLimits", status = "PERMISSION_DENIED",
    details = {{
      ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
      reason = "RATE_LIMIT_EXCEEDED",
      domain = "googleapis.com",
      metadata = {service = "compute.googleapis.com", consumer = "projects/" .. project_number,
                  quota_metric = q.metric_id, quota_limit = q.limit_id,
                  quota_limit_value = tostring(q.limit_value), quota_location = q.location,
                  quota_unit = q.unit},
    }, {
      ["@type"] = "type.googleapis.com/google.rpc.Help",
      links = {{description = "Request a higher quota limit.",
                url = "https://cloud.google.com/docs/quotas/help/request_increase"}},
    }},
  })
end

--- 403 rateLimitExceeded for the concurrent-operations limit, as Compute
-- Engine itself answers it: message "Rate Limit Exceeded", no status, an
-- ErrorInfo CONCURRENT_OPERATIONS_QUOTA_EXCEEDED naming the project and
-- location, a LocalizedMessage and a Help link.
function M.concurrent_ops(project_number, location)
  M.raise(403, "rateLimitExceeded", "Rate Limit Exceeded", {
    domain = "usageLimits",
    details = {{
      ["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
      reason = "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
      domain = "compute.googleapis.com",
      metadata = {containerType = "PROJECT", containerId = project_number, location = location},
    }, {
      ["@type"] = "type.googleapis.com/google.rpc.LocalizedMessage",
      locale = "en-US",
      message = string.format("Quota on concurrent operations exceeded for project %s in %s.",
                              project_number, location),
    }, {
      ["@type"] = "type.googleapis.com/google.rpc.Help",
      links = {{description = "Concurrent operations quota documentation.",
                url = "https://cloud.google.com/compute/operations-quota#concurrent_operation_limits"}},
    }},
  })
end

return M
