--- Shared by specs: where the binaries under test are, and running them.
-- `make test` sets PDLUA_BIN and PDLUA_EMU to the build being tested (the
-- sanitizer builds under `make test-sanitize`).
local M = {}

local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/support/env%.lua$") or "."
M.root = root
M.pdlua = os.getenv("PDLUA_BIN") or (root .. "/build/pdlua")
M.emu = os.getenv("PDLUA_EMU") or (root .. "/build/pdlua-emu")
M.sanitize = os.getenv("PDLUA_SANITIZE")   -- "asan", "tsan" or nil

--- Quotes a string for the shell.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A file's contents, or nil when it cannot be read.
M.read = require("pdlua.fs").read

--- The whole of a file (raises if it cannot be read).
function M.read_file(path)
  return assert(M.read(path), "cannot read " .. tostring(path))
end

--- Writes `text` to `path` (raises if it cannot).
function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- The paths a shell pattern matches (none: an empty list).
function M.glob(pattern)
  local p = io.popen("ls -d " .. pattern .. " 2>/dev/null")
  local list = {}
  for l in p:lines() do list[#list + 1] = l end
  p:close()
  return list
end

--- A fresh temporary path, not yet created.
function M.tmp_path()
  local p = os.tmpname()
  os.remove(p)
  return p
end

--- Runs a shell command; returns its stdout, stderr and exit code.
function M.run(cmd)
  local errf = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. M.quote(errf), "r")
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errf, "r")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errf)
  return out, err, code
end

--- Runs `pdlua` with the given argument string.
function M.pdlua_run(args, opts)
  local prefix = ""
  if opts and opts.env then
    for k, v in pairs(opts.env) do prefix = prefix .. k .. "=" .. M.quote(v) .. " " end
  end
  local stdin = (opts and opts.stdin) and ("< " .. M.quote(opts.stdin)) or "</dev/null"
  return M.run(prefix .. M.quote(M.pdlua) .. " " .. args .. " " .. stdin)
end

return M
