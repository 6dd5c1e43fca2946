--- pdlua-emu's command line: flags, help, and the configuration they make.
local json = require "emu.json"
local fleet = require "emu.fleet"

local M = {}

M.usage = [[
usage: pdlua-emu --port N --fleet FILE [options]
       pdlua-emu --generate DISKS [--seed S] [--project P]

A Compute Engine v1 emulator on 127.0.0.1 (docs/emulator.md). Once it
accepts requests it prints "listening on http://127.0.0.1:PORT"; the API
base is http://127.0.0.1:PORT/compute/v1/. SIGINT/SIGTERM stop it.

  --port N              port on 127.0.0.1 (0, the default, picks a free one)
  --fleet FILE          fleet to load: the emulator's JSON fleet format, or
                        the JSON of `gcloud compute disks list --format=json`
                        / `gcloud compute instances list --format=json`;
                        repeat to merge several files. "gen:N" loads a
                        generated fleet of N disks. Without it the project
                        starts empty.
  --project P           project id (overrides the fleet's)
  --latency-scale X     multiply every simulated operation duration by X
                        (default 1: realistic; tests use 0.001)
  --seed S              seed for ids, durations, fault draws and generated
                        fleets (default 1)
  --strict-auth         accept only tokens the emulator issued and that have
                        not expired (default: any non-empty bearer token)
  --token-lifetime S    lifetime of issued access tokens, seconds (3600)
  --read-quota N        read requests allowed per minute (0: unlimited)
  --write-quota N       write requests allowed per minute (0: unlimited)
  --quota-window S      length of a quota window in seconds (60)
  --concurrent-ops N    operations in flight allowed (500; 0: unlimited)
  --faults JSON|FILE    initial fault configuration (the body of
                        POST /emulator/v1/faults); kept across resets
  --log-requests        print every API request on stderr
  --watch-pid PID       stop when process PID exits (test harnesses)
  --generate DISKS      print a generated fleet with DISKS disks as JSON and
                        exit (deterministic for a given --seed)
  -h, --help            print this help and exit
  -v, --version         print the version and exit

Admin API (docs/emulator.md): GET /emulator/v1/state, POST /emulator/v1/faults,
GET|DELETE /emulator/v1/requests, POST /emulator/v1/reset,
POST /emulator/v1/fleet, POST /emulator/v1/auth, GET /emulator/v1/auth/tokens,
POST /emulator/v1/quota, POST /emulator/v1/write.
Auth endpoints: POST /token (OAuth2), GET /computeMetadata/v1/... (metadata
server; needs "Metadata-Flavor: Google").

Exit codes: 0 stopped cleanly, 1 could not serve, 2 usage or fleet error.
]]

local function die(msg)
  io.stderr:write("pdlua-emu: ", msg, "\n")
  return nil, 2
end

local function number(flag, v, int)
  local n = tonumber(v)
  if not n or (int and not math.tointeger(n)) then return nil end
  return int and math.tointeger(n) or n
end

--- Parses arguments. Returns cfg, or nil and an exit code (after printing
-- help, the version or an error).
function M.parse(args)
  local cfg = {port = 0, seed = 1, latency_scale = 1.0, fleets = {}, quota = {}}
  local i = 1
  local function value(flag)
    i = i + 1
    local v = args[i]
    if v == nil then return nil end
    return v
  end
  while i <= #args do
    local a = args[i]
    local flag, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    if flag then
      a = flag
      table.insert(args, i + 1, inline)
    end
    if a == "-h" or a == "--help" then
      io.stdout:write(M.usage)
      return nil, 0
    elseif a == "-v" or a == "--version" then
      local core = require "pdlua.core"
      io.stdout:write("pdlua-emu ", core.version, " (", _VERSION, ")\n")
      return nil, 0
    elseif a == "--port" then
      local n = number(a, value(a), true)
      if not n or n < 0 or n > 65535 then return die("--port needs a port number (0-65535)") end
      cfg.port = n
    elseif a == "--fleet" then
      local v = value(a)
      if not v then return die("--fleet needs a file") end
      cfg.fleets[#cfg.fleets + 1] = v
    elseif a == "--project" then
      cfg.project = value(a)
      if not cfg.project or not cfg.project:match("^[a-z][-a-z0-9]*$") then
        return die("--project needs a project id (lowercase letters, digits, dashes)")
      end
    elseif a == "--latency-scale" then
      local n = number(a, value(a))
      if not n or n < 0 then return die("--latency-scale needs a non-negative number") end
      cfg.latency_scale = n
    elseif a == "--seed" then
      local n = number(a, value(a), true)
      if not n then return die("--seed needs an integer") end
      cfg.seed = n
    elseif a == "--strict-auth" then
      cfg.strict_auth = true
    elseif a == "--token-lifetime" then
      local n = number(a, value(a))
      if not n or n <= 0 then return die("--token-lifetime needs a positive number of seconds") end
      cfg.token_lifetime = n
    elseif a == "--read-quota" or a == "--write-quota" or a == "--concurrent-ops" then
      local n = number(a, value(a), true)
      if not n or n < 0 then return die(a .. " needs a non-negative integer") end
      local key = ({["--read-quota"] = "read_per_minute", ["--write-quota"] = "write_per_minute",
                    ["--concurrent-ops"] = "concurrent_operations"})[a]
      cfg.quota[key] = n
    elseif a == "--quota-window" then
      local n = number(a, value(a))
      if not n or n <= 0 then return die("--quota-window needs a positive number of seconds") end
      cfg.quota.window_seconds = n
    elseif a == "--faults" then
      local v = value(a)
      if not v then return die("--faults needs JSON or a file") end
      local text = v
      if not v:match("^%s*{") then
        local f = io.open(v, "r")
        if not f then return die("--faults: cannot read " .. v) end
        text = f:read("a")
        f:close()
      end
      local doc, err = json.decode(text)
      if type(doc) ~= "table" then return die("--faults: invalid JSON: " .. tostring(err)) end
      cfg.faults = doc
    elseif a == "--log-requests" then
      cfg.log_requests = true
    elseif a == "--watch-pid" then
      local n = number(a, value(a), true)
      if not n or n <= 0 then return die("--watch-pid needs a process id") end
      cfg.watch_pid = n
    elseif a == "--generate" then
      local n = number(a, value(a), true)
      if not n or n < 1 then return die("--generate needs a number of disks") end
      cfg.generate = n
    else
      return die("unknown option '" .. a .. "' (see --help)")
    end
    i = i + 1
  end
  return cfg
end

--- Reads the fleet documents named by --fleet flags. Raises "fleet: ...".
function M.read_fleets(cfg)
  local docs = {}
  for _, f in ipairs(cfg.fleets) do
    local n = f:match("^gen:(%d+)$")
    if n then
      docs[#docs + 1] = fleet.generate({disks = tonumber(n), seed = cfg.seed, project = cfg.project})
    else
      docs[#docs + 1] = fleet.read_file(f)
    end
  end
  return docs
end

return M
