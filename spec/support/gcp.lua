--- Shared by the client's end-to-end specs: a small fleet, an emulator
-- started on it, and clients pointed at that emulator with fast retries.
local emu_support = require "support.emu"

local M = {}

M.project = "gcp-spec"
M.zone = "us-central1-a"

M.fleet = {
  project = M.project,
  zones = {"us-central1-a", "us-central1-b"},
  instances = {
    {name = "vm-1", zone = "us-central1-a", machineType = "n2-standard-4", status = "RUNNING",
     labels = {app = "web"},
     disks = {
       {name = "vm-1", boot = true, autoDelete = true, type = "pd-balanced", sizeGb = 20},
       {name = "vm-1-data", deviceName = "data", type = "pd-standard", sizeGb = 100,
        labels = {env = "prod"}},
     }},
    {name = "vm-2", zone = "us-central1-b", machineType = "e2-standard-2", status = "TERMINATED",
     disks = {{name = "vm-2", boot = true, autoDelete = true, type = "pd-balanced", sizeGb = 10}}},
  },
  disks = {
    {name = "spare", zone = "us-central1-a", type = "pd-ssd", sizeGb = 50, labels = {env = "dev"}},
  },
}

--- Starts an emulator (opts as support.emu's start; fleet defaults to ours).
function M.start(opts)
  opts = opts or {}
  if opts.fleet == nil then opts.fleet = M.fleet end
  return emu_support.start(opts)
end

--- A client on the emulator with quick retries; opts override.
function M.client(emu, opts)
  local o = {project = emu.project, zone = M.zone, endpoint = emu.endpoint,
             credentials = {access_token = "test-token"}, qps = 0,
             backoff_initial = 0.01, backoff_max = 0.05}
  for k, v in pairs(opts or {}) do o[k] = v end
  return gcp.client(o)
end

--- Calls f and returns the pdlua error it raises (fails if it does not).
function M.error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  assert(pd.is_error(err), "not a pdlua.error: " .. tostring(err))
  return err
end

--- Request-log entries of one API method (since the log was cleared).
function M.requests(emu, api)
  return (emu:requests{api = api})
end

return M
