--- pdlua.config: the project and zone an operator means, found the way
-- gcloud users expect: explicit values (flags: a script's own, then
-- `pdlua --project P --zone Z`) first, then
-- CLOUDSDK_CORE_PROJECT / CLOUDSDK_COMPUTE_ZONE / CLOUDSDK_COMPUTE_REGION,
-- then the project of the credentials in use (a key file's), then gcloud's
-- active configuration file
-- ($CLOUDSDK_CONFIG or ~/.config/gcloud: `active_config` names
-- `configurations/config_NAME`, an INI file with [core] project and
-- [compute] zone, region). CLOUDSDK_ACTIVE_CONFIG_NAME overrides the name.
-- Everything that needs a project or a zone asks `resolve`: gcp.client's
-- defaults (and so the REPL's client) and pdlua.migrate.open.
local M = {}

--- Values given on pdlua's own command line (`pdlua --project P --zone Z`):
-- they count as flags for every client and script of the process, below
-- values passed explicitly to `resolve`.
M.flags = {}

--- Sets the process-wide flag values (project, zone, region).
function M.set_flags(t)
  M.flags = {}
  for k, v in pairs(t or {}) do M.flags[k] = v end
end

local read_file = require("pdlua.fs").read

--- Parses an INI text into {section = {key = value}}.
function M.parse_ini(text)
  local out, section = {}, nil
  for raw in (text or ""):gmatch("[^\n]+") do
    local line = raw:gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:match("^[#;]") then
      local name = line:match("^%[(.-)%]$")
      if name then
        section = name
        out[section] = out[section] or {}
      elseif section then
        local k, v = line:match("^([^=]-)%s*=%s*(.*)$")
        if k then out[section][k] = v end
      end
    end
  end
  return out
end

--- gcloud's configuration directory.
function M.gcloud_dir(env)
  env = env or os.getenv
  local dir = env("CLOUDSDK_CONFIG")
  if dir and dir ~= "" then return dir end
  local home = env("HOME")
  return home and (home .. "/.config/gcloud") or nil
end

--- The active gcloud configuration as {core = {...}, compute = {...}}, and
-- its name; nil when there is none.
function M.gcloud_active(env)
  env = env or os.getenv
  local dir = M.gcloud_dir(env)
  if not dir then return nil end
  local name = env("CLOUDSDK_ACTIVE_CONFIG_NAME")
  if not name or name == "" then
    name = (read_file(dir .. "/active_config") or "default"):gsub("%s+", "")
    if name == "" then name = "default" end
  end
  local text = read_file(dir .. "/configurations/config_" .. name)
  if not text then return nil end
  return M.parse_ini(text), name
end

--- Resolves {project, zone, region}: the one place that says where each
-- comes from. First explicit values (a script's own flags), then pdlua's
-- (`pdlua --project/--zone`, M.flags), then CLOUDSDK_CORE_PROJECT /
-- CLOUDSDK_COMPUTE_ZONE / CLOUDSDK_COMPUTE_REGION, then `credentials`
-- (the project of a service-account key, as Google's libraries do), then
-- the active gcloud configuration, read only when something is still
-- missing. Also returns where each value came from ("flag", "env",
-- "credentials", "gcloud").
-- @param explicit table with optional project, zone, region (false: none,
--   and nothing is looked up for it)
-- @param env optional getenv-like function (tests)
-- @param credentials optional {project =} of the credentials in use
function M.resolve(explicit, env, credentials)
  explicit = explicit or {}
  env = env or os.getenv
  credentials = credentials or {}
  local function nonempty(v) return v ~= nil and v ~= "" and v or nil end
  local gc
  local function gcloud(section, key)
    if gc == nil then gc = M.gcloud_active(env) or {} end
    return (gc[section] or {})[key]
  end
  local out, source = {}, {}
  local function pick(key, envname, section)
    local v, from
    if explicit[key] == false then v = nil
    elseif nonempty(explicit[key]) then v, from = explicit[key], "flag"
    elseif nonempty(M.flags[key]) then v, from = M.flags[key], "flag"
    elseif nonempty(env(envname)) then v, from = env(envname), "env"
    elseif nonempty(credentials[key]) then v, from = credentials[key], "credentials"
    else
      v = nonempty(gcloud(section, key))
      from = v and "gcloud" or nil
    end
    out[key], source[key] = v, from
  end
  pick("project", "CLOUDSDK_CORE_PROJECT", "core")
  pick("zone", "CLOUDSDK_COMPUTE_ZONE", "compute")
  pick("region", "CLOUDSDK_COMPUTE_REGION", "compute")
  return out, source
end

return M
