--- pdlua.gcp: the Compute Engine v1 client (docs/gcp.md); the global `gcp`.
--
--     local c = gcp.client{project = "p", zone = "us-central1-a"}
--     local d = c.disks:get{disk = "data-1"}
--     local op = c.disks:insert{body = {name = "d2", sizeGb = "10"}}
--     c:wait(op)
--     for disk in c.disks:list{filter = 'labels.env = "prod"'} do ... end
--     print(c:stats().methods["disks.get"].p50)
--
-- Requests, retries, tokens, the rate limit and statistics are C
-- (src/gcp, bound as `pdlua.gcp.core`); this module turns method calls into
-- requests using the table in `pdlua.gcp.methods`, pages through lists,
-- waits for operations and retries label updates on stale fingerprints.
-- Parameters, request bodies and returned resources use the API's own
-- field names. Every failure raises a pdlua.error
-- {code, reason, message, retryable, method, errors, operation}.
local core = require "pdlua.gcp.core"
local methods = require "pdlua.gcp.methods"
local json = require "pdlua.json"
local pd = require "pdlua"
local config = require "pdlua.config"

local gcp = {}
gcp.core = core
gcp.methods = methods
--- JSON null inside arrays (object members that are null are left out).
gcp.null = json.null
gcp.DEFAULT_ENDPOINT = "https://compute.googleapis.com/compute/v1/"
--- Default request rate: 20/s is 1,200 a minute, well under Compute
-- Engine's default per-minute read and write quotas.
gcp.DEFAULT_QPS = 20
--- Default cap on operations in flight (the project quota is 500).
gcp.DEFAULT_MAX_IN_FLIGHT_OPS = 100

--- pdlua.json's array marker, encoder and decoder, under the client's names.
gcp.array = json.array
gcp.json_encode = json.encode
gcp.json_decode = json.decode

local function invalid(msg)
  error(pd.error{reason = "invalidArgument", message = msg, retryable = false}, 3)
end

local function getenv(name)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
  return nil
end

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

local function query_value(v)
  if type(v) == "boolean" then return v and "true" or "false" end
  if math.type(v) == "float" and v == math.floor(v) then return ("%d"):format(v) end
  return tostring(v)
end

local function last_segment(url)
  return url and url:match("([^/]+)/?$") or nil
end

-- Names the call accepts besides path and query parameters.
local common = {body = true, requestId = true, timeout = true}

