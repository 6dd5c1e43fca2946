-- The pdlua program: arguments, scripts, -e, exit codes, the script
-- directory lookup, and the core functions every script sees (pd.now,
-- pd.sleep, pd.error).
local env = require "support.env"

describe("pdlua program", function()
  it("prints its version", function()
    local out, _, code = env.pdlua_run("--version")
    assert.equal(0, code)
    assert.matches("^pdlua %d+%.%d+%.%d+ %(Lua 5%.4", out)
  end)

  it("prints help naming every option", function()
    local out, _, code = env.pdlua_run("--help")
    assert.equal(0, code)
    for _, opt in ipairs {"-e CODE", "-i", "--version", "--help", "Exit codes"} do
      assert.truthy(out:find(opt, 1, true), opt)
    end
  end)

  it("rejects an unknown option with exit code 2", function()
    local _, err, code = env.pdlua_run("--bogus")
    assert.equal(2, code)
    assert.matches("unknown option '%-%-bogus'", err)
  end)

  it("runs -e code with pd and gcp preloaded", function()
    local out, _, code = env.pdlua_run([[-e "print(type(pd), type(gcp), type(pd.now()))"]])
    assert.equal(0, code)
    assert.equal("table\ttable\tnumber\n", out)
  end)

  it("passes arguments to a script as lua does", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print(arg[0] == ..., #arg, arg[1], arg[2], select('#', ...))\n")
    f:close()
    local out, _, code = env.pdlua_run(env.quote(path) .. " a b")
    os.remove(path)
    assert.equal(0, code)
    assert.equal("false\t2\ta\tb\t2\n", out)
  end)

  it("exits 1 with the error message when a script fails", function()
    local _, err, code = env.pdlua_run([[-e "error('boom')"]])
    assert.equal(1, code)
    assert.matches("boom", err)
  end)

  it("keeps os.exit codes", function()
    local _, _, code = env.pdlua_run([[-e "os.exit(2)"]])
    assert.equal(2, code)
  end)

  it("reads a script from standard input when not on a terminal", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print(6 * 7)\n")
    f:close()
    local out, _, code = env.pdlua_run("", {stdin = path})
    os.remove(path)
    assert.equal(0, code)
    assert.equal("42\n", out)
  end)

  it("finds a bare script name in its script directory", function()
    local home = os.tmpname()
    os.remove(home)
    assert(os.execute("mkdir -p " .. env.quote(home .. "/scripts") .. " " ..
                      env.quote(home .. "/lua") .. " && cp -R " ..
                      env.quote(env.root .. "/lua/pdlua") .. " " .. env.quote(home .. "/lua/")))
    local f = assert(io.open(home .. "/scripts/hello_from_dir.lua", "w"))
    f:write("print('hello ' .. arg[1])\n")
    f:close()
    local out, err, code = env.pdlua_run("hello_from_dir.lua world",
                                         {env = {PDLUA_HOME = home}})
    os.execute("rm -rf " .. env.quote(home))
    assert.equal(0, code, err)
    assert.equal("hello world\n", out)
  end)
end)

describe("pd core", function()
  it("pd.now is monotonic and pd.sleep sleeps", function()
    local t0 = pd.now()
    pd.sleep(0.05)
    local dt = pd.now() - t0
    assert.is_true(dt >= 0.05)
    assert.is_true(dt < 5)
  end)

  it("pd.sleep rejects negative durations", function()
    assert.has_error(function() pd.sleep(-1) end)
  end)

  it("pd.error builds a structured error with a one-line tostring", function()
    local e = pd.error{code = 404, reason = "notFound", message = "disk 'd' not found"}
    assert.is_true(pd.is_error(e))
    assert.is_false(e.retryable)
    assert.equal("notFound (404): disk 'd' not found", tostring(e))
    local ok, got = pcall(error, e)
    assert.is_false(ok)
    assert.equal(e, got)
    assert.is_false(pd.is_error("x"))
    assert.is_false(pd.is_error({}))
  end)

  it("pd.error accepts a plain message", function()
    local e = pd.error("broken")
    assert.equal("error: broken", tostring(e))
  end)
end)

describe("exit codes from errors", function()
  it("exits 2 when a workflow is rejected as bad input", function()
    local _, err, code = env.pdlua_run([[-e "local wf = pd.workflow('w'); wf:task{id='a', run=function() end, deps={'nope'}}; wf:run{progress=false}"]])
    assert.equal(2, code)
    assert.matches("unknown task 'nope'", err)
  end)

  it("keeps an exit_code carried by a pdlua error", function()
    local _, err, code = env.pdlua_run([[-e "error(pd.error{reason='usage', message='no zone', exit_code=2})"]])
    assert.equal(2, code)
    assert.matches("usage: no zone", err)
  end)
end)

describe("child processes", function()
  local function sigmask_of(cmd_output)
    return tonumber(cmd_output:match("SigBlk:%s*(%x+)"), 16)
  end

  it("start with no blocked signals from io.popen", function()
    local p = io.popen("grep -E '^Sig(Blk|Ign)' /proc/self/status")
    local out = p:read("a")
    assert.is_true(p:close())
    assert.equal(0, sigmask_of(out))
    -- SIGPIPE (13) is not ignored in the child
    local ign = tonumber(out:match("SigIgn:%s*(%x+)"), 16)
    assert.equal(0, ign & (1 << 12))
  end)

  it("can be stopped with SIGTERM after os.execute starts them", function()
    local t0 = pd.now()
    -- the shell signals itself: with SIGTERM blocked it would sleep on
    local ok, how, code = os.execute("kill -TERM $$; sleep 30")
    assert.is_true(pd.now() - t0 < 10)
    assert.is_nil(ok)
    assert.equal("signal", how)
    assert.equal(15, code)
  end)

  it("report exit statuses as Lua does", function()
    assert.same({true, "exit", 0}, {os.execute("true")})
    assert.same({nil, "exit", 3}, {os.execute("exit 3")})
    local p = io.popen("exit 4")
    p:read("a")
    assert.same({nil, "exit", 4}, {p:close()})
    local w = io.popen("cat > /dev/null", "w")
    w:write("hello")
    assert.is_true(w:close())
    assert.is_true(os.execute())
  end)
end)
