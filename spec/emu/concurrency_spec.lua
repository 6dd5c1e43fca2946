-- Many clients at once: long-polling waits held open together while other
-- requests go on, and parallel keep-alive GETs. Under `make test-tsan` this
-- is what exercises the front end's threads and the interpreter lock.
local env = require "support.env"
local emu_support = require "support.emu"
local json = require "pdlua.json"

local Z = "us-central1-a"

local function sh(cmd)
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  p:close()
  return out
end

describe("emulator under concurrent clients", function()
  local emu, dir
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json", latency_scale = 0.02}
    dir = sh("mktemp -d"):gsub("%s+$", "")
  end)
  teardown(function()
    emu:stop()
    os.execute("rm -rf " .. env.quote(dir))
  end)

  it("holds 100 long-polls open at once and answers other requests meanwhile", function()
    local n = 100
    -- operations that never finish: each wait is held for its full limit
    -- (120 s x 0.02 = 2.4 s) and answers with the operation not yet DONE
    emu:faults{latency = {insert = 1e6}}
    local ops = {}
    for i = 1, n do
      local status, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "c-" .. i, sizeGb = 10})
      assert.equal(200, status)
      ops[i] = op
    end
    local blocks = {}
    for i, op in ipairs(ops) do
      blocks[i] = string.format('url = "%s/wait"\nrequest = "POST"\nheader = "Authorization: Bearer t"\n' ..
                                'output = "%s/w-%d.json"\nwrite-out = "%%{http_code}\\n"', op.selfLink, dir, i)
    end
    local f = assert(io.open(dir .. "/waits.cfg", "w"))
    f:write(table.concat(blocks, "\nnext\n"), "\n")
    f:close()
    -- the waits in the background, GETs in the foreground while they block
    os.execute("curl -s --no-progress-meter -Z --parallel-immediate --parallel-max 100 -K " .. dir ..
               "/waits.cfg >" .. dir .. "/waits.out 2>&1 &")
    local gets = 0
    for _ = 1, 20 do
      if emu:api("GET", "zones/" .. Z .. "/disks/web-1") == 200 then gets = gets + 1 end
    end
    assert.equal(20, gets)
    local t0 = pd.now()
    local deadline = os.time() + 60
    local out
    repeat
      pd.sleep(0.05)
      out = io.open(dir .. "/waits.out"):read("a")
      local _, count = out:gsub("\n", "")
    until count >= n or os.time() > deadline
    local ok = select(2, out:gsub("200\n", ""))
    assert.equal(n, ok)
    -- one after another they would take n x 2.4 s
    assert.is_true(pd.now() - t0 < n * 2.4 / 4, "took " .. (pd.now() - t0))
    for i = 1, n do
      local op = json.decode(assert(io.open(dir .. "/w-" .. i .. ".json")):read("a"))
      assert.equal("compute#operation", op.kind)
      assert.are_not.equal("DONE", op.status)
    end
    local _, h = emu:request("GET", emu.url .. "/emulator/v1/health")
    assert.is_true(h.max_in_flight >= 50, "at most " .. h.max_in_flight .. " requests at once")
  end)

  it("serves parallel keep-alive GETs", function()
    local url = emu.endpoint .. "projects/demo-project/zones/" .. Z .. "/disks/db-1"
    local lines = {}
    for i = 1, 1000 do lines[i] = 'url = "' .. url .. '"\noutput = "/dev/null"' end
    local f = assert(io.open(dir .. "/gets.cfg", "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local out = sh("curl -s --no-progress-meter -Z --parallel-max 8 -H 'Authorization: Bearer t' -K " ..
                   dir .. "/gets.cfg -w '%{http_code}\\n'")
    assert.equal(1000, select(2, out:gsub("200\n", "")))
  end)
end)
