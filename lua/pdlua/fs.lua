--- pdlua.fs: reading a whole file, the one small file helper the library
-- shares (atomic, fsynced writes are pdlua.host's write_file_atomic).
local M = {}

--- The contents of `path`, or nil when it cannot be read.
function M.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return M
