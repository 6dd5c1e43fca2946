-- Credentials against pdlua-emu's token and metadata endpoints (strict
-- auth: only tokens the emulator issued are accepted): every step of the
-- Application Default Credentials chain, its order, refresh on 401 and
-- before expiry, single-flight refresh across threads, and that no token,
-- key or secret ever shows in logs or errors. Keys are made at test time.
local env = require "support.env"
local fx = require "support.gcp"

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

describe("gcp credentials", function()
  local emu, dir, sa_file, au_file, pem
  local email = "migrator@gcp-spec.iam.gserviceaccount.com"
  local secret, refresh = "csecret-Zq8Lk2", "1//rtok-Vb7Xn4"

  local function grants()
    local _, body = emu:request("GET", emu.url .. "/emulator/v1/auth/tokens")
    return body.count
  end

  -- An access token the emulator issued (refresh-token grant).
  local function issued_token()
    local status, body = emu:request("POST", emu.url .. "/token", {form = {
      grant_type = "refresh_token", client_id = "cid", client_secret = secret, refresh_token = refresh}})
    assert.equal(200, status)
    return body.access_token
  end

  -- Runs a script in a child pdlua with a clean credential environment plus
  -- `vars`; the script sees `endpoint` and `project`.
  local function run(vars, script)
    local e = {GOOGLE_OAUTH_ACCESS_TOKEN = "", CLOUDSDK_AUTH_ACCESS_TOKEN_FILE = "",
               GOOGLE_APPLICATION_CREDENTIALS = "", CLOUDSDK_CONFIG = dir .. "/empty",
               HOME = dir .. "/empty", GCE_METADATA_HOST = "127.0.0.1:1",
               CLOUDSDK_CORE_PROJECT = "", PDLUA_LOG_HTTP = ""}
    for k, v in pairs(vars) do e[k] = v end
    write(dir .. "/script.lua", ("local endpoint, project = %q, %q\n"):format(emu.endpoint, emu.project) .. script)
    return env.pdlua_run(env.quote(dir .. "/script.lua"), {env = e})
  end

  local probe = [[
    local c = gcp.client{endpoint = endpoint, project = project, zone = "us-central1-a"}
    local ok, v = pcall(function() return c.disks:get{disk = "spare"}.name end)
    print(c.credentials.kind, ok and v or tostring(v), c:stats().token_refreshes)
  ]]

  setup(function()
    emu = fx.start()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. env.quote(dir .. "/empty") .. " " .. env.quote(dir .. "/gcloud")))
    local _, err, code = env.run(("(openssl genrsa -out %s/sa.pem 2048 && openssl rsa -in %s/sa.pem -pubout -out %s/sa.pub)")
      :format(env.quote(dir), env.quote(dir), env.quote(dir)))
    assert(code == 0, err)
    pem = read(dir .. "/sa.pem")
    sa_file = dir .. "/sa.json"
    write(sa_file, gcp.json_encode{type = "service_account", project_id = "from-key-file",
      private_key_id = "k1", private_key = pem, client_email = email, client_id = "1",
      token_uri = emu.url .. "/token"})
    au_file = dir .. "/au.json"
    write(au_file, gcp.json_encode{type = "authorized_user", client_id = "cid", client_secret = secret,
      refresh_token = refresh, token_uri = emu.url .. "/token"})
    write(dir .. "/gcloud/application_default_credentials.json", read(au_file))
    emu:auth{service_accounts = {{client_email = email, public_key_pem = read(dir .. "/sa.pub")}},
             authorized_users = {{client_id = "cid", client_secret = secret, refresh_token = refresh}},
             strict = true}
  end)

  teardown(function()
    emu:stop()
    os.execute("rm -rf " .. env.quote(dir))
  end)

  before_each(function()
    emu:auth{token_lifetime = 3600}
    emu:clear_requests()
  end)

  it("refuses an unknown token under strict auth, without retrying, and never quotes it", function()
    local out, err, code = run({GOOGLE_OAUTH_ACCESS_TOKEN = "bogus-Tk9Wq3"}, probe)
    assert.equal(0, code, err)
    assert.matches("^access_token\tauthError %(401%): disks.get: Request had invalid authentication", out)
    assert.is_nil(out:find("bogus-Tk9Wq3", 1, true))
    assert.equal(1, #fx.requests(emu, "disks.get"))
  end)

  it("uses GOOGLE_OAUTH_ACCESS_TOKEN first", function()
    local out, err, code = run({GOOGLE_OAUTH_ACCESS_TOKEN = issued_token(),
                                GOOGLE_APPLICATION_CREDENTIALS = sa_file}, probe)
    assert.equal(0, code, err)
    assert.equal("access_token\tspare\t0\n", out)
  end)

  it("then CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", function()
    write(dir .. "/token", issued_token() .. "\n")
    local out, err, code = run({CLOUDSDK_AUTH_ACCESS_TOKEN_FILE = dir .. "/token",
                                GOOGLE_APPLICATION_CREDENTIALS = sa_file}, probe)
    assert.equal(0, code, err)
    assert.equal("token_file\tspare\t0\n", out)
  end)

  it("then GOOGLE_APPLICATION_CREDENTIALS with a service-account key (RS256 JWT)", function()
    local before = grants()
    local out, err, code = run({GOOGLE_APPLICATION_CREDENTIALS = sa_file,
                                CLOUDSDK_CONFIG = dir .. "/gcloud"}, probe .. [[
      print(gcp.client{endpoint = endpoint}.project)
    ]])
    assert.equal(0, code, err)
    assert.equal("service_account\tspare\t1\nfrom-key-file\n", out)
    assert.equal(before + 1, grants())
    local tok = fx.requests(emu, "oauth2.token")
    assert.equal(1, #tok)
    assert.equal(200, tok[1].status)
  end)

  it("then GOOGLE_APPLICATION_CREDENTIALS with an authorized_user file", function()
    local out, err, code = run({GOOGLE_APPLICATION_CREDENTIALS = au_file,
                                CLOUDSDK_CONFIG = dir .. "/gcloud"}, probe)
    assert.equal(0, code, err)
    assert.equal("authorized_user\tspare\t1\n", out)
  end)

  it("then gcloud's application_default_credentials.json in CLOUDSDK_CONFIG", function()
    local out, err, code = run({CLOUDSDK_CONFIG = dir .. "/gcloud",
                                GCE_METADATA_HOST = emu.url:match("//(.*)$")}, probe .. [[
      print(c.credentials.source)
    ]])
    assert.equal(0, code, err)
    assert.matches("^authorized_user\tspare\t1\ngcloud application default credentials %(.*application_default_credentials%.json%)\n$", out)
    assert.equal(0, #fx.requests(emu, "metadata"))
  end)

  it("then the metadata server at GCE_METADATA_HOST", function()
    local out, err, code = run({GCE_METADATA_HOST = emu.url:match("//(.*)$")}, probe)
    assert.equal(0, code, err)
    assert.equal("metadata\tspare\t1\n", out)
    assert.equal(1, #fx.requests(emu, "metadata"))
  end)

  it("says which credentials it tried when nothing works", function()
    local out, err, code = run({}, probe)
    assert.equal(0, code, err)
    assert.matches("^metadata\tauthError: disks.get: no access token from metadata server %(127%.0%.0%.1:1%); no other credentials were found", out)
  end)

  it("reports a rejected refresh token without quoting any secret", function()
    local bad = dir .. "/bad_au.json"
    write(bad, gcp.json_encode{type = "authorized_user", client_id = "cid", client_secret = "wrong-Pq3Mz8",
      refresh_token = refresh, token_uri = emu.url .. "/token"})
    local out, err, code = run({GOOGLE_APPLICATION_CREDENTIALS = bad, PDLUA_LOG_HTTP = "1"}, probe)
    assert.equal(0, code, err)
    assert.matches("^authorized_user\tauthError %(401%): disks.get: no access token from GOOGLE_APPLICATION_CREDENTIALS", out)
    assert.matches("invalid_client", out)
    for _, s in ipairs {"wrong-Pq3Mz8", refresh, "rtok"} do
      assert.is_nil(out:find(s, 1, true), s)
      assert.is_nil(err:find(s, 1, true), s)
    end
  end)

  it("reports an unknown service account without quoting the key", function()
    local other = dir .. "/other.json"
    write(other, gcp.json_encode{type = "service_account", private_key = pem,
      client_email = "nobody@gcp-spec.iam.gserviceaccount.com", token_uri = emu.url .. "/token"})
    local out, err, code = run({GOOGLE_APPLICATION_CREDENTIALS = other, PDLUA_LOG_HTTP = "1"}, probe)
    assert.equal(0, code, err)
    assert.matches("authError", out)
    assert.matches("invalid_grant", out)
    for _, s in ipairs {"PRIVATE KEY", pem:match("\n(%S+)\n"), "eyJ"} do
      assert.is_nil(out:find(s, 1, true), s)
      assert.is_nil(err:find(s, 1, true), s)
    end
  end)

  it("logs requests with PDLUA_LOG_HTTP=1 and never the token or the assertion", function()
    local token = issued_token()
    local out, err, code = run({GOOGLE_OAUTH_ACCESS_TOKEN = token, PDLUA_LOG_HTTP = "1"}, probe)
    assert.equal(0, code, err)
    assert.equal("access_token\tspare\t0\n", out)
    assert.matches("pdlua http: GET http://127%.0%.0%.1:%d+/compute/v1/projects/gcp%-spec/zones/us%-central1%-a/disks/spare %-> 200 in [%d%.]+ ms %[Authorization: Bearer %[redacted%]%]", err)
    assert.is_nil(err:find(token, 1, true))
    out, err, code = run({GOOGLE_APPLICATION_CREDENTIALS = sa_file, PDLUA_LOG_HTTP = "1"}, probe)
    assert.equal(0, code, err)
    assert.matches("pdlua http: POST http://127%.0%.0%.1:%d+/token %-> 200", err)
    for _, s in ipairs {"ya29", "assertion", "eyJ", "PRIVATE"} do
      assert.is_nil(err:find(s, 1, true), s)
      assert.is_nil(out:find(s, 1, true), s)
    end
  end)

  describe("token cache", function()
    it("refreshes once after a 401 and retries", function()
      local c = fx.client(emu, {credentials = {file = sa_file}})
      assert.equal("spare", c.disks:get{disk = "spare"}.name)
      emu:auth{expire_tokens = true}
      assert.equal("spare", c.disks:get{disk = "spare"}.name)
      assert.equal(2, c:stats().token_refreshes)
      local log = fx.requests(emu, "disks.get")
      assert.same({200, 401, 200}, {log[1].status, log[2].status, log[3].status})
    end)

    it("one thread fetches the token while the others wait for it", function()
      local c = fx.client(emu, {credentials = {file = sa_file}})
      local before = grants()
      local res = gcp.core._run_threads(16, function()
        for _ = 1, 3 do c.disks:get{disk = "spare"} end
        return true
      end)
      for i = 1, 16 do assert.is_true(res[i].ok, tostring(res[i].error)) end
      assert.equal(before + 1, grants())
      assert.equal(1, c:stats().token_refreshes)
      assert.equal(48, #fx.requests(emu, "disks.get"))
    end)

    it("retries a token endpoint blip, but not a refusal", function()
      emu:faults{once = {{method = "oauth2.token", action = "error", status = 503}}}
      local c = fx.client(emu, {credentials = {file = sa_file}})
      assert.equal("spare", c.disks:get{disk = "spare"}.name)
      local tok = fx.requests(emu, "oauth2.token")
      assert.same({503, 200}, {tok[1].status, tok[2].status})
      emu:clear_requests()
      emu:faults{once = {{method = "oauth2.token", action = "error", status = 400}}}
      local c2 = fx.client(emu, {credentials = {file = sa_file}})
      local err = fx.error_of(c2.disks.get, c2.disks, {disk = "spare"})
      assert.equal("authError", err.reason)
      assert.is_false(err.retryable)
      assert.equal(1, #fx.requests(emu, "oauth2.token"))
      assert.equal(0, #fx.requests(emu, "disks.get"))
    end)

    it("retries a metadata server blip", function()
      emu:faults{once = {{method = "metadata", action = "reset"}}}
      local out, err, code = run({GCE_METADATA_HOST = emu.url:match("//(.*)$")}, probe)
      assert.equal(0, code, err)
      assert.equal("metadata\tspare\t1\n", out)
      assert.equal(2, #fx.requests(emu, "metadata"))
    end)

    it("threads waiting for a hung refresh stop at their deadline", function()
      emu:faults{hang_seconds = 3, once = {{method = "oauth2.token", action = "hang", seconds = 3}}}
      local c = fx.client(emu, {credentials = {file = sa_file}})
      local t0 = pd.now()
      local res = gcp.core._run_threads(4, function()
        return c.disks:get{disk = "spare"}
      end, {timeout = 0.3})
      for i = 1, 4 do
        assert.equal("timeout", res[i].error.reason)
        assert.is_true(res[i].finished - t0 < 0.3 + 0.5)
      end
      emu:faults{}
    end)

    it("refreshes before expiry, so no request meets an expired token", function()
      emu:auth{token_lifetime = 2}
      local c = fx.client(emu, {credentials = {file = sa_file}})
      local before = grants()
      local t0 = pd.now()
      local res = gcp.core._run_threads(4, function()
        while pd.now() - t0 < 2.6 do
          c.disks:get{disk = "spare"}
          pd.sleep(0.02)
        end
        return true
      end)
      for i = 1, 4 do assert.is_true(res[i].ok, tostring(res[i].error)) end
      for _, r in ipairs(fx.requests(emu, "disks.get")) do assert.equal(200, r.status) end
      local n = grants() - before
      assert.is_true(n >= 2 and n <= 4, "grants: " .. n)
    end)
  end)
end)
