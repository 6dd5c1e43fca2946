--- JSON for the emulator: lua-cjson, plus the conversions the Compute API
-- needs. cjson decodes every number as a float and JSON null as a sentinel;
-- the API's int64 fields travel as strings. `json.int` and `json.str`
-- normalise what a client sent, `json.clean` drops nulls from a decoded body.
local cjson = require "cjson.safe"

local json = {}

json.null = cjson.null

--- Encodes a value (raises on values JSON cannot hold).
function json.encode(v)
  local s, err = cjson.encode(v)
  if not s then error("json encode: " .. tostring(err), 2) end
  return s
end

--- Decodes a string; returns the value, or nil and a message.
function json.decode(s)
  if s == nil or s == "" then return nil, "empty body" end
  local v, err = cjson.decode(s)
  if v == nil then return nil, err end
  return v
end

--- Drops JSON nulls, recursively (a client may send `"labels": null`).
function json.clean(v)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if x == cjson.null then v[k] = nil else json.clean(x) end
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
