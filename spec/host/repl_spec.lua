-- pdlua.repl: compiling input, completion, and a whole session on a pipe.
local repl = require "pdlua.repl"
local env = require "support.env"

describe("repl.compile", function()
  it("treats an expression as a value to print", function()
    local fn = assert(repl.compile("1 + 2"))
    assert.equal(3, fn())
  end)

  it("runs statements", function()
    local fn = assert(repl.compile("local x = 2; return x * 3"))
    assert.equal(6, fn())
  end)

  it("says when a chunk is incomplete", function()
    local fn, err, incomplete = repl.compile("for i = 1, 3 do")
    assert.is_nil(fn)
    assert.is_true(incomplete)
    assert.matches("<eof>", err)
  end)

  it("says when a chunk is wrong", function()
    local fn, _, incomplete = repl.compile("x = = 1")
    assert.is_nil(fn)
    assert.is_false(incomplete)
  end)
end)

describe("repl.complete", function()
  local e = {pd = pd, alpha = 1, alpine = 2, beta = {gamma = 1, gone = 2}}
  local obj = setmetatable({field = 1}, {__index = {method = function() end, other = 3}})
  e.obj = obj

  it("completes globals", function()
    assert.same({"alpha", "alpine"}, repl.complete("alp", e))
  end)

  it("completes table fields", function()
    assert.same({"beta.gamma", "beta.gone"}, repl.complete("beta.g", e))
  end)

  it("completes methods through __index after a colon", function()
    assert.same({"obj:method"}, repl.complete("obj:", e))
  end)

  it("completes pd's functions", function()
    local got = repl.complete("pd.sl", e)
    assert.same({"pd.sleep"}, got)
  end)

  it("returns nothing for unknown bases", function()
    assert.same({}, repl.complete("nope.x", e))
  end)
end)

describe("the REPL on a pipe", function()
  it("prints values, continues incomplete chunks and reports errors", function()
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write("x = 20\nfunction add(a,\nb) return a + b end\nadd(x, 22)\nerror('boom')\n{a = 1}\n")
    f:close()
    local out, err, code = env.pdlua_run("-i", {stdin = input, env = {HOME = os.tmpname()}})
    os.remove(input)
    assert.equal(0, code)
    assert.truthy(out:find("42\n", 1, true), out)
    assert.truthy(out:find("{\n  a = 1,\n}", 1, true), out)
    assert.matches("stdin:1: boom", err)
  end)
end)

describe("the REPL's client and helpers", function()
  local emu
  setup(function()
    emu = require("support.emu").start{fleet = "examples/fleets/demo.json"}
  end)
  teardown(function() if emu then emu:stop() end end)

  local function session(lines, args, extra)
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local e = {HOME = os.tmpname(), CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE = emu.endpoint,
               GOOGLE_OAUTH_ACCESS_TOKEN = "spec-token", CLOUDSDK_CONFIG = "/nonexistent"}
    for k, v in pairs(extra or {}) do e[k] = v end
    local out, err, code = env.pdlua_run((args or "") .. " -i", {stdin = input, env = e})
    os.remove(input)
    return out, err, code
  end

  it("takes project and zone from pdlua's flags, over the environment", function()
    local out, err, code = session({"client.project", "client.zone", "#disks{}"},
      "--project " .. emu.project .. " --zone=us-central1-b",
      {CLOUDSDK_CORE_PROJECT = "elsewhere", CLOUDSDK_COMPUTE_ZONE = "europe-west1-b"})
    assert.equal(0, code, err)
    local want = 0
    for _, d in ipairs(emu:state().disks) do
      if d.zone:match("us%-central1%-b$") then want = want + 1 end
    end
    assert.is_true(want > 0)
    assert.equal(("> %s\n> us-central1-b\n> %d\n> "):format(emu.project, want), out)
  end)

  it("lists disks and instances as aligned resource tables", function()
    local out, err, code = session({"disks{zone = 'us-central1-a', filter = 'name = db-1*'}",
                                    "instances{zone = 'us-central1-a', filter = 'name = db-1'}"},
                                   nil, {CLOUDSDK_CORE_PROJECT = emu.project})
    assert.equal(0, code, err)
    assert.matches("NAME%s+ZONE%s+TYPE%s+SIZE_GB%s+STATUS%s+USERS\n", out)
    assert.matches("\ndb%-1%-data%s+us%-central1%-a%s+pd%-ssd%s+500%s+READY%s+db%-1\n", out)
    assert.matches("NAME%s+ZONE%s+MACHINE_TYPE%s+STATUS%s+DISKS\ndb%-1 ", out)
  end)

  it("lists every zone without one", function()
    local out, err, code = session({"#disks{}"}, nil, {CLOUDSDK_CORE_PROJECT = emu.project,
                                                       CLOUDSDK_COMPUTE_ZONE = ""})
    assert.equal(0, code, err)
    assert.equal(("> %d\n> "):format(#emu:state().disks), out)
  end)

  it("plan{} shows what migrate.lua would do and migrate{} does it, in the REPL", function()
    local state_dir = os.tmpname()
    os.remove(state_dir)
    local out, err, code = session({
      "p = plan{target_type = 'pd-balanced', disks = {'orphan-1', 'orphan-2'}}",
      "p", "#p.items",
      ("migrate{target_type = 'pd-balanced', disks = {'orphan-1'}, yes = true, quiet = true, state_dir = %q}")
        :format(state_dir),
      "migrate{target_disk_type = 'bogus'}",            -- the flag's own spelling is taken too
      "'still here'",
      "'locks held: ' .. #require('pdlua.host').locks()"}, "--project " .. emu.project .. " --zone us-central1-a")
    os.execute("rm -rf " .. env.quote(state_dir))
    assert.equal(0, code, err)
    assert.matches("orphan%-1%s+us%-central1%-a%s+%-%s+pd%-standard%s+100 GB%s+%-> orphan%-1%-pdb", out)
    assert.matches("orphan%-2[^\n]*skip: already pd%-balanced", out)
    assert.matches("\n> 2\n", out)
    assert.matches("orphan%-1%s+us%-central1%-a[^\n]*migrated%s+orphan%-1%-pdb", out)
    assert.matches("\n0\n> ", out)                      -- migrate{} returned exit code 0
    assert.matches("unknown disk type 'bogus'", err)
    assert.matches("> 2\n> still here\n", out)           -- a usage error returns 2, the REPL stays
    assert.matches("> locks held: 0\n", out)             -- the run's lock went with it
    local found
    for _, d in ipairs(emu:state().disks) do
      if d.name == "orphan-1-pdb" then found = d end
    end
    assert.truthy(found, "orphan-1-pdb was created")
    assert.matches("pd%-balanced$", found.type)
  end)

  it("help() lists the helpers", function()
    local out, err, code = session({"client", "help()"}, nil, {CLOUDSDK_CORE_PROJECT = ""})
    assert.equal(0, code, err)
    assert.matches("disks{zone=, filter=}", out, 1, true)
  end)
end)
