-- The status block on a real terminal (tmux): drawn in place while a run
-- goes, failures above it, and only the final summary left at the end.
local env = require "support.env"

local has_tmux = os.execute("command -v tmux >/dev/null 2>&1")
local describe_tty = has_tmux and describe or pending

describe_tty("wf:run's status block on a terminal", function()
  local dir, sock, name
  after_each(function()
    if sock then env.run("tmux -S " .. env.quote(sock) .. " kill-server") end
    if dir then os.execute("rm -rf " .. env.quote(dir)) end
    dir, sock = nil, nil
  end)

  local function screen()
    return (env.run(("tmux -S %s capture-pane -p -t %s"):format(env.quote(sock), name)))
  end

  local function wait_for(pattern, secs)
    local deadline = pd.now() + (secs or 10)
    local s
    repeat
      s = screen()
      if s:find(pattern) then return s end
      pd.sleep(0.05)
    until pd.now() > deadline
    error("timed out waiting for " .. pattern .. " on screen:\n" .. s)
  end

  it("redraws one block in place and leaves the summary", function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. env.quote(dir)))
    sock = dir .. "/tmux.sock"
    name = ("pdlua-progress-%d"):format(math.random(1e6))
    local script = dir .. "/run.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      local wf = pd.workflow("tty-run")
      for i = 1, 8 do
        wf:task{id = "snapshot:data-" .. i, run = function() pd.sleep(0.25 + 0.05 * i) end}
      end
      wf:task{id = "broken", run = function() pd.sleep(0.3) error("disk on fire") end}
      local res = wf:run{max_parallel = 3}
      print("result " .. tostring(res.ok))
      pd.sleep(30)
    ]])
    f:close()
    local cmd = ("tmux -S %s new-session -d -s %s -x 100 -y 30 %s"):format(env.quote(sock), name,
      env.quote("env TERM=xterm NO_COLOR=1 " .. env.quote(env.pdlua) .. " " .. env.quote(script)))
    local _, err, code = env.run(cmd)
    assert.equal(0, code, err)
    local mid = wait_for("%[%d/9%] %[[#%-]+%]%s+%d+%%  tty%-run")
    assert.matches("%d running, %d failed, 0 rolled back, 0 retries, elapsed", mid)
    assert.matches("\n +[%d.]+s  snapshot:data%-%d", mid)
    local final = wait_for("result false")
    assert.matches("broken failed: [^\n]*disk on fire", final)
    assert.matches("tty%-run: 9/9 done, 0 running, 1 failed, elapsed [%d.]+s\nresult false", final)
    -- the block is gone: no bar, no slowest-step lines left behind
    assert.is_nil(final:find("%[9/9%] %["))
    assert.is_nil(final:find("snapshot:data", 1, true))
    assert.is_nil(final:find("\27", 1, true))
  end)
end)
