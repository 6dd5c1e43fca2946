--- Timestamps as Compute Engine writes them: RFC 3339 with milliseconds in
-- US Pacific time ("2024-08-26T22:33:27.527-07:00"; "-08:00" in winter),
-- which is what every creationTimestamp, insertTime, lastAttachTimestamp …
-- of the real API carries. Pure Lua (no host time zone database is used),
-- so specs can check the daylight-saving rule directly.
local M = {}

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
-- days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- The day of month of the n-th Sunday of a month.
local function nth_sunday(y, m, n)
  local wday = (days_from_civil(y, m, 1) + 4) % 7   -- 0 = Sunday; 1970-01-01 was a Thursday
  return 1 + (7 - wday) % 7 + 7 * (n - 1)
end

--- The UTC offset in hours of US Pacific time at a Unix time. Daylight
-- time (the rule in force since 2007) runs from the second Sunday of
-- March, 02:00 PST (10:00 UTC), to the first Sunday of November, 02:00 PDT
-- (09:00 UTC).
local dst_cache = {}   -- last year looked up: {year, first, last, dst_start, dst_end}

function M.pacific_offset(unix)
  local c = dst_cache
  if not (c.first and unix >= c.first and unix < c.last) then
    local y = tonumber(os.date("!%Y", math.floor(unix)))
    c.first = days_from_civil(y, 1, 1) * 86400
    c.last = days_from_civil(y + 1, 1, 1) * 86400
    c.dst_start = days_from_civil(y, 3, nth_sunday(y, 3, 2)) * 86400 + 10 * 3600
    c.dst_end = days_from_civil(y, 11, nth_sunday(y, 11, 1)) * 86400 + 9 * 3600
  end
  if unix >= c.dst_start and unix < c.dst_end then return -7 end
  return -8
end

--- The API's RFC 3339 text for a Unix time (a float; milliseconds kept).
function M.format(unix)
  local ms_total = math.floor(unix * 1000 + 0.5)
  local s, ms = ms_total // 1000, ms_total % 1000
  local off = M.pacific_offset(s)
  return os.date("!%Y-%m-%dT%H:%M:%S", s + off * 3600) .. string.format(".%03d-%02d:00", ms, -off)
end

--- Parses the API's RFC 3339 text (any offset, "Z" too) back to a Unix
-- time; nil if it is not one.
function M.parse(text)
  local y, mo, d, h, mi, sec, frac, tz = tostring(text):match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local off = 0
  if tz ~= "Z" then
    local sign, oh, om = tz:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    off = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400 +
            tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - off
  return t + (frac ~= "" and frac ~= "." and tonumber("0" .. frac) or 0)
end

return M
