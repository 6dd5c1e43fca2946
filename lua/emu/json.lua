--- JSON for the emulator: pdlua.json (the codec both programs share), plus
-- the conversions the Compute API needs. The API's int64 fields travel as
-- strings; `json.int` and `json.str` normalise what a client sent,
-- `json.clean` drops nulls from a decoded body.
local codec = require "pdlua.json"

local json = {}

json.null = codec.null

--- Encodes a value (raises on values JSON cannot hold).
json.encode = codec.encode

--- Decodes a string; returns the value, or nil and a message.
function json.decode(s)
  if s == nil or s == "" then return nil, "empty body" end
  return codec.decode_safe(s)
end

--- Drops JSON nulls, recursively: null members are already left out by
-- the decoder, null array elements (`[null]`) are dropped here.
function json.clean(v)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if x == codec.null then v[k] = nil else json.clean(x) end
  end
  return v
end

--- An integer from a JSON number or a decimal string, else nil.
function json.int(v)
  if type(v) == "number" then return math.tointeger(v) end
  if type(v) == "string" and v:match("^%-?%d+$") then return math.tointeger(tonumber(v)) end
  return nil
end

--- An int64 field as the API writes it: a decimal string.
function json.str(v)
  if v == nil then return nil end
  local i = json.int(v)
  if i then return string.format("%d", i) end
  return tostring(v)
end

return json
