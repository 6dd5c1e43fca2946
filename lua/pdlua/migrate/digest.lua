--- pdlua.migrate.digest: SHA-1 digests for deterministic names.
-- Snapshot names, request ids and run ids must come out the same in every
-- run of the same command, on any machine, so they are digests of what
-- identifies them. SHA-1 is what UUID v5 uses; it is not used here for
-- security, only for stable, well-spread identifiers. The digest itself is
-- libcrypto's (`pdlua.core`'s sha1_hex).
local core = require "pdlua.core"

local M = {}

--- SHA-1 of a string as 40 lower-case hex digits.
M.sha1_hex = core.sha1_hex

--- A name-based UUID in the style of RFC 4122 version 5: the SHA-1 of the
-- parts joined with NUL bytes, with the version and variant bits set.
-- Never all zeros, as Compute Engine's requestId demands.
-- @param ... strings (or values turned into strings) that identify the request
-- @treturn string "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx"
function M.uuid(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  local h = core.sha1_hex(table.concat(parts, "\0", 1, parts.n))
  local variant = (tonumber(h:sub(17, 17), 16) & 0x3) | 0x8
  return ("%s-%s-5%s-%x%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(14, 16),
                                      variant, h:sub(18, 20), h:sub(21, 32))
end

return M
