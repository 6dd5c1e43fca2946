--- pdlua.repl: the interactive prompt of `pdlua` with no script.
-- Line editing and history (~/.pdlua_history) through GNU readline;
-- incomplete chunks continue on the next line; expressions print their
-- values through pdlua.pretty; Tab completes globals and table fields;
-- Ctrl-C cancels the running command (or clears the line), Ctrl-D leaves.
-- A client for the configured project is ready as `client`, with short
-- helpers (`disks{}`, `instances{}`) that print as resource tables, and
-- `plan{}`/`migrate{}`, which go through pdlua.migrate as migrate.lua does.
local host = require "pdlua.host"
local pretty = require "pdlua.pretty"

local M = {}

local function history_path()
  local home = os.getenv("HOME")
  return home and (home .. "/.pdlua_history") or nil
end

--- Compiles a chunk: as an expression first (so `1+1` prints 2), then as
-- statements. Returns the function; or nil, the error and whether the
-- chunk is only incomplete (more lines may finish it).
function M.compile(src, env)
  env = env or _G
  local fn = load("return " .. src, "=stdin", "t", env)
  if fn then return fn end
  local err
  fn, err = load(src, "=stdin", "t", env)
  if fn then return fn end
  return nil, err, err:find("<eof>", 1, true) ~= nil
end

