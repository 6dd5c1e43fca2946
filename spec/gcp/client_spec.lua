-- The client without a server: construction, endpoints, argument checks,
-- flags, URL safety, retry classification, request ids.
local env = require "support.env"

local function client(opts)
  opts = opts or {}
  opts.project = opts.project or "p"
  opts.endpoint = opts.endpoint or "http://127.0.0.1:9/compute/v1/"
  opts.credentials = opts.credentials or {access_token = "test-token"}
  return gcp.client(opts)
end

describe("gcp.client", function()
  it("defaults the endpoint to Compute Engine v1 over https", function()
    local out, err, code = env.pdlua_run([[-e "print(gcp.client{project='p', credentials={access_token='t'}}.endpoint)"]],
      {env = {CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE = ""}})
    assert.equal(0, code, err)
    assert.equal("https://compute.googleapis.com/compute/v1/\n", out)
  end)

  it("takes the endpoint from CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE, adding the slash", function()
    local out, err, code = env.pdlua_run([[-e "print(gcp.client{project='p', credentials={access_token='t'}}.endpoint)"]],
      {env = {CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE = "http://127.0.0.1:4/compute/v1"}})
    assert.equal(0, code, err)
    assert.equal("http://127.0.0.1:4/compute/v1/\n", out)
  end)

  it("an explicit endpoint wins over the environment", function()
    local out, err, code = env.pdlua_run(
      [[-e "print(gcp.client{project='p', endpoint='http://[::1]:5/c/', credentials={access_token='t'}}.endpoint)"]],
      {env = {CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE = "http://127.0.0.1:4/compute/v1/"}})
    assert.equal(0, code, err)
    assert.equal("http://[::1]:5/c/\n", out)
  end)

  it("refuses plain http to a remote host, and odd schemes", function()
    for _, url in ipairs {"http://compute.example.com/compute/v1/", "ftp://127.0.0.1/",
                          "file:///etc/passwd", "not a url"} do
      local ok, err = pcall(client, {endpoint = url})
      assert.is_false(ok, url)
      assert.equal("invalidArgument", err.reason)
    end
    assert.truthy(gcp.core.check_url("https://compute.googleapis.com/compute/v1/"))
    assert.truthy(gcp.core.check_url("http://localhost:8080/"))
    assert.truthy(gcp.core.check_url("http://127.3.4.5/"))
    assert.is_nil(gcp.core.check_url("http://128.0.0.1/"))
    assert.is_nil(gcp.core.check_url("http://localhost.example.com/"))
  end)

  it("takes project and zone from the environment", function()
    local out, err, code = env.pdlua_run(
      [[-e "local c = gcp.client{credentials={access_token='t'}}; print(c.project, c.zone)"]],
      {env = {CLOUDSDK_CORE_PROJECT = "envp", CLOUDSDK_COMPUTE_ZONE = "europe-west1-b",
              CLOUDSDK_CONFIG = "/nonexistent"}})
    assert.equal(0, code, err)
    assert.equal("envp\teurope-west1-b\n", out)
  end)

  it("reads project and zone from gcloud's active configuration", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. env.quote(dir .. "/configurations"))
    local f = assert(io.open(dir .. "/active_config", "w"))
    f:write("work\n")
    f:close()
    f = assert(io.open(dir .. "/configurations/config_work", "w"))
    f:write("[core]\naccount = a@b\nproject = cfgp\n\n[compute]\nzone = asia-east1-a\n")
    f:close()
    local out, err, code = env.pdlua_run(
      [[-e "local c = gcp.client{credentials={access_token='t'}}; print(c.project, c.zone)"]],
      {env = {CLOUDSDK_CONFIG = dir, CLOUDSDK_CORE_PROJECT = "", CLOUDSDK_COMPUTE_ZONE = ""}})
    os.execute("rm -rf " .. env.quote(dir))
    assert.equal(0, code, err)
    assert.equal("cfgp\tasia-east1-a\n", out)
  end)

  it("checks call parameters before sending anything", function()
    local c = client()
    local cases = {
      {function() return c.disks:get{zone = "z"} end, "missing parameter 'disk'"},
      {function() return c.disks:get{zone = "z", disk = "d", bogus = 1} end, "unknown parameter 'bogus'"},
      {function() return c.disks:insert{zone = "z"} end, "needs a body"},
      {function() return c.disks:get{zone = "z", disk = "d", body = {}} end, "takes no body"},
      {function() return c.instances:detach_disk{zone = "z", instance = "i"} end, "missing parameter 'deviceName'"},
      {function() return gcp.client{endpoint = "http://127.0.0.1:9/", credentials = {access_token = "t"}, project = false}.disks:get{zone = "z", disk = "d"} end, "no project"},
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[1])
      assert.is_false(ok)
      assert.is_true(pd.is_error(err), tostring(err))
      assert.equal("invalidArgument", err.reason)
      assert.matches(case[2], err.message, 1, true)
    end
    assert.equal(0, c:stats().requests)
  end)

  it("names every method of the brief", function()
    local want = {
      disks = {"list", "aggregated_list", "get", "insert", "delete", "set_labels", "create_snapshot"},
      snapshots = {"insert", "get", "list", "delete", "set_labels"},
      instances = {"list", "aggregated_list", "get", "stop", "start", "attach_disk", "detach_disk",
                   "set_disk_auto_delete", "set_machine_type"},
      disk_types = {"get", "list"}, machine_types = {"get", "list"}, zones = {"list"},
      zone_operations = {"get", "wait"}, global_operations = {"get", "wait"},
    }
    local c = client()
    for coll, names in pairs(want) do
      for _, name in ipairs(names) do
        assert.equal("function", type(c[coll][name]), coll .. "." .. name)
      end
    end
    assert.equal("function", type(c.wait))
    assert.equal("function", type(c.stats))
  end)

  it("classifies retryable answers as Google's tooling does", function()
    local r = gcp.core.retryable
    for _, s in ipairs {429, 500, 502, 503, 504} do assert.is_true(r(s), s) end
    for _, s in ipairs {400, 401, 404, 409, 412} do assert.is_false(r(s), s) end
    assert.is_true(r(403, "rateLimitExceeded"))
    assert.is_true(r(403, "userRateLimitExceeded"))
    assert.is_true(r(403, "quotaExceeded", "Quota CONCURRENT_OPERATIONS_QUOTA_EXCEEDED exceeded"))
    assert.is_false(r(403, "forbidden", "Required 'compute.disks.get' permission"))
    assert.is_false(r(403, "quotaExceeded", "Quota 'SSD_TOTAL_GB' exceeded"))
  end)

  it("makes version-4 UUIDs for request ids", function()
    local seen = {}
    for _ = 1, 200 do
      local u = gcp.core.uuid()
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", u)
      assert.is_nil(seen[u])
      seen[u] = true
    end
  end)

  it("picks its flags out of a command line", function()
    local opts, rest = gcp.flags{"--project", "p1", "--endpoint=http://127.0.0.1:1/", "--log-http",
                                 "--qps", "5", "migrate", "--zone=z", "--other", "x"}
    assert.same({project = "p1", endpoint = "http://127.0.0.1:1/", log_http = true, qps = 5,
                 zone = "z"}, opts)
    assert.same({"migrate", "--other", "x"}, rest)
    assert.has_error(function() gcp.flags{"--qps", "many"} end)
    assert.has_error(function() gcp.flags{"--project"} end)
  end)

  it("fails a call to a closed port as a retryable connection error", function()
    local c = client{max_attempts = 2, backoff_initial = 0.001}
    local ok, err = pcall(c.disks.get, c.disks, {zone = "z", disk = "d"})
    assert.is_false(ok)
    assert.equal("connectionError", err.reason)
    assert.is_true(err.retryable)
    assert.equal(2, err.attempts)
    assert.equal("disks.get", err.method)
    local st = c:stats()
    assert.equal(1, st.methods["disks.get"].calls)
    assert.equal(2, st.methods["disks.get"].requests)
    assert.equal(1, st.methods["disks.get"].retries)
    assert.equal(1, st.methods["disks.get"].errors)
  end)

  it("reports where its credentials came from without the secret", function()
    local c = client{credentials = {access_token = "very-secret-token-value"}}
    assert.equal("access_token", c.credentials.kind)
    for _, v in pairs(c.credentials) do
      assert.is_nil(tostring(v):find("very-secret", 1, true))
    end
  end)

  it("fails early on a broken credentials file, naming it", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"type": "service_account", "client_email": "a@b", "private_key": "nope"}')
    f:close()
    local ok, err = pcall(gcp.client, {project = "p", endpoint = "http://127.0.0.1:9/",
                                       credentials = path})
    assert.is_false(ok)
    assert.equal("authError", err.reason)
    assert.matches(path, err.message, 1, true)
    assert.matches("not a PEM private key", err.message, 1, true)
    f = assert(io.open(path, "w"))
    f:write('{"type": "external_account"}')
    f:close()
    ok, err = pcall(gcp.client, {project = "p", endpoint = "http://127.0.0.1:9/", credentials = path})
    os.remove(path)
    assert.is_false(ok)
    assert.matches("external_account", err.message, 1, true)
  end)
end)