-- Builds {path, body_json, flags, timeout} for method `spec` of `coll`.
local function build(client, coll, name, spec, p)
  local full = coll .. "." .. name
  p = p or {}
  if type(p) ~= "table" then invalid(full .. ": parameters must be a table") end
  local allowed = {}
  for _, q in ipairs(spec.query or {}) do allowed[q] = true end
  for k in pairs(p) do
    local known = common[k] or allowed[k] or k == "project" or
                  spec.path:find("{" .. tostring(k) .. "}", 1, true) or
                  (spec.aliases and spec.aliases[k]) or spec.pages and k == "pageToken"
    if not known then
      invalid(("%s: unknown parameter '%s'"):format(full, tostring(k)))
    end
  end
  if p.body ~= nil and not spec.body then invalid(full .. ": takes no body") end
  if spec.body and type(p.body) ~= "table" then invalid(full .. ": needs a body table") end
  local path = spec.path:gsub("{(%w+)}", function(k)
    local v = p[k]
    if v == nil and spec.aliases then
      for alias, target in pairs(spec.aliases) do
        if target == k then v = p[alias] end
      end
    end
    if v == nil and k == "project" then v = client.project end
    if v == nil and k == "zone" then v = client.zone end
    if v == nil or v == "" then
      if k == "project" then
        invalid(full .. ": no project (gcp.client{project=...} or CLOUDSDK_CORE_PROJECT)")
      end
      invalid(("%s: missing parameter '%s'"):format(full, k))
    end
    if k == "zone" or k == "region" then v = last_segment(tostring(v)) end
    return urlencode(v)
  end)
  local q = {}
  for _, k in ipairs(spec.required or {}) do
    if p[k] == nil then invalid(("%s: missing parameter '%s'"):format(full, k)) end
  end
  for _, k in ipairs(spec.query or {}) do
    if p[k] ~= nil then q[#q + 1] = k .. "=" .. urlencode(query_value(p[k])) end
  end
  if spec.aggregated and p.returnPartialSuccess == nil then
    q[#q + 1] = "returnPartialSuccess=true"
  end
  if spec.mutation and spec.request_id ~= false then
    q[#q + 1] = "requestId=" .. urlencode(p.requestId or core.uuid())
  elseif p.requestId ~= nil then
    invalid(full .. ": takes no requestId")
  end
  table.sort(q)
  local body = spec.body and json.encode(p.body) or nil
  local flags = (spec.mutation and core.MUTATION or 0) | (spec.poll and core.OP_POLL or 0)
  local timeout = p.timeout or (spec.long_poll and client.wait_timeout) or nil
  return full, path, q, body, flags, timeout
end

local function call(client, coll, name, spec, p, extra_query, deadline)
  local full, path, q, body, flags, timeout = build(client, coll, name, spec, p)
  for _, e in ipairs(extra_query or {}) do q[#q + 1] = e end
  if #q > 0 then path = path .. "?" .. table.concat(q, "&") end
  return client._ud:call(full, spec.verb, path, body, flags, timeout, deadline)
end

-- An iterator over a list method's items, fetching pages as it goes.
local function pager(client, coll, name, spec, p)
  local page, i, token, done = nil, 0, p and p.pageToken, false
  local params = {}
  for k, v in pairs(p or {}) do if k ~= "pageToken" then params[k] = v end end
  local warned = {}
  return function()
    while true do
      if page and i < #page then
        i = i + 1
        return page[i][1], page[i][2]
      end
      if done then return nil end
      local extra = token and {"pageToken=" .. urlencode(token)} or nil
      local res = call(client, coll, name, spec, params, extra)
      page, i = {}, 0
      if spec.aggregated then
        local scopes = {}
        for scope in pairs(res.items or {}) do scopes[#scopes + 1] = scope end
        table.sort(scopes)
        for _, scope in ipairs(scopes) do
          for _, item in ipairs(res.items[scope][spec.items_key] or {}) do
            page[#page + 1] = {item, scope}
          end
        end
        for _, u in ipairs(res.unreachables or {}) do
          if not warned[u] then
            warned[u] = true
            io.stderr:write(("pdlua: warning: %s.%s: %s was unreachable; its items are missing\n")
                            :format(coll, name, u))
          end
        end
      else
        for _, item in ipairs(res.items or {}) do page[#page + 1] = {item} end
      end
      token = res.nextPageToken
      if token == nil or token == "" then done = true end
    end
  end
end

-- Operation error codes for which trying the whole step again later may
-- succeed (capacity, rate, transient internal errors).
local retryable_op_codes = {
  ZONE_RESOURCE_POOL_EXHAUSTED = true,
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS = true,
  RESOURCE_OPERATION_RATE_EXCEEDED = true,
  RATE_LIMIT_EXCEEDED = true,
  INTERNAL_ERROR = true,
  CONCURRENT_OPERATIONS_QUOTA_EXCEEDED = true,
  RESOURCE_NOT_READY = true,
}

--- The pdlua.error for a DONE operation that failed (nil if it succeeded).
function gcp.operation_error(op)
  if type(op) ~= "table" or type(op.error) ~= "table" then return nil end
  local errors = op.error.errors or {}
  local first = errors[1] or {}
  local msgs = {}
  for _, e in ipairs(errors) do msgs[#msgs + 1] = e.message or e.code end
  return pd.error{
    code = math.tointeger(op.httpErrorStatusCode),
    reason = first.code or "operationFailed",
    message = ("operation %s (%s on %s) failed: %s"):format(
      tostring(op.name), tostring(op.operationType), tostring(last_segment(op.targetLink)),
      #msgs > 0 and table.concat(msgs, "; ") or tostring(op.httpErrorMessage)),
    retryable = retryable_op_codes[first.code] or false,
    operation = op.name,
    errors = errors,
  }
end

local Collection = {}

local function collection(client, coll, specs)
  local c = {_client = client, _name = coll}
  for name, spec in pairs(specs) do
    if spec.pages then
      c[name] = function(_, p) return pager(client, coll, name, spec, p) end
    else
      c[name] = function(_, p) return call(client, coll, name, spec, p) end
    end
  end
  -- set_labels: fetch the current fingerprint, retry on 412 with a fresh
  -- one; with `precondition = true` the body's fingerprint is a condition
  -- (compare-and-set): a 412 is raised, not retried.
  if specs.set_labels then
    local raw = c.set_labels
    c.set_labels = function(self, p)
      p = p or {}
      local body = p.body or {}
      local labels = p.labels or body.labels or {}
      local fp = body.labelFingerprint
      local args = {}
      for k, v in pairs(p) do
        if k ~= "labels" and k ~= "body" and k ~= "precondition" then args[k] = v end
      end
      if p.precondition then
        if not fp then invalid(coll .. ".set_labels: precondition needs body.labelFingerprint") end
        args.body = {labels = labels, labelFingerprint = fp}
        return raw(self, args)
      end
      local get_args = {}
      for k, v in pairs(args) do
        if k ~= "requestId" and k ~= "timeout" then get_args[k] = v end
      end
      if get_args.resource then
        get_args[specs.set_labels.aliases.resource], get_args.resource = get_args.resource, nil
      end
      for attempt = 1, 10 do
        if not fp then fp = self:get(get_args).labelFingerprint end
        local a = {}
        for k, v in pairs(args) do a[k] = v end
        if attempt > 1 then a.requestId = nil end   -- a new request, a new id
        a.body = {labels = labels, labelFingerprint = fp}
        local ok, res = pcall(raw, self, a)
        if ok then return res end
        if not (pd.is_error(res) and res.code == 412) or attempt == 10 then
          error(res, 0)
        end
        fp = nil
      end
    end
  end
  return setmetatable(c, Collection)
end

local Client = {}
Client.__index = Client

--- Creates a client.
-- @param opts table: project, zone, endpoint, credentials (a key file path,
--   or {access_token=}, {file=}, {metadata=true}), qps (<= 0: unlimited),
--   burst, max_in_flight_ops, timeout (per request, s), wait_timeout (per
--   operations.wait request, s), max_attempts, backoff_initial,
--   backoff_max, max_response (bytes), log_http (boolean).
-- Defaults come from the environment (CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE,
-- CLOUDSDK_CORE_PROJECT, CLOUDSDK_COMPUTE_ZONE, gcloud's configuration,
-- the ADC chain for credentials).
function gcp.client(opts)
  opts = opts or {}
  if type(opts) ~= "table" then invalid("gcp.client: options must be a table") end
  local creds = opts.credentials
  if type(creds) == "string" then creds = {file = creds} end
  if creds ~= nil and type(creds) ~= "table" then
    invalid("gcp.client: credentials must be a file path or a table")
  end
  if opts.log_http ~= nil then core.log_http(opts.log_http) end
  local endpoint = opts.endpoint or getenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE") or
                   gcp.DEFAULT_ENDPOINT
  local qps = opts.qps or gcp.DEFAULT_QPS
  local ud = core.new{
    endpoint = endpoint,
    qps = qps,
    burst = opts.burst,
    max_in_flight_ops = opts.max_in_flight_ops or gcp.DEFAULT_MAX_IN_FLIGHT_OPS,
    timeout = opts.timeout,
    max_attempts = opts.max_attempts,
    backoff_initial = opts.backoff_initial,
    backoff_max = opts.backoff_max,
    max_response = opts.max_response,
    credentials = creds,
    token_timeout = opts.token_timeout,
  }
  local info = ud:info()
  -- as Google's libraries: explicit (false: no default), environment, the
  -- key file's project, then gcloud's active configuration (pdlua.config)
  local where = config.resolve({project = opts.project, zone = opts.zone, region = false}, nil,
                               {project = info.credentials.project})
  local c = setmetatable({
    _ud = ud,
    endpoint = info.endpoint,
    project = where.project,
    zone = where.zone,
    wait_timeout = opts.wait_timeout or 150,
    credentials = info.credentials,     -- {kind, source, project}: no secrets
  }, Client)
  for coll, specs in pairs(methods) do c[coll] = collection(c, coll, specs) end
  return c
end

--- Waits until an operation is DONE, long-polling operations.wait.
-- Honours the calling task's deadline and cancellation, and opts.timeout
-- (seconds) if given. Raises the operation's error if it failed.
-- @param op an Operation table (as returned by a mutation)
-- @return the DONE Operation
function Client:wait(op, opts)
  if type(op) ~= "table" or not op.name then
    invalid("wait: expects an Operation (a table with a name)")
  end
  local deadline = opts and opts.timeout and (pd.now() + opts.timeout) or nil
  local coll, p
  if op.zone then
    coll, p = "zone_operations", {zone = last_segment(op.zone), operation = op.name}
  elseif op.region then
    coll, p = "region_operations", {region = last_segment(op.region), operation = op.name}
  else
    coll, p = "global_operations", {operation = op.name}
  end
  local proj = op.selfLink and op.selfLink:match("/projects/([^/]+)/")
  p.project = proj
  local spec = methods[coll].wait
  while op.status ~= "DONE" do
    op = call(self, coll, "wait", spec, p, nil, deadline)
  end
  local err = gcp.operation_error(op)
  if err then error(err, 2) end
  return op
end

--- Per-method call counts, retries, 429s, latency percentiles (seconds),
-- and totals (requests, connections opened, bytes, token refreshes).
function Client:stats()
  return self._ud:stats()
end

--- Clears the statistics.
function Client:reset_stats()
  self._ud:reset_stats()
end

--- Collects an iterator's items into an array.
function gcp.collect(iter)
  local out = {}
  for item in iter do out[#out + 1] = item end
  return out
end

--- Turns HTTP logging (PDLUA_LOG_HTTP=1, --log-http) on or off; returns
-- whether it is on.
gcp.log_http = core.log_http

--- Picks the client's command-line flags out of an argument list:
-- --project P, --zone Z, --endpoint URL, --credentials FILE, --qps N,
-- --max-in-flight-ops N, --log-http (also written --flag=value).
-- @return options for gcp.client, and the remaining arguments
function gcp.flags(args)
  local opts, rest = {}, {}
  local takes = {project = "project", zone = "zone", endpoint = "endpoint",
                 credentials = "credentials", qps = "qps",
                 ["max-in-flight-ops"] = "max_in_flight_ops"}
  local numeric = {qps = true, max_in_flight_ops = true}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if name == "log-http" then
      opts.log_http = true
    elseif name and takes[name] then
      if value == nil then
        i = i + 1
        value = args[i]
        if value == nil then invalid("--" .. name .. " needs a value") end
      end
      local key = takes[name]
      if numeric[key] then
        value = tonumber(value) or invalid("--" .. name .. " needs a number")
      end
      opts[key] = value
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end

return gcp