--- Renders the results of a command, one value per line.
function M.format_results(res, first, last)
  local parts = {}
  for i = first, last do
    local v = res[i]
    if type(v) == "string" then
      parts[#parts + 1] = v
    else
      parts[#parts + 1] = pretty.show(v)
    end
  end
  return table.concat(parts, "\n")
end

local function fields_of(v)
  local names, seen = {}, {}
  local depth = 0
  while v ~= nil and depth < 5 do
    if type(v) == "table" then
      for k in pairs(v) do
        if type(k) == "string" and not seen[k] then
          seen[k] = true
          names[#names + 1] = k
        end
      end
    end
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(idx) ~= "table" then break end
    v, depth = idx, depth + 1
  end
  return names
end

--- Completion candidates for the word being typed (`text`): a global, or
-- a field or method after `a.b.` / `a:`.
function M.complete(text, env)
  env = env or _G
  local prefix, sep, partial = text:match("^(.-)([.:])([%w_]*)$")
  local base = env
  if prefix then
    for part in prefix:gmatch("[^.:]+") do
      if type(base) ~= "table" and type(getmetatable(base)) ~= "table" then return {} end
      local ok, v = pcall(function() return base[part] end)
      if not ok then return {} end
      base = v
    end
  else
    prefix, sep, partial = "", "", text
  end
  local out = {}
  for _, name in ipairs(fields_of(base)) do
    if name:sub(1, #partial) == partial and name:match("^[%a_][%w_]*$") then
      local ok, v = pcall(function() return base[name] end)
      if sep ~= ":" or (ok and type(v) == "function") then
        out[#out + 1] = prefix .. sep .. name
      end
    end
  end
  table.sort(out)
  return out
end

local help_text = [[
pdlua REPL — Lua 5.4 with these ready:
  pd, gcp              the engine and the Compute Engine client module
  client               a client for the configured project and zone
  disks{zone=, filter=}       the disks of a zone (all zones without one)
  instances{zone=, filter=}   the instances, likewise
  plan{target_type=, instances=, disks=, ...}
                       what migrate.lua would do (changes nothing)
  migrate{target_type=, ..., yes=true}
                       run migrate.lua with these options, with progress
                       (keys are its flags: dry_run=true, label={k="v"})
  help()               this text
Values print as tables (resources as columns). Tab completes globals and
fields; Ctrl-C cancels the running command; Ctrl-D leaves. History is kept
in ~/.pdlua_history.]]

-- The REPL's client: made at start-up for the configured project and zone
-- (`pdlua --project P --zone Z`, the environment, gcloud's configuration),
-- or on first use if that failed.
local function get_client(env)
  if env.client == nil then env.client = require("pdlua.gcp").client{} end
  return env.client
end

local function listing(env, coll, o)
  o = o or {}
  if type(o) == "string" then o = {zone = o} end
  if type(o) ~= "table" then
    error(("%s{zone =, filter =}: expected a table"):format(coll), 3)
  end
  local c = get_client(env)
  local gcp = require "pdlua.gcp"
  local zone = o.zone or c.zone
  local params = {filter = o.filter, project = o.project}
  if zone then
    params.zone = zone
    return gcp.collect(c[coll]:list(params))
  end
  return gcp.collect(c[coll]:aggregated_list(params))
end

-- Keys whose flag is not the key with '-' for '_' (`target_disk_type`,
-- the flag's own spelling, is taken too).
local FLAG_OF = {target_type = "target-disk-type"}

--- Turns a helper's table into migrate.lua's arguments: `{target_type =
-- "pd-balanced", instances = {"web-1"}, label = {env = "prod"}, yes =
-- true}` → `--target-disk-type pd-balanced --instances web-1 --label
-- env=prod --yes`. Array entries pass through as they are. The client's
-- project and zone fill in what is not given.
function M.migrate_args(o, client)
  o = o or {}
  local args = {}
  for _, a in ipairs(o) do args[#args + 1] = tostring(a) end
  local keys = {}
  for k in pairs(o) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  local has = {}
  for _, k in ipairs(keys) do
    local v, flag = o[k], "--" .. (FLAG_OF[k] or k:gsub("_", "-"))
    has[k] = true
    if v == true then
      args[#args + 1] = flag
    elseif v == false or v == nil then
      -- a flag left off
    elseif type(v) == "table" and #v == 0 and next(v) then
      local labels = {}
      for lk, lv in pairs(v) do labels[#labels + 1] = lk .. "=" .. tostring(lv) end
      table.sort(labels)
      for _, l in ipairs(labels) do args[#args + 1] = flag; args[#args + 1] = l end
    elseif type(v) == "table" then
      args[#args + 1] = flag
      local items = {}
      for i, x in ipairs(v) do items[i] = tostring(x) end
      args[#args + 1] = table.concat(items, ",")
    else
      args[#args + 1] = flag
      args[#args + 1] = tostring(v)
    end
  end
  for _, a in ipairs(args) do
    local name = a:match("^%-%-([%w%-]+)")
    if name then has[name:gsub("%-", "_")] = true end
  end
  if client then
    if not has.project and client.project then
      args[#args + 1] = "--project"; args[#args + 1] = client.project
    end
    if not has.zone and not has.region and client.zone then
      args[#args + 1] = "--zone"; args[#args + 1] = client.zone
    end
  end
  return args
end

-- Runs scripts/migrate.lua in this process with these arguments: the same
-- plan, confirmation, journal, progress and report as the command line.
-- Its os.exit becomes a return of the exit code, so the REPL stays; the
-- run lock it took (held until its process ends) is let go of then.
local function run_migrate_script(args)
  local held = {}
  for _, p in ipairs(host.locks()) do held[p] = true end
  local function unlock()
    for _, p in ipairs(host.locks()) do
      if not held[p] then host.unlock_file(p) end
    end
  end
  local _, script_dir = require("pdlua.core").paths()
  local path = script_dir .. "/migrate.lua"
  local exit_tag = {}
  local fake_os = setmetatable({exit = function(code)
    error(setmetatable({code = code == true and 0 or code == false and 1 or code or 0},
                       {__index = exit_tag}), 0)
  end}, {__index = os})
  local env = setmetatable({os = fake_os, arg = args}, {__index = _G, __newindex = _G})
  local chunk, err = loadfile(path, "t", env)
  if not chunk then error("migrate{}: " .. tostring(err), 0) end
  io.stdout:flush()
  local ok, e = pcall(chunk, table.unpack(args))
  io.stdout:flush()
  unlock()
  if ok then return 0 end
  if type(e) == "table" and getmetatable(e) and getmetatable(e).__index == exit_tag then
    return e.code
  end
  error(e, 0)
end

--- Adds the REPL's helpers to an environment (the globals by default):
-- `client`, `disks{}`, `instances{}`, `plan{}`, `migrate{}`, `help()`.
-- @param env table
-- @return env, and the error if the client could not be made yet
function M.install_helpers(env)
  env = env or _G
  local ok, c = pcall(require("pdlua.gcp").client, {})
  if ok then env.client = c end
  --- The disks of a zone (`zone` or the client's), all zones without one.
  env.disks = function(o) return listing(env, "disks", o) end
  --- The instances of a zone, all zones without one.
  env.instances = function(o) return listing(env, "instances", o) end
  env.help = function() print(help_text) end
  --- The migration plan for these migrate.lua options (nothing changes):
  -- a table that prints as the text plan of `migrate.lua --dry-run`.
  env.plan = function(o)
    local c = get_client(env)
    local dry = {}
    for k, v in pairs(o or {}) do dry[k] = v end
    dry.dry_run = true
    local m, err = require("pdlua.migrate").open(M.migrate_args(dry, c), {client = c})
    local p
    if m then p, err = m:plan() end
    if not p then error("plan{}: " .. err.message, 2) end
    return setmetatable(p, {__tostring = function() return m:show("text") end})
  end
  --- Runs a migration, exactly as `pdlua migrate.lua` with these options
  -- (plan, confirmation unless `yes = true`, journal, live progress,
  -- report); returns its exit code. Ctrl-C stops it gracefully.
  env.migrate = function(o)
    return run_migrate_script(M.migrate_args(o, get_client(env)))
  end
  return env, not ok and c or nil
end

--- Runs the read-eval-print loop until end of input.
function M.run()
  local hist = history_path()
  if hist then host.read_history(hist) end
  host.set_completer(function(text) return M.complete(text) end)
  local _, client_err = M.install_helpers(_G)
  if host.isatty("stdin") then
    print(("pdlua %s — Lua 5.4 with pd and gcp; help() lists the helpers, Tab completes, Ctrl-C cancels, Ctrl-D leaves")
      :format(require("pdlua").version))
    local c = rawget(_G, "client")
    if c then
      print(("client: project %s, zone %s, %s"):format(c.project or "(none)", c.zone or "(none)",
                                                       c.endpoint))
    else
      print("client: not ready (" .. tostring(client_err) .. ")")
    end
  end
  while true do
    local src = host.readline("> ")
    if src == nil then break end
    if src then
      local fn, err, incomplete = M.compile(src)
      while not fn and incomplete do
        local more = host.readline(">> ")
        if not more then src = nil break end
        src = src .. "\n" .. more
        fn, err, incomplete = M.compile(src)
      end
      if src then
        host.add_history(src)
        if fn then
          local res = table.pack(host.call(fn))
          if res[1] then
            if res.n > 1 then print(M.format_results(res, 2, res.n)) end
          else
            -- the REPL's own frames are noise in a command's traceback
            local msg = tostring(res[2]):gsub("\n%s*%[C%]: in function 'pdlua%.host%.call'.*$", "")
            io.stderr:write(msg, "\n")
          end
        else
          io.stderr:write(err, "\n")
        end
      end
    end
  end
  if hist then host.write_history(hist) end
  if host.isatty("stdin") then print() end
end

return M
