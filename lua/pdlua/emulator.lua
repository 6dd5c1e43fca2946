--- pdlua.emulator: starts and stops a pdlua-emu on 127.0.0.1 for the code
-- that drives one from Lua — the spec helper (spec/support/emu.lua), the
-- demo (examples/demo.lua) and the benchmarks (bench/) — so that the way
-- it is launched, found listening and shut down lives in one place.
--
-- The emulator runs in the background under a small shell wrapper that
-- records its pid and, once it has exited, its exit code; its stdout and
-- stderr go to files in a private temporary directory (`h.dir`, removed by
-- `stop`). The port is the one it prints ("listening on http://...").
--
--   local emulator = require "pdlua.emulator"
--   local h, msg, stderr = emulator.start{bin = ..., fleet = "f.json", latency_scale = 0.01}
--   h.url, h.port, h.pid, h.dir
--   local rc, stderr = h:stop()
local M = {}

--- The methods of a started emulator; callers may derive their own class
-- from it (`setmetatable(Class, {__index = emulator.Emulator})`).
local Emulator = {}
Emulator.__index = Emulator
M.Emulator = Emulator

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- pd.sleep releases the interpreter lock and is interruptible; outside
-- pdlua (plain lua) a shell sleep does.
local ok_core, core = pcall(require, "pdlua.core")
local function sleep(s)
  if ok_core and core.sleep then core.sleep(s) else os.execute("sleep " .. s) end
end

local read = require("pdlua.fs").read

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local function self_pid()
  local s = read("/proc/self/stat")
  return s and s:match("^(%d+)")
end

--- Starts an emulator and waits until it listens.
--
-- opts: `bin` (default $PDLUA_EMU or "pdlua-emu"); `fleet` (a path,
-- "gen:N", or a table written to a JSON file); `latency_scale`; `seed`
-- (passed only when given); `watch_pid` (true: the emulator exits when
-- this process does); `args` (extra flags, an array); `timeout` (seconds to
-- wait for it to listen, default 60).
--
-- Returns the started emulator (fields `url`, `port`, `pid`, `dir`), or
-- nil, a message and the emulator's stderr when it exited before listening
-- or did not listen in time (it is then stopped and its directory removed).
function M.start(opts)
  opts = opts or {}
  local dir = assert(io.popen("mktemp -d")):read("l")
  local fleet = opts.fleet
  if type(fleet) == "table" then
    write(dir .. "/fleet.json", require("pdlua.json").encode(fleet))
    fleet = dir .. "/fleet.json"
  end
  local args = {"--port", "0"}
  if opts.latency_scale then
    args[#args + 1] = "--latency-scale"
    args[#args + 1] = tostring(opts.latency_scale)
  end
  if opts.seed then
    args[#args + 1] = "--seed"
    args[#args + 1] = tostring(opts.seed)
  end
  if fleet then
    args[#args + 1] = "--fleet"
    args[#args + 1] = fleet
  end
  local pid = opts.watch_pid and self_pid()
  if pid then
    args[#args + 1] = "--watch-pid"
    args[#args + 1] = pid
  end
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = quote(a) end
  local bin = opts.bin or os.getenv("PDLUA_EMU") or "pdlua-emu"
  os.execute(string.format("(%s %s >%s 2>%s & echo $! >%s; wait $!; echo $? >%s) >/dev/null 2>&1 </dev/null &",
                           quote(bin), table.concat(quoted, " "), quote(dir .. "/out"), quote(dir .. "/err"),
                           quote(dir .. "/pid"), quote(dir .. "/rc")))
  local h = setmetatable({dir = dir}, Emulator)
  local timeout = opts.timeout or 60
  local deadline = os.time() + timeout
  while os.time() <= deadline do
    local port = (read(dir .. "/out") or ""):match("listening on http://127%.0%.0%.1:(%d+)")
    if port then
      h.pid = (read(dir .. "/pid") or ""):match("%d+")
      h.port = tonumber(port)
      h.url = "http://127.0.0.1:" .. port
      return h
    end
    if read(dir .. "/rc") then
      local err = read(dir .. "/err") or ""
      os.execute("rm -rf " .. quote(dir))
      return nil, "pdlua-emu exited before listening: " .. err, err
    end
    sleep(0.01)
  end
  local err = read(dir .. "/err") or ""
  h.pid = (read(dir .. "/pid") or ""):match("%d+")
  if h.pid then h:stop() end
  return nil, "pdlua-emu did not start within " .. timeout .. " s: " .. err, err
end

--- Stops the emulator with SIGTERM, waits (up to a minute) for it to exit
-- and removes its directory. Returns its exit code (nil if it could not be
-- read) and its stderr; a second call returns the same.
function Emulator:stop()
  if self.stopped then return self.rc, self.stderr end
  self.stopped = true
  if self.pid then os.execute("kill -TERM " .. self.pid .. " 2>/dev/null") end
  local deadline = os.time() + 60
  local rc
  while os.time() <= deadline do
    rc = read(self.dir .. "/rc")
    if rc and rc:match("%d") then break end
    sleep(0.01)
  end
  local err = read(self.dir .. "/err") or ""
  os.execute("rm -rf " .. quote(self.dir))
  self.rc, self.stderr = tonumber(rc and rc:match("%d+")), err
  return self.rc, err
end

return M
