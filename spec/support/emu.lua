--- Starts a pdlua-emu for a spec and talks to it with the curl command
-- (independent of pdlua's own client, which is tested against it).
--
--   local emu = require("support.emu").start{fleet = "examples/fleets/demo.json",
--                                             latency_scale = 0.001}
--   emu.url, emu.endpoint, emu.project, emu.port
--   emu:state()  emu:faults{...}  emu:requests{api = "disks.insert"}
--   emu:clear_requests()  emu:reset()  emu:load_fleet(tbl)  emu:auth{...}
--   emu:quota{...}  emu:write(zone, disk)
--   local status, body = emu:api("GET", "zones/us-central1-a/disks/d")   -- under projects/{p}/
--   local status, body, headers = emu:request("POST", url, {body = ..., headers = {...}})
--   emu:wait(op)        -- polls operations.wait until DONE; returns the op
--   emu:stop()          -- SIGTERM; raises unless it exited 0 with no sanitizer report
--
-- start{} options: fleet (a path, "gen:N", or a table written to a temp
-- file), latency_scale (default 0.001), seed, args (extra flags, array).
local env = require "support.env"
local json = require "pdlua.json"
local emulator = require "pdlua.emulator"

local M = {}
local Emu = setmetatable({}, {__index = emulator.Emulator})
Emu.__index = Emu

local read = env.read

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

--- The JSON codec (pdlua.json), for specs.
M.json = json

--- Starts an emulator; raises if it does not say it is listening.
function M.start(opts)
  opts = opts or {}
  local e, msg = emulator.start {bin = env.emu, fleet = opts.fleet, latency_scale = opts.latency_scale or 0.001,
                                 seed = opts.seed or 1, watch_pid = true, args = opts.args}
  if not e then error(msg, 2) end
  setmetatable(e, Emu)
  e.endpoint = e.url .. "/compute/v1/"
  local _, st = e:request("GET", e.url .. "/emulator/v1/health")
  e.project = st.project
  return e
end

--- Raw HTTP with curl. opts: body (string or table -> JSON), headers
-- (table), form (table -> x-www-form-urlencoded), timeout (seconds).
-- Returns status (0 when the connection failed), decoded JSON body (or the
-- text), the response headers (lower-cased names), the raw body.
function Emu:request(method, url, opts)
  opts = opts or {}
  local q = env.quote
  local parts = {"curl -s -S -X", q(method), "-o", q(self.dir .. "/body"), "-D", q(self.dir .. "/hdrs"),
                 "-w '%{http_code}'", "--max-time", tostring(opts.timeout or 60)}
  for k, v in pairs(opts.headers or {}) do parts[#parts + 1] = "-H " .. q(k .. ": " .. v) end
  local body = opts.body
  if opts.form then
    local kv = {}
    for k, v in pairs(opts.form) do
      kv[#kv + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", c:byte())
      end)
    end
    table.sort(kv)
    body = table.concat(kv, "&")
    parts[#parts + 1] = "-H 'Content-Type: application/x-www-form-urlencoded'"
  elseif type(body) == "table" then
    body = json.encode(body)
    parts[#parts + 1] = "-H 'Content-Type: application/json'"
  end
  if body then
    write(self.dir .. "/req", body)
    parts[#parts + 1] = "--data-binary @" .. q(self.dir .. "/req")
  end
  os.remove(self.dir .. "/body")
  os.remove(self.dir .. "/hdrs")
  parts[#parts + 1] = q(url)
  local p = io.popen(table.concat(parts, " ") .. " 2>/dev/null", "r")
  local code = p:read("a")
  p:close()
  local raw = read(self.dir .. "/body") or ""
  local headers = {}
  for line in (read(self.dir .. "/hdrs") or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  local ok, decoded = pcall(json.decode, raw)
  return tonumber(code) or 0, ok and decoded or raw, headers, raw
end

--- A Compute API call under projects/{project}/ (or a full URL), with a
-- bearer token (opts.token, default "test-token"; false sends none).
-- A `query` table is URL-encoded. Returns status, body, headers, raw.
function Emu:api(method, path, body, opts)
  opts = opts or {}
  local url = path
  if not path:match("^https?://") then url = self.endpoint .. "projects/" .. self.project .. "/" .. path end
  if opts.query then
    local kv = {}
    for k, v in pairs(opts.query) do
      kv[#kv + 1] = k .. "=" .. tostring(v):gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", c:byte())
      end)
    end
    table.sort(kv)
    url = url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(kv, "&")
  end
  local headers = opts.headers or {}
  if opts.token ~= false then headers.Authorization = "Bearer " .. (opts.token or "test-token") end
  return self:request(method, url, {body = body, headers = headers, timeout = opts.timeout})
end

--- Waits for an operation (a table with selfLink) to be DONE, calling
-- operations.wait in a loop; returns the final operation.
function Emu:wait(op, timeout)
  local deadline = os.time() + (timeout or 60)
  while true do
    local status, o = self:api("POST", op.selfLink .. "/wait")
    assert(status == 200, "operations.wait answered " .. tostring(status))
    if o.status == "DONE" then return o end
    if os.time() > deadline then error("operation " .. op.name .. " not DONE in time", 2) end
  end
end

local function admin(self, method, what, body)
  local status, b = self:request(method, self.url .. "/emulator/v1/" .. what, {body = body})
  if status ~= 200 then
    error(string.format("emulator %s %s: %s %s", method, what, status, json.encode(b)), 3)
  end
  return b
end

function Emu:state() return admin(self, "GET", "state") end
function Emu:faults(cfg) return admin(self, "POST", "faults", cfg or {}) end
function Emu:reset() return admin(self, "POST", "reset", {}) end
function Emu:load_fleet(doc) return admin(self, "POST", "fleet", doc) end
function Emu:auth(cfg) return admin(self, "POST", "auth", cfg) end
function Emu:quota(cfg) return admin(self, "POST", "quota", cfg) end
function Emu:clear_requests() return admin(self, "DELETE", "requests") end
function Emu:write(zone, disk) return admin(self, "POST", "write", {zone = zone, disk = disk}) end

--- The request log; filter = {api = "disks.insert", since = seq}.
function Emu:requests(filter)
  local q = {}
  for k, v in pairs(filter or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
  local b = admin(self, "GET", "requests" .. (#q > 0 and ("?" .. table.concat(q, "&")) or ""))
  return b.requests, b
end

--- A disk (or snapshot, instance) from the admin state by name.
function Emu:find(kind, name)
  for _, r in ipairs(self:state()[kind]) do
    if r.name == name then return r end
  end
  return nil
end

--- Stops the emulator with SIGTERM and waits for it. Unless opts.check is
-- false, raises when it did not exit 0 or printed a sanitizer report.
-- Returns the exit code and stderr.
function Emu:stop(opts)
  if self.stopped then return self.rc, self.stderr end
  local rc, err = emulator.Emulator.stop(self)
  if not (opts and opts.check == false) then
    assert(rc == 0, "pdlua-emu exited with " .. tostring(rc) .. ": " .. err)
    for _, pat in ipairs {"Sanitizer", "runtime error:", "internal error"} do
      assert(not err:find(pat, 1, true), "pdlua-emu stderr: " .. err)
    end
  end
  return rc, err
end

return M
