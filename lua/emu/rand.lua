--- A small deterministic random generator (splitmix64 on Lua's 64-bit
-- integers). The emulator keeps its own instances instead of math.random so
-- that `--seed` makes ids, durations and fault draws repeatable, and so the
-- fleet generator's output depends only on its own seed.
local M = {}
local R = {}
R.__index = R

--- A new generator from an integer seed.
function M.new(seed)
  return setmetatable({s = math.tointeger(seed) or 0}, R)
end

--- The next 64-bit value.
function R:next()
  self.s = self.s + 0x9E3779B97F4A7C15
  local z = self.s
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

--- A float in [0, 1).
function R:float()
  return (self:next() >> 11) * (1.0 / 9007199254740992.0)
end

--- A float in [a, b).
function R:range(a, b)
  return a + (b - a) * self:float()
end

--- An integer in [a, b].
function R:int(a, b)
  return a + ((self:next() >> 1) % (b - a + 1))
end

--- One element of a non-empty array.
function R:pick(t)
  return t[self:int(1, #t)]
end

--- A decimal string of n digits, not starting with 0 (resource ids).
function R:digits(n)
  local out = {tostring(self:int(1, 9))}
  for i = 2, n do out[i] = tostring(self:int(0, 9)) end
  return table.concat(out)
end

--- n lowercase hex digits.
function R:hex(n)
  local out = {}
  for i = 1, n do out[i] = string.format("%x", self:int(0, 15)) end
  return table.concat(out)
end

return M
