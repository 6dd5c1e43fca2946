-- The REPL on a real terminal, driven through tmux: line editing, history,
-- completion, multi-line input, Ctrl-C at the prompt and during a running
-- command, Ctrl-D to leave.
local env = require "support.env"

local has_tmux = os.execute("command -v tmux >/dev/null 2>&1")

local function sh(cmd)
  local out, _, code = env.run(cmd)
  return out, code
end

local Session = {}
Session.__index = Session

local function start(extra_env)
  local home = os.tmpname()
  os.remove(home)
  assert(os.execute("mkdir -p " .. env.quote(home)))
  local name = ("pdlua-spec-%d-%d"):format(os.time(), math.random(1e6))
  local sock = home .. "/tmux.sock"
  local envs = "HOME=" .. env.quote(home) .. " TERM=xterm "
  for k, v in pairs(extra_env or {}) do envs = envs .. k .. "=" .. env.quote(v) .. " " end
  local cmd = ("tmux -S %s new-session -d -s %s -x 150 -y 40 %s"):format(
    env.quote(sock), name, env.quote("env " .. envs .. env.quote(env.pdlua)))
  local _, code = sh(cmd)
  assert.equal(0, code)
  local s = setmetatable({name = name, sock = sock, home = home}, Session)
  -- a REPL that never shows its prompt must not outlive the spec
  local ok, err = pcall(s.wait_for, s, "^>$")
  if not ok then
    s:stop()
    error(err, 0)
  end
  return s
end

function Session:tmux(args)
  return sh(("tmux -S %s %s"):format(env.quote(self.sock), args))
end

function Session:keys(...)
  local parts = {}
  for i, k in ipairs{...} do parts[i] = env.quote(k) end
  self:tmux("send-keys -t " .. self.name .. " " .. table.concat(parts, " "))
end

function Session:type(text) self:tmux("send-keys -l -t " .. self.name .. " " .. env.quote(text)) end

function Session:screen()
  return (self:tmux("capture-pane -p -t " .. self.name))
end

--- Waits until the screen matches a Lua pattern (on some line, trailing
-- blanks stripped); fails with the screen after `secs`.
function Session:wait_for(pattern, secs)
  local deadline = pd.now() + (secs or 10)
  local screen
  repeat
    screen = self:screen()
    for line in screen:gmatch("[^\n]*") do
      if line:gsub("%s+$", ""):find(pattern) then return screen end
    end
    pd.sleep(0.05)
  until pd.now() > deadline
  error("timed out waiting for " .. pattern .. " on screen:\n" .. screen)
end

function Session:stop()
  self:tmux("kill-server")
  os.execute("rm -rf " .. env.quote(self.home))
end

local describe_tty = has_tmux and describe or pending

describe_tty("the REPL on a terminal", function()
  local s
  after_each(function() if s then s:stop() end s = nil end)

  it("evaluates expressions and continues incomplete chunks", function()
    s = start()
    s:type("for i = 1, 2 do") s:keys("Enter")
    s:wait_for("^>>$")
    s:type("print('line ' .. i) end") s:keys("Enter")
    s:wait_for("^line 2$")
    s:type("6 * 7") s:keys("Enter")
    s:wait_for("^42$")
  end)

  it("completes globals and fields with Tab", function()
    s = start()
    s:type("pd.sle") s:keys("Tab")
    s:wait_for("> pd%.sleep$")
    s:type("(0)") s:keys("Enter")
    s:type("string.upp") s:keys("Tab")
    s:wait_for("> string%.upper$")
  end)

  it("Ctrl-C clears the line at the prompt, and cancels a running command", function()
    s = start()
    s:type("this line is dropped")
    s:keys("C-c")
    s:wait_for("^>$")
    s:type("t0 = pd.now(); pd.sleep(30)") s:keys("Enter")
    pd.sleep(0.3)
    s:keys("C-c")
    s:wait_for("cancelled")
    s:type("pd.now() - t0 < 10") s:keys("Enter")
    s:wait_for("^true$")
    -- a busy loop stops too
    s:type("while true do end") s:keys("Enter")
    pd.sleep(0.3)
    s:keys("C-c")
    s:wait_for("interrupted: cancelled")
    s:type("'still here'") s:keys("Enter")
    s:wait_for("^still here$")
  end)

  it("keeps history across sessions and leaves on Ctrl-D", function()
    s = start()
    s:type("answer = 41 + 1") s:keys("Enter")
    s:wait_for("^>$")
    s:keys("C-d")
    local hist
    local deadline = pd.now() + 5
    repeat
      local f = io.open(s.home .. "/.pdlua_history")
      if f then hist = f:read("a") f:close() end
      if not (hist and hist:find("answer = 41 + 1", 1, true)) then pd.sleep(0.05) end
    until (hist and hist:find("answer = 41 + 1", 1, true)) or pd.now() > deadline
    assert.truthy(hist and hist:find("answer = 41 + 1", 1, true))
    -- a new session recalls it with the Up arrow
    local home = s.home
    s:tmux("kill-server")
    s = nil
    local name = ("pdlua-spec-%d"):format(math.random(1e6))
    local sock = home .. "/tmux2.sock"
    sh(("tmux -S %s new-session -d -s %s -x 150 -y 40 %s"):format(env.quote(sock), name,
       env.quote("env HOME=" .. env.quote(home) .. " TERM=xterm " .. env.quote(env.pdlua))))
    s = setmetatable({name = name, sock = sock, home = home}, Session)
    s:wait_for("^>$")
    s:keys("Up")
    s:wait_for("> answer = 41 %+ 1$")
  end)
end)
