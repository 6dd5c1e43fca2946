--- pdlua.config: the project and zone an operator means, found the way
-- gcloud users expect: explicit values (flags) first, then
-- CLOUDSDK_CORE_PROJECT / CLOUDSDK_COMPUTE_ZONE / CLOUDSDK_COMPUTE_REGION,
-- then gcloud's active configuration file
-- ($CLOUDSDK_CONFIG or ~/.config/gcloud: `active_config` names
-- `configurations/config_NAME`, an INI file with [core] project and
-- [compute] zone, region). CLOUDSDK_ACTIVE_CONFIG_NAME overrides the name.
local M = {}

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

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

--- Resolves {project, zone, region} from explicit values, then the
-- environment, then the active gcloud configuration. Also returns where
-- each value came from ("flag", "env", "gcloud").
-- @param explicit table with optional project, zone, region
-- @param env optional getenv-like function (tests)
function M.resolve(explicit, env)
  explicit = explicit or {}
  env = env or os.getenv
  local gc = M.gcloud_active(env) or {}
  local core, compute = gc.core or {}, gc.compute or {}
  local out, source = {}, {}
  local function pick(key, envname, ini)
    local function nonempty(v) return v ~= nil and v ~= "" and v or nil end
    if nonempty(explicit[key]) then out[key], source[key] = explicit[key], "flag"
    elseif nonempty(env(envname)) then out[key], source[key] = env(envname), "env"
    elseif nonempty(ini) then out[key], source[key] = ini, "gcloud" end
  end
  pick("project", "CLOUDSDK_CORE_PROJECT", core.project)
  pick("zone", "CLOUDSDK_COMPUTE_ZONE", compute.zone)
  pick("region", "CLOUDSDK_COMPUTE_REGION", compute.region)
  return out, source
end

return M
