-- `make install PREFIX=...` puts a working pdlua in the prefix: the
-- program finds its Lua modules and scripts there from any directory, and
-- `make uninstall` takes it all away again.
local env = require "support.env"

describe("make install", function()
  it("installs a pdlua that runs from the prefix, and uninstall removes it", function()
    local prefix = os.tmpname()
    os.remove(prefix)
    local build = env.pdlua:match("^(.*)/pdlua$")
    local make = ("make -s -C %s BUILD=%s PREFIX=%s"):format(
      env.quote(env.root), env.quote(build), env.quote(prefix))
    local _, err, code = env.run(make .. " install")
    assert.equal(0, code, err)

    local bin = prefix .. "/bin/pdlua"
    for _, path in ipairs{bin, prefix .. "/bin/pdlua-emu",
                          prefix .. "/share/pdlua/lua/pdlua/init.lua",
                          prefix .. "/share/man/man1/pdlua.1"} do
      assert.truthy(io.open(path), path .. " installed")
    end
    -- a bare script name resolves in the installed script directory
    local f = assert(io.open(prefix .. "/share/pdlua/scripts/installed_check.lua", "w"))
    f:write("print('ok ' .. pd.version .. ' ' .. select(1, require('pdlua.core').paths()))\n")
    f:close()
    local out, err2, code2 = env.run("cd / && " .. env.quote(bin) .. " installed_check.lua")
    assert.equal(0, code2, err2)
    assert.matches("^ok %d+%.%d+%.%d+ " .. prefix:gsub("%p", "%%%0") .. "/share/pdlua/lua\n$", out)

    -- the migration script runs from the prefix too, and the events file
    -- module it uses is installed
    local usage, err3, code3 = env.run("cd / && " .. env.quote(bin) .. " migrate.lua --help")
    assert.equal(0, code3, err3)
    assert.matches("^usage: pdlua migrate%.lua", usage)
    local ev, err4, code4 = env.run("cd / && " .. env.quote(bin) ..
      " -e \"print(require('pdlua.events').iso(0))\"")
    assert.equal(0, code4, err4)
    assert.equal("1970-01-01T00:00:00.000Z\n", ev)

    os.remove(prefix .. "/share/pdlua/scripts/installed_check.lua")
    _, err, code = env.run(make .. " uninstall")
    assert.equal(0, code, err)
    assert.is_nil(io.open(bin))
    assert.is_nil(io.open(prefix .. "/share/pdlua/lua/pdlua/init.lua"))
    assert.is_nil(io.open(prefix .. "/share/man/man1/pdlua.1"))
    os.execute("rm -rf " .. env.quote(prefix))
  end)
end)
