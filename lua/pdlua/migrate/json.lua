--- pdlua.migrate.json: JSON for plans and reports that people and programs
-- read.
-- Decoding is lua-cjson's. Encoding is done here because reports need two
-- things cjson 2.1.0 cannot give: empty lists written as `[]` (mark them
-- with `json.array{}`), and keys in a stable, sorted order so that two
-- reports of the same run compare equal line by line.
local cjson = require "cjson"

local M = {}

local array_mt = { __name = "json.array" }

--- Marks a table as a JSON array (so an empty one encodes as []).
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

--- Decodes a JSON text (raises on malformed input).
M.decode = cjson.decode

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out, indent, depth)
  local t = type(v)
  if v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif math.type(v) == "integer" then
      out[#out + 1] = ("%d"):format(v)
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      out[#out + 1] = ("%d"):format(math.tointeger(v))
    else
      out[#out + 1] = ("%.6g"):format(v)
    end
  elseif t == "string" then
    out[#out + 1] = quote(v)
  elseif t == "table" then
    local nl, pad, pad_in = "", "", ""
    if indent then
      nl = "\n"
      pad = string.rep("  ", depth)
      pad_in = string.rep("  ", depth + 1)
    end
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "[" .. nl
      for i = 1, #v do
        out[#out + 1] = pad_in
        encode(v[i], out, indent, depth + 1)
        out[#out + 1] = (i < #v and "," or "") .. nl
      end
      out[#out + 1] = pad .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      if #keys == 0 then out[#out + 1] = "{}" return end
      out[#out + 1] = "{" .. nl
      for i, k in ipairs(keys) do
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        out[#out + 1] = pad_in .. quote(k) .. (indent and ": " or ":")
        encode(val, out, indent, depth + 1)
        out[#out + 1] = (i < #keys and "," or "") .. nl
      end
      out[#out + 1] = pad .. "}"
    end
  else
    out[#out + 1] = quote(tostring(v))
  end
end

--- Encodes a value; `pretty` indents with two spaces.
function M.encode(v, pretty)
  local out = {}
  encode(v, out, pretty and true or nil, 0)
  return table.concat(out)
end

return M
