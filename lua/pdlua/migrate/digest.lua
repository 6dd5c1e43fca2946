--- pdlua.migrate.digest: SHA-1 in plain Lua 5.4, for deterministic names.
-- Snapshot names, request ids and run ids must come out the same in every
-- run of the same command, on any machine, so they are digests of what
-- identifies them. SHA-1 is what UUID v5 uses; it is not used here for
-- security, only for stable, well-spread identifiers. Pure Lua keeps the
-- C core free of migration concerns; the inputs are a few hundred bytes.
local M = {}

local function rol(x, n)
  return ((x << n) | (x >> (32 - n))) & 0xffffffff
end

--- SHA-1 of a string.
-- @tparam string msg
-- @treturn string the 20-byte binary digest
function M.sha1(msg)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local ml = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64) .. string.pack(">I8", ml)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      w[i] = string.unpack(">I4", msg, chunk + i * 4)
    end
    for i = 16, 79 do
      w[i] = rol(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1)
    end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = (b & c) | ((~b) & d), 0x5A827999
      elseif i < 40 then
        f, k = b ~ c ~ d, 0x6ED9EBA1
      elseif i < 60 then
        f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
      else
        f, k = b ~ c ~ d, 0xCA62C1D6
      end
      local temp = (rol(a, 5) + (f & 0xffffffff) + e + k + w[i]) & 0xffffffff
      e, d, c, b, a = d, c, rol(b, 30), a, temp
    end
    h0 = (h0 + a) & 0xffffffff
    h1 = (h1 + b) & 0xffffffff
    h2 = (h2 + c) & 0xffffffff
    h3 = (h3 + d) & 0xffffffff
    h4 = (h4 + e) & 0xffffffff
  end
  return string.pack(">I4I4I4I4I4", h0, h1, h2, h3, h4)
end

--- Lower-case hex of a binary string.
function M.hex(bin)
  return (bin:gsub(".", function(ch) return string.format("%02x", ch:byte()) end))
end

--- SHA-1 as 40 hex digits.
function M.sha1_hex(msg)
  return M.hex(M.sha1(msg))
end

--- A name-based UUID in the style of RFC 4122 version 5: the SHA-1 of the
-- parts joined with NUL bytes, with the version and variant bits set.
-- Never all zeros, as Compute Engine's requestId demands.
-- @param ... strings (or values turned into strings) that identify the request
-- @treturn string "xxxxxxxx-xxxx-5xxx-yxxx-xxxxxxxxxxxx"
function M.uuid(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  local b = { M.sha1(table.concat(parts, "\0", 1, parts.n)):byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x50
  b[9] = (b[9] & 0x3f) | 0x80
  local h = M.hex(string.char(table.unpack(b)))
  return ("%s-%s-%s-%s-%s"):format(h:sub(1, 8), h:sub(9, 12), h:sub(13, 16),
                                   h:sub(17, 20), h:sub(21, 32))
end

return M
