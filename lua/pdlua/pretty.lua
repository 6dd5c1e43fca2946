--- pdlua.pretty: how the REPL shows values.
-- Tables print nested with sorted keys, cycles marked, and depth and width
-- limits; a list of Compute Engine resources (tables with a `kind` like
-- "compute#disk") prints as aligned columns, the way `gcloud ... list` does.
local M = {}

local identifier = "^[%a_][%w_]*$"
local keywords = {}
for w in ([[and break do else elseif end false for function goto if in
  local nil not or repeat return then true until while]]):gmatch("%a+") do
  keywords[w] = true
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end   -- numbers before strings
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function is_list(t)
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n, n
end

local function scalar(v)
  local tv = type(v)
  if tv == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  if tv == "table" then
    local mt = getmetatable(v)
    if mt and mt.__tostring then return tostring(v) end
  end
  if tv == "table" or tv == "userdata" and not (getmetatable(v) or {}).__tostring then
    return nil
  end
  return tostring(v)
end

local function key_repr(k)
  if type(k) == "string" and k:match(identifier) and not keywords[k] then return k end
  return "[" .. (scalar(k) or tostring(k)) .. "]"
end

--- Renders a value as a string.
-- @param v the value
-- @param opts {depth = 4, width = 40 (items per table), indent = "  "}
function M.render(v, opts)
  opts = opts or {}
  local max_depth = opts.depth or 4
  local max_items = opts.width or 40
  local indent = opts.indent or "  "
  local out = {}
  local seen = {}

  local function emit(s) out[#out + 1] = s end

  local function walk(x, depth, pad)
    local s = scalar(x)
    if s then return emit(s) end
    if type(x) ~= "table" then return emit(tostring(x)) end
    if seen[x] then return emit("<cycle " .. tostring(x):gsub("^table: ", "") .. ">") end
    if next(x) == nil then return emit("{}") end
    if depth >= max_depth then return emit("{...}") end
    seen[x] = true
    local list, n = is_list(x)
    local keys = list and nil or sorted_keys(x)
    local total = list and n or #keys
    -- short flat lists of scalars stay on one line
    if list and n <= 8 then
      local flat, parts = true, {}
      for i = 1, n do
        local si = scalar(x[i])
        if not si or #si > 20 then flat = false break end
        parts[i] = si
      end
      if flat then
        seen[x] = nil
        return emit("{" .. table.concat(parts, ", ") .. "}")
      end
    end
    emit("{\n")
    local inner = pad .. indent
    for i = 1, math.min(total, max_items) do
      emit(inner)
      if list then
        walk(x[i], depth + 1, inner)
      else
        local k = keys[i]
        emit(key_repr(k) .. " = ")
        walk(x[k], depth + 1, inner)
      end
      emit(",\n")
    end
    if total > max_items then
      emit(inner .. ("-- %d more\n"):format(total - max_items))
    end
    emit(pad .. "}")
    seen[x] = nil
  end

  walk(v, 0, "")
  return table.concat(out)
end

local function last_segment(url)
  if type(url) ~= "string" then return url end
  return url:match("([^/]+)$") or url
end

local columns_by_kind = {
  ["compute#disk"] = {"name", "zone", "type", "sizeGb", "status", "users"},
  ["compute#snapshot"] = {"name", "diskSizeGb", "sourceDisk", "status"},
  ["compute#instance"] = {"name", "zone", "machineType", "status", "disks"},
  ["compute#operation"] = {"name", "operationType", "targetLink", "status", "progress"},
  ["compute#zone"] = {"name", "region", "status"},
  ["compute#diskType"] = {"name", "zone", "validDiskSize", "defaultDiskSizeGb"},
  ["compute#machineType"] = {"name", "zone", "guestCpus", "memoryMb"},
}

local function cell(row, col)
  local v = row[col]
  if v == nil then return "" end
  if col == "users" then
    local names = {}
    for i, u in ipairs(v) do names[i] = last_segment(u) end
    return table.concat(names, ",")
  end
  if col == "disks" then
    local names = {}
    for i, d in ipairs(v) do names[i] = last_segment(d.source or d.deviceName) end
    return table.concat(names, ",")
  end
  if type(v) == "table" then return "..." end
  local s = tostring(v)
  if s:find("://", 1, true) or s:find("^projects/") or s:find("^zones/") then
    s = last_segment(s)
  end
  return s
end

--- If `v` is a non-empty list of resources of one kind, renders it as a
-- table with a header row; otherwise returns nil.
function M.resource_table(v)
  if type(v) ~= "table" or #v == 0 or type(v[1]) ~= "table" then return nil end
  local kind = v[1].kind
  local cols = kind and columns_by_kind[kind]
  if not cols then return nil end
  for _, r in ipairs(v) do
    if type(r) ~= "table" or r.kind ~= kind then return nil end
  end
  local header, widths, rows = {}, {}, {}
  for i, c in ipairs(cols) do
    header[i] = c:gsub("%u", function(ch) return "_" .. ch end):upper()
    widths[i] = #header[i]
  end
  for r, res in ipairs(v) do
    rows[r] = {}
    for i, c in ipairs(cols) do
      local s = cell(res, c)
      rows[r][i] = s
      if #s > widths[i] then widths[i] = #s end
    end
  end
  local function line(cells)
    local parts = {}
    for i, s in ipairs(cells) do
      parts[i] = i < #cells and (s .. (" "):rep(widths[i] - #s)) or s
    end
    return table.concat(parts, "  ")
  end
  local out = {line(header)}
  for _, cells in ipairs(rows) do out[#out + 1] = line(cells) end
  return table.concat(out, "\n")
end

--- Renders a value for the REPL: a resource table when it is one, else
-- the nested form.
function M.show(v, opts)
  return M.resource_table(v) or M.render(v, opts)
end

return M
