--- pdlua.repl: the interactive prompt of `pdlua` with no script.
-- Reads chunks with readline (history in ~/.pdlua_history), continues
-- incomplete ones, prints the values of expressions.
local host = require "pdlua.host"

local M = {}

local function history_path()
  local home = os.getenv("HOME")
  return home and (home .. "/.pdlua_history") or nil
end

-- Compiles a line as an expression first (so `1+1` prints 2), then as a
-- statement. Returns the function, or nil and the error, and whether the
-- chunk is merely incomplete.
local function compile(src)
  local fn = load("return " .. src, "=stdin")
  if fn then return fn end
  local err
  fn, err = load(src, "=stdin")
  if fn then return fn end
  return nil, err, err:find("<eof>", 1, true) ~= nil
end

local function show(...)
  local n = select("#", ...)
  if n == 0 then return end
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  print(table.concat(parts, "\t"))
end

--- Runs the read-eval-print loop until end of input.
function M.run()
  local hist = history_path()
  if hist then host.read_history(hist) end
  print(("pdlua %s  (Ctrl-D to leave)"):format(require("pdlua").version))
  while true do
    local src = host.readline("> ")
    if not src then break end
    local fn, err, incomplete = compile(src)
    while not fn and incomplete do
      local more = host.readline(">> ")
      if not more then break end
      src = src .. "\n" .. more
      fn, err, incomplete = compile(src)
    end
    host.add_history(src)
    if fn then
      local res = table.pack(xpcall(fn, debug.traceback))
      if res[1] then
        show(table.unpack(res, 2, res.n))
      else
        print(tostring(res[2]))
      end
    else
      print(err)
    end
  end
  if hist then host.write_history(hist) end
  print()
end

return M
