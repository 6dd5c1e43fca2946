-- pdlua-emu as a program: flags, start-up line, shutdown, routing and the
-- bearer-token check every Compute API call goes through.
local env = require "support.env"
local emu_support = require "support.emu"

describe("pdlua-emu program", function()
  it("documents every flag in --help", function()
    local out, _, code = env.run(env.quote(env.emu) .. " --help")
    assert.equal(0, code)
    for _, flag in ipairs {"--port", "--fleet", "--latency-scale", "--seed", "--strict-auth",
                           "--token-lifetime", "--read-quota", "--write-quota", "--quota-window",
                           "--concurrent-ops", "--faults", "--log-requests", "--watch-pid",
                           "--generate", "--project", "--help", "--version"} do
      assert.truthy(out:find(flag, 1, true), flag)
    end
  end)

  it("rejects unknown flags and bad values with exit code 2", function()
    local _, err, code = env.run(env.quote(env.emu) .. " --bogus")
    assert.equal(2, code)
    assert.matches("unknown option '%-%-bogus'", err)
    _, err, code = env.run(env.quote(env.emu) .. " --port nope")
    assert.equal(2, code)
    assert.matches("%-%-port", err)
  end)

  it("rejects a malformed fleet with exit code 2, naming the problem", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"instances":[{"name":"vm","machineType":"n9-mega-1"}]}')
    f:close()
    local _, err, code = env.run(env.quote(env.emu) .. " --port 0 --fleet " .. env.quote(path))
    os.remove(path)
    assert.equal(2, code)
    assert.matches("unknown machine type 'n9%-mega%-1'", err)
    _, err, code = env.run(env.quote(env.emu) .. " --port 0 --fleet /nonexistent.json")
    assert.equal(2, code)
    assert.matches("cannot read", err)
  end)

  it("prints the listening line, serves, and exits 0 on SIGTERM", function()
    local emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
    assert.matches("^http://127%.0%.0%.1:%d+$", emu.url)
    assert.is_true(emu.port > 0)
    assert.equal("demo-project", emu.project)
    local status, body = emu:api("GET", "zones/us-central1-a/disks/web-1")
    assert.equal(200, status)
    assert.equal("web-1", body.name)
    local rc = emu:stop()
    assert.equal(0, rc)
  end)
end)

describe("pdlua-emu routing and auth", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)

  it("answers 401 with the real body when the bearer token is missing", function()
    local status, body, headers = emu:api("GET", "zones/us-central1-a/disks", nil, {token = false})
    assert.equal(401, status)
    assert.equal(401, body.error.code)
    assert.matches("^Request is missing required authentication credential", body.error.message)
    assert.equal("required", body.error.errors[1].reason)
    assert.equal("global", body.error.errors[1].domain)
    assert.equal("UNAUTHENTICATED", body.error.status)
    assert.matches("^Bearer", headers["www-authenticate"])
  end)

  it("accepts any non-empty bearer token by default", function()
    local status = emu:api("GET", "zones", nil, {token = "anything-at-all"})
    assert.equal(200, status)
  end)

  it("answers 404 for unknown paths and projects, 405 for a wrong method", function()
    local status, body = emu:api("GET", "zones/us-central1-a/gizmos")
    assert.equal(404, status)
    assert.equal("notFound", body.error.errors[1].reason)
    status, body = emu:request("GET", emu.endpoint .. "projects/other-project/zones",
                               {headers = {Authorization = "Bearer t"}})
    assert.equal(404, status)
    assert.equal("The resource 'projects/other-project' was not found", body.error.message)
    status = emu:api("PUT", "zones/us-central1-a/disks/web-1")
    assert.equal(405, status)
  end)

  it("rejects an unknown zone as the API does", function()
    local status, body = emu:api("GET", "zones/mars-north1-a/disks")
    assert.equal(400, status)
    assert.equal("invalid", body.error.errors[1].reason)
    status = emu:api("GET", "zones/mars-north1-a")
    assert.equal(404, status)
  end)

  it("serves links on its own base URL so they can be followed", function()
    local _, disk = emu:api("GET", "zones/us-central1-a/disks/web-1")
    assert.equal(emu.endpoint .. "projects/demo-project/zones/us-central1-a/disks/web-1", disk.selfLink)
    local status, again = emu:api("GET", disk.selfLink)
    assert.equal(200, status)
    assert.equal(disk.id, again.id)
    local s2, t = emu:api("GET", disk.type)
    assert.equal(200, s2)
    assert.equal("compute#diskType", t.kind)
  end)

  it("answers the admin health endpoint", function()
    local status, h = emu:request("GET", emu.url .. "/emulator/v1/health")
    assert.equal(200, status)
    assert.is_true(h.ok)
    assert.equal(emu.port, h.port)
  end)
end)
