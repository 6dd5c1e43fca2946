--- pdlua.repl: the interactive prompt of `pdlua` with no script.
-- Line editing and history (~/.pdlua_history) through GNU readline;
-- incomplete chunks continue on the next line; expressions print their
-- values through pdlua.pretty; Tab completes globals and table fields;
-- Ctrl-C cancels the running command (or clears the line), Ctrl-D leaves.
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

--- Runs the read-eval-print loop until end of input.
function M.run()
  local hist = history_path()
  if hist then host.read_history(hist) end
  host.set_completer(function(text) return M.complete(text) end)
  if host.isatty("stdin") then
    print(("pdlua %s — Lua 5.4 with pd and gcp; Tab completes, Ctrl-C cancels, Ctrl-D leaves")
      :format(require("pdlua").version))
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
