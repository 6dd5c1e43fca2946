--- demo.lua: a whole migration against the emulator, start to end
-- (`make demo`).
--
-- Starts pdlua-emu with examples/fleets/demo.json (20 instances, 60 disks
-- in three zones), moves every pd-standard and pd-ssd disk of region
-- us-central1 to pd-balanced with a real `pdlua migrate.lua` (live progress
-- on the terminal, then its report), checks the fleet afterwards with the
-- same invariant checker the tests use, and stops the emulator.
--
--   build/pdlua examples/demo.lua [--latency-scale X] [extra migrate.lua flags]
local root = debug.getinfo(1, "S").source:match("^@(.*)/examples/demo%.lua$") or "."
local invariants = require "pdlua.invariants"
local json = require "pdlua.json"
local emulator = require "pdlua.emulator"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local read = require("pdlua.fs").read

-- The pdlua running this script, and the pdlua-emu installed beside it
-- (build/ in a checkout, the prefix's bin/ once installed).
local pdlua = os.getenv("PDLUA_BIN") or arg[-1] or "pdlua"
local emu_bin = os.getenv("PDLUA_EMU") or (pdlua:match("^(.*)/[^/]*$") or ".") .. "/pdlua-emu"
if not pdlua:find("/", 1, true) and not os.getenv("PDLUA_EMU") then emu_bin = "pdlua-emu" end
local fleet = root .. "/examples/fleets/demo.json"

local scale = "0.005"
local extra = {}
local argv = { ... }
local i = 1
while i <= #argv do
  if argv[i] == "--latency-scale" then
    scale = argv[i + 1]
    i = i + 2
  else
    extra[#extra + 1] = quote(argv[i])
    i = i + 1
  end
end

local dir = io.popen("mktemp -d"):read("l")
local function cleanup() os.execute("rm -rf " .. quote(dir)) end

-- 1. The emulator.
print(("== Starting pdlua-emu with %s (latency scale %s)"):format("examples/fleets/demo.json", scale))
local emu, _, emu_err = emulator.start { bin = emu_bin, fleet = fleet, latency_scale = scale, timeout = 10 }
if not emu then
  io.stderr:write("demo: pdlua-emu did not start: ", emu_err, "\n")
  cleanup()
  os.exit(1)
end
local url = emu.url
print("   " .. url)

local function state()
  local p = io.popen("curl -s " .. quote(url .. "/emulator/v1/state"))
  local s = p:read("a")
  p:close()
  return json.decode(s)
end
local before = state()

-- 2. The migration, as an operator would type it.
local cmd = table.concat({
  quote(pdlua), "migrate.lua", "--project demo-project", "--region us-central1",
  "--target-disk-type pd-balanced", "--type pd-standard,pd-ssd", "--yes", "--qps 50",
  "--endpoint", url, "--state-dir", quote(dir .. "/runs"), table.concat(extra, " "),
}, " ")
print("== pdlua migrate.lua --project demo-project --region us-central1 --target-disk-type pd-balanced \\")
print("       --type pd-standard,pd-ssd --yes --endpoint " .. url)
print()
local ok, _, code = os.execute("GOOGLE_OAUTH_ACCESS_TOKEN=demo-token " .. cmd)
print()

-- 3. The fleet afterwards.
local after = state()
local report_file = io.popen("ls " .. quote(dir .. "/runs") .. "/*.report.json 2>/dev/null"):read("l")
local rep = report_file and json.decode(read(report_file) or "{}") or {}
local migrated = {}
for _, d in ipairs(rep.disks or {}) do
  if d.status == "migrated" then migrated[#migrated + 1] = d.name end
end
print("== Checking the fleet")
local check = invariants.check(before, after, { target_type = "pd-balanced", migrated = migrated,
                                                no_raise = true })
emu:stop()
cleanup()
if #check.violations > 0 then
  print("   FAILED:")
  for _, v in ipairs(check.violations) do print("   " .. v) end
  os.exit(1)
end
local running, stopped = 0, 0
for _, inst in ipairs(before.instances) do
  if inst.status == "RUNNING" then running = running + 1 else stopped = stopped + 1 end
end
print(("   %d disks moved to pd-balanced; every instance has the same device names, attachment"):format(#migrated))
print("   settings and data fingerprints as before, and the same power state")
print(("   (%d running, %d stopped); originals kept and labelled, no snapshot or disk left over."):format(
  running, stopped))
print("== Done (the emulator is stopped).")
os.exit((ok and code == 0) and 0 or 1)
