--- pdlua.json: the one JSON codec of pdlua and pdlua-emu (C, in
-- src/core/json.c and json_lua.c; docs/gcp.md#json says what it accepts).
--
-- Decoding keeps integers as Lua integers, leaves `null` object members
-- out, turns `null` array elements into `json.null`, and marks every array
-- with the metatable of `json.array`, so an array decoded from `[]`
-- encodes back as `[]`. Encoding writes a table as an array when it is
-- marked or has keys 1..n only, as an object when its keys are strings
-- (an empty unmarked table is `{}`), and raises on anything else.
local core = require "pdlua.json.core"

local json = {}

--- The null sentinel: `null` inside arrays; encodes as `null`.
json.null = core.null

local array_mt = core.array_mt

--- Marks a table as a JSON array (so an empty one encodes as `[]`) and
-- returns it; `json.array()` is a new empty array.
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

--- Whether a table is marked as an array (every decoded array is).
function json.is_array(t)
  return getmetatable(t) == array_mt
end

--- Encodes a value. opts: `pretty` (two-space indent, `"key": value`),
-- `sorted` (object members in byte order of their names). Raises a
-- pdlua error "invalidArgument" on what JSON cannot hold (a function,
-- NaN, a table with both array and named keys, a cycle).
json.encode = core.encode

--- Decodes JSON text; raises a pdlua error "malformedResponse" on bad
-- input.
json.decode = core.decode

--- Decodes JSON text; returns the value, or nil and a message.
json.decode_safe = core.decode_safe

return json
