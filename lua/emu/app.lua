--- The emulator as one object: the model of the loaded fleet, faults,
-- quotas, credentials and the request log, and `handle`, the entry point
-- the C HTTP front end calls for every request (src/emu/http.c).
--
-- What a request goes through, in order, for the Compute API:
-- route -> bearer token (401) -> injected faults (delay, hang, reset,
-- error) -> settle the clock -> rate quota (403) -> the method (with
-- requestId replay and the concurrent-operations quota) -> dropped
-- response, if injected. The token endpoint, the metadata server and the
-- admin API (/emulator/v1/) have their own small routers here.
local core = require "pdlua.core"
local json = require "emu.json"
local errors = require "emu.errors"
local model_mod = require "emu.model"
local fleet = require "emu.fleet"
local compute = require "emu.compute"
local faults_mod = require "emu.faults"
local quota_mod = require "emu.quota"
local auth_mod = require "emu.auth"
local rand = require "emu.rand"

local M = {}
local App = {}
App.__index = App

local JSON_TYPE = "application/json; charset=UTF-8"
local LOG_LIMIT = 200000

--- A new emulator. cfg: fleet_docs (array of decoded fleet documents),
-- project, seed, latency_scale, strict_auth, token_lifetime, quota (table),
-- faults (baseline table), log_requests. Raises "fleet: ..." on a bad fleet.
function M.new(cfg)
  local a = setmetatable({}, App)
  a.cfg = cfg
  a.seed = math.tointeger(cfg.seed) or 1
  a.scale = cfg.latency_scale or 1.0
  a.base = "http://127.0.0.1:0/compute/v1/"
  a.fault_rng = rand.new(a.seed * 31 + 17)
  a.faults = faults_mod.new(a.fault_rng)
  a.baseline_faults = cfg.faults or {}
  a.faults:set(a.baseline_faults)
  a.quota = quota_mod.new(cfg.quota or {})
  a.auth = auth_mod.new({strict = cfg.strict_auth, token_lifetime = cfg.token_lifetime, seed = a.seed})
  a.log, a.log_seq = {}, 0
  a.in_flight, a.max_in_flight = 0, 0   -- requests being handled (long-polls included)
  a.fleet_docs = cfg.fleet_docs or {}
  a:load(a.fleet_docs)
  return a
end

--- Builds a fresh model from fleet documents and makes it current.
function App:load(docs)
  local fl = fleet.collect(docs)
  if self.cfg.project then fl.project = self.cfg.project end
  local m = model_mod.new({project = fl.project, seed = self.seed, latency_scale = self.scale,
                           base = self.base})
  m.latency = self.faults:latency()
  local faults = self.faults
  m.decide_failure = function(op_type) return faults:op_failure(op_type) end
  fleet.load(m, fl)
  self.model = m
  self.fault_rng.s = self.seed * 31 + 17
  self.auth.project_number = m.project_number
  return m
end

--- Called once the server listens: links use the real port from now on.
function App:listening(port)
  self.port = port
  self.base = string.format("http://127.0.0.1:%d/compute/v1/", port)
  self.model.base = self.base
  self.auth.token_url = string.format("http://127.0.0.1:%d/token", port)
end

------------------------------------------------------------------ request log

