--- List requests: the Compute API's `filter` expressions, `orderBy`, and
-- paging with `maxResults` / `pageToken` / `nextPageToken`.
--
-- Filters are evaluated against the resource as the API shows it (the
-- JSON field names), as the real API does:
--   name = "web-*"   labels.env != prod   status = READY   sizeGb > 100
--   labels.owner:*   (name eq 'db-.*') (zone ne .*-b)   a OR b   NOT a
-- `=`/`!=` compare strings (with `*` as a wildcard), numbers and booleans;
-- `:` tests a substring, or presence with `:*`; `eq`/`ne` match a regular
-- expression against the whole value (a subset of RE2: . * + ? [] ^ $ |
-- \d \w \s and groups without repetition). Expressions side by side are
-- ANDed; AND, OR and NOT are also understood.
--
-- Page tokens name the last item of the page (its sort value and key), so
-- a listing walked page by page neither repeats nor skips items when others
-- are created or deleted meanwhile.
local emu = require "pdlua.emu.core"
local json = require "emu.json"
local errors = require "emu.errors"
local timefmt = require "emu.timefmt"

local M = {}

------------------------------------------------------------------ regex

-- Translates a small RE2 subset into alternatives of anchored Lua patterns.
local function regex_to_patterns(re)
  local alts, depth, cur = {}, 0, {}
  for i = 1, #re do
    local ch = re:sub(i, i)
    if ch == "(" then depth = depth + 1 elseif ch == ")" then depth = depth - 1 end
    if ch == "|" and depth == 0 and re:sub(i - 1, i - 1) ~= "\\" then
      alts[#alts + 1] = table.concat(cur)
      cur = {}
    else
      cur[#cur + 1] = ch
    end
  end
  alts[#alts + 1] = table.concat(cur)
  local out = {}
  for _, alt in ipairs(alts) do
    local p, i = {}, 1
    local n = #alt
    while i <= n do
      local ch = alt:sub(i, i)
      if ch == "\\" then
        local nx = alt:sub(i + 1, i + 1)
        local map = {d = "%d", w = "[%w_]", s = "%s", D = "%D", W = "[^%w_]", S = "%S"}
        p[#p + 1] = map[nx] or ("%" .. nx)
        i = i + 2
      elseif ch == "[" then
        local j = alt:find("]", i + 2, true)
        if not j then return nil, "unclosed [" end
        local body = alt:sub(i + 1, j - 1):gsub("\\d", "%%d"):gsub("\\w", "%%w_"):gsub("%%%-", "%%-")
        p[#p + 1] = "[" .. body .. "]"
        i = j + 1
      elseif ch == "(" then
        -- groups are accepted only when not repeated: their content is inlined
        local j, d = i, 0
        repeat
          local c = alt:sub(j, j)
          if c == "(" then d = d + 1 elseif c == ")" then d = d - 1 end
          j = j + 1
        until d == 0 or j > n
        local after = alt:sub(j, j)
        if after == "*" or after == "+" or after == "?" or after == "{" then
          return nil, "repeated groups are not supported"
        end
        local inner = alt:sub(i + 1, j - 2)
        if inner:find("|", 1, true) then return nil, "alternation inside a group is not supported" end
        local sub, err = regex_to_patterns(inner)
        if not sub then return nil, err end
        p[#p + 1] = sub[1]:sub(2, -2)
        i = j
      elseif ch == "^" and i == 1 then
        i = i + 1
      elseif ch == "$" and i == n then
        i = i + 1
      elseif ch == "{" then
        return nil, "counted repetition is not supported"
      elseif ch == "." or ch == "*" or ch == "+" or ch == "?" then
        p[#p + 1] = ch
        i = i + 1
      elseif ch:match("%p") then
        p[#p + 1] = "%" .. ch
        i = i + 1
      else
        p[#p + 1] = ch
        i = i + 1
      end
    end
    out[#out + 1] = "^" .. table.concat(p) .. "$"
  end
  return out
end

local function glob_to_pattern(s)
  return "^" .. s:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
end

------------------------------------------------------------------ parser

local Parser = {}
Parser.__index = Parser

local function fail(msg)
  errors.raise(400, "invalid", "Invalid value for field 'filter': " .. msg)
end

function Parser:space()
  self.i = self.s:find("[^%s]", self.i) or (#self.s + 1)
end

function Parser:peek_word()
  self:space()
  return self.s:match("^([%a]+)", self.i)
end

function Parser:at_end()
  self:space()
  return self.i > #self.s
end

function Parser:value()
  self:space()
  local q = self.s:sub(self.i, self.i)
  if q == '"' or q == "'" then
    local out, j = {}, self.i + 1
    while j <= #self.s do
      local c = self.s:sub(j, j)
      if c == "\\" then
        out[#out + 1] = self.s:sub(j + 1, j + 1)
        j = j + 2
      elseif c == q then
        self.i = j + 1
        return table.concat(out), true
      else
        out[#out + 1] = c
        j = j + 1
      end
    end
    fail("unterminated string")
  end
  local v = self.s:match("^[^%s%)]+", self.i)
  if not v then fail("missing value at position " .. self.i) end
  self.i = self.i + #v
  return v, false
end

function Parser:comparison()
  self:space()
  local field = self.s:match("^[%w_%.%-]+", self.i)
  if not field then fail("expected a field name at position " .. self.i) end
  self.i = self.i + #field
  self:space()
  local op
  for _, o in ipairs {"!=", ">=", "<=", "=", ">", "<", ":"} do
    if self.s:sub(self.i, self.i + #o - 1) == o then
      op = o
      break
    end
  end
  if op then
    self.i = self.i + #op
  else
    local w = self.s:match("^(%a+)%s", self.i)
    if w == "eq" or w == "ne" then
      op = w
      self.i = self.i + #w
    else
      fail("expected an operator after '" .. field .. "'")
    end
  end
  local value, quoted = self:value()
  local node = {field = field, op = op, value = value}
  if op == "eq" or op == "ne" then
    local pats, err = regex_to_patterns(value)
    if not pats then fail(err) end
    node.patterns = pats
  elseif (op == "=" or op == "!=") and value:find("*", 1, true) then
    node.glob = glob_to_pattern(value)
  end
  node.quoted = quoted
  return node
end

function Parser:unary()
  local w = self:peek_word()
  if w == "NOT" then
    self.i = self.i + 3
    return {op = "not", self:unary()}
  end
  self:space()
  if self.s:sub(self.i, self.i) == "-" and self.s:sub(self.i + 1, self.i + 1):match("[%a%(]") then
    self.i = self.i + 1
    return {op = "not", self:unary()}
  end
  if self.s:sub(self.i, self.i) == "(" then
    self.i = self.i + 1
    local e = self:disjunction()
    self:space()
    if self.s:sub(self.i, self.i) ~= ")" then fail("missing ')'") end
    self.i = self.i + 1
    return e
  end
  return self:comparison()
end

function Parser:conjunction()
  local node = {op = "and", self:unary()}
  while not self:at_end() and self.s:sub(self.i, self.i) ~= ")" and self:peek_word() ~= "OR" do
    if self:peek_word() == "AND" then self.i = self.i + 3 end
    node[#node + 1] = self:unary()
  end
  return node
end

function Parser:disjunction()
  local node = {op = "or", self:conjunction()}
  while self:peek_word() == "OR" do
    self.i = self.i + 2
    node[#node + 1] = self:conjunction()
  end
  return node
end

--- Parses a filter expression; raises a 400 invalid error on bad syntax.
-- Returns nil for an empty filter.
function M.parse_filter(s)
  if not s or s:match("^%s*$") then return nil end
  local p = setmetatable({s = s, i = 1}, Parser)
  local e = p:disjunction()
  if not p:at_end() then fail("unexpected text at position " .. p.i) end
  return e
end

------------------------------------------------------------------ evaluation

local function lookup(v, path)
  for part in path:gmatch("[^%.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function compare_one(x, node)
  local op, want = node.op, node.value
  if x == nil then return false end
  if type(x) == "table" then return false end
  if op == ":" then
    if want == "*" then return true end
    if type(x) == "string" then return x:find(want, 1, true) ~= nil end
    return tostring(x) == want
  end
  if op == "eq" or op == "ne" then
    local s = tostring(x)
    for _, p in ipairs(node.patterns) do
      if s:match(p) then return op == "eq" end
    end
    return op == "ne"
  end
  local xs = type(x) == "boolean" and tostring(x) or x
  local xn, wn = tonumber(xs), tonumber(want)
  if op == "=" or op == "!=" then
    local eq
    if node.glob then eq = tostring(xs):match(node.glob) ~= nil
    elseif xn and wn then eq = xn == wn
    else eq = tostring(xs) == want end
    if op == "=" then return eq end
    return not eq
  end
  local a, b = tostring(xs), want
  if xn and wn then a, b = xn, wn end
  if op == ">" then return a > b end
  if op == "<" then return a < b end
  if op == ">=" then return a >= b end
  if op == "<=" then return a <= b end
  return false
end

local function eval(node, item)
  if node.op == "and" then
    for _, c in ipairs(node) do if not eval(c, item) then return false end end
    return true
  elseif node.op == "or" then
    for _, c in ipairs(node) do if eval(c, item) then return true end end
    return false
  elseif node.op == "not" then
    return not eval(node[1], item)
  end
  local x = lookup(item, node.field)
  if type(x) == "table" and x[1] ~= nil then
    -- repeated fields: true if any element matches (all, for negations)
    local negative = node.op == "!=" or node.op == "ne"
    for _, e in ipairs(x) do
      local r = compare_one(e, node)
      if negative and not r then return false end
      if not negative and r then return true end
    end
    return negative
  end
  if x == nil and (node.op == "!=" or node.op == "ne") then return true end
  return compare_one(x, node)
end

--- True if the item (an API-shaped table) matches the parsed filter.
function M.matches(filter, item)
  if not filter then return true end
  return eval(filter, item)
end

------------------------------------------------------------------ paging

local orders = {
  ["name"] = {field = "name", desc = false},
  ["name asc"] = {field = "name", desc = false},
  ["name desc"] = {field = "name", desc = true},
  ["creationTimestamp"] = {field = "creationTimestamp", desc = false},
  ["creationTimestamp asc"] = {field = "creationTimestamp", desc = false},
  ["creationTimestamp desc"] = {field = "creationTimestamp", desc = true},
}

--- Reads maxResults (0..500, default 500); raises 400 invalid otherwise.
function M.max_results(query)
  local raw = query.maxResults
  if raw == nil or raw == "" then return 500 end
  local n = json.int(raw)
  if not n or n < 0 or n > 500 then
    errors.invalid("maxResults", raw, "Must be less than or equal to 500")
  end
  if n == 0 then return 500 end
  return n
end

--- The order requested (or the default, by name); raises on an
-- unsupported orderBy, as the real API does.
function M.order(query)
  local o = query.orderBy
  if o == nil or o == "" then return orders.name end
  local ord = orders[o:gsub("%s+", " "):match("^%s*(.-)%s*$")]
  if not ord then errors.invalid("orderBy", o, "Sorting is only supported by name or creationTimestamp.") end
  return ord
end

--- Pages a list. `entries` is an array of {key = unique string, item =
-- API table or nil, get = function() -> item, sort = value for orderBy
-- fields other than the key}. Returns the page's entries and the next page
-- token (nil on the last page).
function M.page(entries, query, value_of)
  local ord = M.order(query)
  local max = M.max_results(query)
  for _, e in ipairs(entries) do
    if ord.field == "name" then
      e.v = e.key
    else
      -- timestamps carry offsets (-07:00 in summer, -08:00 in winter, any
      -- in loaded fleets): compare the instants, as fixed-width text so
      -- page tokens keep working
      local raw = tostring(value_of(e, ord.field) or "")
      local t = timefmt.parse(raw)
      e.v = t and string.format("%017.3f", t) or raw
    end
  end
  local desc = ord.desc
  table.sort(entries, function(a, b)
    if a.v ~= b.v then
      if desc then return a.v > b.v end
      return a.v < b.v
    end
    return a.key < b.key
  end)
  local start = 1
  local tok = query.pageToken
  if tok and tok ~= "" then
    local raw = emu.b64decode(tok, true)
    local t = raw and json.decode(raw)
    if type(t) ~= "table" or type(t.v) ~= "string" or type(t.k) ~= "string" then
      errors.invalid("pageToken", tok, "The page token is not valid.")
    end
    start = #entries + 1
    for i, e in ipairs(entries) do
      local after
      if e.v ~= t.v then
        if desc then after = e.v < t.v else after = e.v > t.v end
      else
        after = e.key > t.k
      end
      if after then
        start = i
        break
      end
    end
  end
  local out = {}
  for i = start, math.min(#entries, start + max - 1) do out[#out + 1] = entries[i] end
  local next_token
  if start + max - 1 < #entries then
    local last = out[#out]
    next_token = emu.b64encode(json.encode({v = last.v, k = last.key}), true)
  end
  return out, next_token
end

return M
