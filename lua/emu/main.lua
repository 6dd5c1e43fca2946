--- Entry point of pdlua-emu (called by src/emu/main.c): parses the command
-- line, builds the emulator, and hands C the request handler.
local cli = require "emu.cli"
local fleet = require "emu.fleet"
local json = require "emu.json"
local app = require "emu.app"

local M = {}

--- Returns {exit = code} when the program is done (help, --generate, a
-- usage or fleet error), else {port, watch_pid, handler, on_listen}.
function M.setup(args)
  local cfg, code = cli.parse(args)
  if not cfg then return {exit = code} end
  if cfg.generate then
    local doc = fleet.generate({disks = cfg.generate, seed = cfg.seed, project = cfg.project})
    io.stdout:write(json.encode(doc), "\n")
    return {exit = 0}
  end
  local ok, emu = pcall(function()
    cfg.fleet_docs = cli.read_fleets(cfg)
    return app.new(cfg)
  end)
  if not ok then
    io.stderr:write("pdlua-emu: ", tostring(emu), "\n")
    return {exit = 2}
  end
  return {
    port = cfg.port,
    watch_pid = cfg.watch_pid,
    handler = function(method, path, query, headers, body)
      return emu:handle(method, path, query, headers, body)
    end,
    on_listen = function(port) emu:listening(port) end,
  }
end

return M