function App:record(entry)
  self.log_seq = self.log_seq + 1
  entry.seq = self.log_seq
  self.log[#self.log + 1] = entry
  if #self.log > LOG_LIMIT then
    local keep = {}
    table.move(self.log, #self.log - LOG_LIMIT // 2 + 1, #self.log, 1, keep)
    self.log = keep
  end
  if self.cfg.log_requests then
    io.stderr:write(string.format("pdlua-emu: %s %s -> %s (%.1f ms)%s\n", entry.method, entry.path,
                                  tostring(entry.status), entry.duration_ms,
                                  entry.fault and (" fault=" .. entry.fault) or ""))
  end
end

------------------------------------------------------------------ compute API

local function split(path)
  local segs = {}
  for s in path:gmatch("[^/]+") do segs[#segs + 1] = s end
  return segs
end

-- Applies the faults decided for a request: waits out a delay, and for a
-- hang, reset or injected error returns (or raises) what replaces the
-- answer. Returns the decision and, when the request is cut short, the
-- response to send instead.
function App:inject(api, names, info)
  local fx = self.faults:before(api, names)
  if fx.delay and fx.delay > 0 then core.sleep(fx.delay) end
  if fx.hang then
    info.fault = "hang"
    core.sleep(fx.hang)
    return fx, {status = 0, action = "reset"}
  end
  if fx.reset then
    info.fault = "reset"
    return fx, {status = 0, action = "reset"}
  end
  if fx.error then
    info.fault = "error"
    error(fx.error, 0)
  end
  return fx
end

function App:compute(method, rest, query, headers, body, info)
  local segs = split(rest)
  if segs[1] ~= "projects" or not segs[2] then
    errors.raise(404, "notFound", "The requested URL /compute/v1/" .. rest .. " was not found on this server.")
  end
  local sub = table.move(segs, 3, #segs, 1, {})
  local route, params = compute.match(method, sub)
  info.api = route and route.api
  local user = self.auth:check(headers, info.api)
  if not route then
    if params == "method" then errors.raise(405, "httpMethodNotAllowed", "Method " .. method .. " not allowed.") end
    errors.raise(404, "notFound", "The requested URL /compute/v1/" .. rest .. " was not found on this server.")
  end
  local m = self.model
  if segs[2] ~= m.project then errors.not_found("projects/" .. segs[2]) end
  local ctx = {model = m, route = route, params = params, query = query, body = body,
               headers = headers, user = user}
  ctx.names = compute.names(ctx)
  local fx, cut = self:inject(route.api, ctx.names, info)
  if cut then return cut end
  ctx.fail_op = fx.fail_op
  if fx.fail_op then info.fault = "fail_operation" end
  -- the model may have been replaced while a delay slept
  m = self.model
  ctx.model = m
  ctx.current_model = function() return self.model end
  m:settle()
  local pn = m.project_number
  -- zonal methods count against their region's quotas, the others globally
  local loc = params.zone and m.zones[params.zone] and m:op_location(params.zone) or "global"
  self.quota:charge(route.writes and "write" or "read", m.now, pn, loc)
  local resp = compute.run(ctx, function() self.quota:admit_operation(m:active_at(loc), pn, loc) end)
  if fx.drop then
    info.fault = "drop_response"
    resp.action = "reset"
  end
  if (query["$alt"] or ""):find("enum-encoding=int", 1, true) then M.int_enums(resp.body) end
  return resp
end

-- Operation.status is the one enum-typed field the emulator emits (the
-- others are strings in compute.proto). Google's generated REST clients ask
-- for enums as numbers ($alt=json;enum-encoding=int) and decode them so.
local OP_STATUS = {PENDING = 35394935, RUNNING = 121282975, DONE = 2104194}

function M.int_enums(body)
  if type(body) ~= "table" then return end
  if body.kind == "compute#operation" then
    body.status = OP_STATUS[body.status] or body.status
  elseif body.kind == "compute#operationList" then
    for _, op in ipairs(body.items or {}) do op.status = OP_STATUS[op.status] or op.status end
  end
end

------------------------------------------------------------------ admin API

local function admin_body(body)
  if body == nil or body:match("^%s*$") then return {} end
  local v, err = json.decode(body)
  if type(v) ~= "table" then errors.raise(400, "parseError", "Invalid JSON: " .. tostring(err)) end
  return v
end

--- Everything in the model, as the API shows it, plus content
-- fingerprints (GET /emulator/v1/state).
function App:state()
  local m = self.model
  m:settle()
  local disks, snaps, insts = {}, {}, {}
  for _, z in ipairs(m.zone_names) do
    local names = {}
    for n in pairs(m:zone_disks(z)) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do
      local d = m:zone_disks(z)[n]
      local v = m:disk_view(d)
      v.contentFingerprint = d.fingerprint
      disks[#disks + 1] = v
    end
    names = {}
    for n in pairs(m:zone_instances(z)) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do insts[#insts + 1] = m:instance_view(m:zone_instances(z)[n]) end
  end
  local names = {}
  for n in pairs(m.snapshots) do names[#names + 1] = n end
  table.sort(names)
  for _, n in ipairs(names) do
    local s = m.snapshots[n]
    local v = m:snapshot_view(s)
    v.contentFingerprint = s.fingerprint
    snaps[#snaps + 1] = v
  end
  local counts = {PENDING = 0, RUNNING = 0, DONE = 0}
  for _, op in ipairs(m.op_list) do counts[op.status] = counts[op.status] + 1 end
  return {project = m.project, disks = disks, snapshots = snaps, instances = insts,
          operations = {pending = counts.PENDING, running = counts.RUNNING, done = counts.DONE}}
end

function App:requests(query)
  local since = math.tointeger(tonumber(query.since or 0)) or 0
  local api = query.api
  local out = {}
  for _, e in ipairs(self.log) do
    if e.seq > since and (not api or e.api == api) then out[#out + 1] = e end
  end
  return {requests = out, count = #out, last = self.log_seq}
end

function App:reset()
  self.faults:set(self.baseline_faults)
  self.quota:set({})
  self.log = {}
  self:load(self.fleet_docs)
end

function App:admin(method, rest, query, body)
  local function ok(b) return {status = 200, body = b} end
  if rest == "state" and method == "GET" then return ok(self:state()) end
  if rest == "health" and method == "GET" then
    return ok({ok = true, project = self.model.project, project_number = self.model.project_number,
               port = self.port, base = self.base,
               seed = self.seed, latency_scale = self.scale,
               in_flight = self.in_flight - 1, max_in_flight = self.max_in_flight})
  end
  if rest == "faults" then
    if method == "GET" then return ok(self.faults:view()) end
    if method == "POST" or method == "PUT" then
      local v = self.faults:set(admin_body(body))
      self.model.latency = self.faults:latency()
      return ok(v)
    end
    if method == "DELETE" then
      local v = self.faults:set({})
      self.model.latency = self.faults:latency()
      return ok(v)
    end
  end
  if rest == "requests" then
    if method == "GET" then return ok(self:requests(query)) end
    if method == "DELETE" then
      self.log = {}
      return ok({cleared = true, last = self.log_seq})
    end
  end
  if rest == "requests/clear" and method == "POST" then
    self.log = {}
    return ok({cleared = true, last = self.log_seq})
  end
  if rest == "reset" and method == "POST" then
    self:reset()
    return ok({reset = true, project = self.model.project})
  end
  if rest == "fleet" and method == "POST" then
    local doc = admin_body(body)
    local docs = {doc}
    if doc.generate then docs = {fleet.generate(doc.generate)} end
    local okl, err = pcall(self.load, self, docs)
    if not okl then errors.raise(400, "invalid", tostring(err)) end
    self.fleet_docs = docs
    self.faults:set(self.baseline_faults)
    self.model.latency = self.faults:latency()
    self.log = {}
    self.model.base = self.base
    local st = self:state()
    return ok({loaded = true, project = st.project, disks = #st.disks, instances = #st.instances,
               snapshots = #st.snapshots})
  end
  if rest == "auth" then
    if method == "GET" then return ok(self.auth:summary()) end
    if method == "POST" then return ok(self.auth:configure(admin_body(body))) end
  end
  if rest == "auth/tokens" and method == "GET" then return ok(self.auth:grant_log()) end
  if rest == "quota" then
    if method == "GET" then return ok(self.quota:view()) end
    if method == "POST" then return ok(self.quota:set(admin_body(body))) end
  end
  if rest == "write" and method == "POST" then
    local b = admin_body(body)
    local m = self.model
    m:settle()
    local d = type(b.zone) == "string" and type(b.disk) == "string" and m:zone_disks(b.zone)[b.disk]
    if not d then errors.not_found(m:path("zones", tostring(b.zone), "disks", tostring(b.disk))) end
    d.fingerprint = m:fresh_fingerprint("write/" .. d.zone .. "/" .. d.name)
    return ok({zone = d.zone, disk = d.name, contentFingerprint = d.fingerprint})
  end
  errors.raise(404, "notFound", "No emulator admin endpoint " .. method .. " /emulator/v1/" .. rest)
end

------------------------------------------------------------------ entry

local function on_error(e)
  if type(e) == "table" then return e end
  return debug.traceback(tostring(e), 2)
end

function App:dispatch(method, path, query, headers, body, info)
  local rest = path:match("^/compute/v1/(.*)$")
  if rest then
    info.log = true
    return self:compute(method, rest, query, headers, body, info)
  end
  rest = path:match("^/emulator/v1/(.-)/?$")
  if rest then return self:admin(method, rest, query, body) end
  if path == "/token" or path == "/oauth2/v4/token" then
    info.log, info.api = true, "oauth2.token"
    local fx, cut = self:inject("oauth2.token", {}, info)
    if cut then return cut end
    local r = self.auth:token_endpoint(method, headers, body)
    if fx.drop then r.action, info.fault = "reset", "drop_response" end
    return r
  end
  if path == "/" or path:match("^/computeMetadata/") then
    info.log, info.api = true, "metadata"
    local fx, cut = self:inject("metadata", {}, info)
    if cut then return cut end
    local r = self.auth:metadata(method, path, headers, self.model.project, self.model.zone_names[1])
    if fx.drop then r.action, info.fault = "reset", "drop_response" end
    return r
  end
  errors.raise(404, "notFound", "The requested URL " .. path .. " was not found on this server.")
end

--- Handles one HTTP request; returns status, body, content type, extra
-- headers, action (see include/pdlua/emu_http.h).
function App:handle(method, path, query, headers, body)
  local t0 = core.now()
  local info = {}
  self.in_flight = self.in_flight + 1
  if self.in_flight > self.max_in_flight then self.max_in_flight = self.in_flight end
  local ok, r = xpcall(self.dispatch, on_error, self, method, path, query, headers, body, info)
  self.in_flight = self.in_flight - 1
  if not ok then
    local e = r
    if errors.is(e) then
      r = {status = e.code, body = errors.body(e), headers = e.headers}
    elseif type(e) == "table" and e.reason == "cancelled" then
      r = {status = 503, body = errors.body(errors.new(503, "backendError", "The emulator is shutting down."))}
    else
      io.stderr:write("pdlua-emu: internal error on ", method, " ", path, ": ", tostring(e), "\n")
      r = {status = 500, body = errors.body(errors.new(500, "backendError",
                                                       "Internal error in the emulator."))}
    end
  end
  if info.log then
    local q
    if next(query) then q = query end
    self:record({time = self.model:timestamp(core.now()), method = method, path = path, query = q,
                 api = info.api, status = r.status, fault = info.fault,
                 duration_ms = math.floor((core.now() - t0) * 1e6) / 1e3})
  end
  local out = r.raw
  if out == nil then out = r.body ~= nil and json.encode(r.body) or "" end
  return r.status, out, r.ctype or JSON_TYPE, r.headers, r.action
end

return M
