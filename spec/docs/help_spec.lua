-- `pdlua --help`, `migrate.lua --help` and the man page agree: every long
-- option either help text names is in docs/pdlua.1, and every option the
-- man page gives pdlua itself is one `pdlua` accepts.
local env = require "support.env"

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local man = read(env.root .. "/docs/pdlua.1"):gsub("\\%-", "-"):gsub("\\f[BIR]", "")

local function long_options(text)
  local out = {}
  for opt in text:gmatch("%-%-[%a][%w%-]*") do out[opt] = true end
  return out
end

describe("pdlua --help and the man page", function()
  it("help exits 0 and names the options, the environment and the exit codes", function()
    local out, err, code = env.pdlua_run("--help")
    assert.equal(0, code, err)
    assert.matches("usage: pdlua %[options%] %[script", out)
    for _, word in ipairs{"--project", "--zone", "-e CODE", "-i", "CLOUDSDK_CORE_PROJECT",
                          "NO_COLOR", "Exit codes: 0"} do
      assert.truthy(out:find(word, 1, true), word)
    end
  end)

  it("the man page documents every long option of pdlua --help", function()
    local out = env.pdlua_run("--help")
    for opt in pairs(long_options(out)) do
      assert.truthy(man:find(opt, 1, true), opt .. " missing from docs/pdlua.1")
    end
  end)

  it("every option the man page's synopsis gives pdlua is accepted", function()
    local synopsis = man:match("%.SH SYNOPSIS\n%.B pdlua\n([^\n]*)")
    assert.is_string(synopsis)
    for opt in pairs(long_options(synopsis)) do
      local _, err, code = env.pdlua_run(opt .. " x -e 'os.exit(0)'")
      assert.equal(0, code, opt .. ": " .. err)
    end
  end)

  local usage_ok, cli = pcall(require, "pdlua.migrate.cli")
  local it_migrate = usage_ok and it or pending
  it_migrate("the man page documents every long option of migrate.lua --help", function()
    for opt in pairs(long_options(cli.usage)) do
      assert.truthy(man:find(opt, 1, true), opt .. " missing from docs/pdlua.1")
    end
  end)
end)
