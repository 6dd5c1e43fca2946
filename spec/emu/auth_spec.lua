-- Credentials: strict bearer checks, the OAuth2 token endpoint (refresh
-- token and JWT-bearer grants, RS256 verified with OpenSSL), the metadata
-- server, and the grant log.
local env = require "support.env"
local emu_support = require "support.emu"
local json = require "pdlua.json"

local Z = "us-central1-a"

local function b64url(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = alphabet:sub((n >> 18) + 1, (n >> 18) + 1)
    out[#out + 1] = alphabet:sub(((n >> 12) & 63) + 1, ((n >> 12) & 63) + 1)
    if b then out[#out + 1] = alphabet:sub(((n >> 6) & 63) + 1, ((n >> 6) & 63) + 1) end
    if c then out[#out + 1] = alphabet:sub((n & 63) + 1, (n & 63) + 1) end
  end
  return table.concat(out)
end

local function sh(cmd)
  local out, err, code = env.run(cmd)
  assert(code == 0, cmd .. ": " .. err)
  return out
end

describe("emulator auth", function()
  local emu, dir, key, pub, other_key
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
    dir = sh("mktemp -d"):gsub("%s+$", "")
    key, other_key = dir .. "/key.pem", dir .. "/other.pem"
    sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " .. key .. " 2>/dev/null")
    sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " .. other_key .. " 2>/dev/null")
    pub = sh("openssl pkey -in " .. key .. " -pubout")
  end)
  teardown(function()
    emu:stop()
    os.execute("rm -rf " .. env.quote(dir))
  end)
  before_each(function()
    emu:auth{clear = true, strict = false, token_lifetime = 3600}
  end)

  local SA = "pdlua-test@demo-project.iam.gserviceaccount.com"

  local function jwt(claims, signing_key)
    local now = os.time()
    local c = {iss = SA, scope = "https://www.googleapis.com/auth/compute",
               aud = emu.url .. "/token", iat = now, exp = now + 3600}
    for k, v in pairs(claims or {}) do c[k] = v ~= false and v or nil end
    local input = b64url(json.encode({alg = "RS256", typ = "JWT"})) .. "." .. b64url(json.encode(c))
    local f = assert(io.open(dir .. "/input", "w"))
    f:write(input)
    f:close()
    sh("openssl dgst -sha256 -sign " .. (signing_key or key) .. " -out " .. dir .. "/sig " .. dir .. "/input")
    local sig = assert(io.open(dir .. "/sig", "rb")):read("a")
    return input .. "." .. b64url(sig)
  end

  local function token(form)
    return emu:request("POST", emu.url .. "/token", {form = form})
  end

  local JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

  it("grants a token for a registered refresh token", function()
    emu:auth{authorized_users = {{client_id = "cid", client_secret = "csecret", refresh_token = "rt"}}}
    local status, b = token{grant_type = "refresh_token", client_id = "cid", client_secret = "csecret",
                            refresh_token = "rt"}
    assert.equal(200, status)
    assert.equal("Bearer", b.token_type)
    assert.equal(3600, b.expires_in)
    assert.is_string(b.access_token)
  end)

  it("answers Google's errors for bad refresh grants", function()
    emu:auth{authorized_users = {{client_id = "cid", client_secret = "csecret", refresh_token = "rt"}}}
    local status, b = token{grant_type = "refresh_token", client_id = "cid", client_secret = "csecret",
                            refresh_token = "wrong"}
    assert.equal(400, status)
    assert.same({error = "invalid_grant", error_description = "Bad Request"}, b)
    status, b = token{grant_type = "refresh_token", client_id = "nobody", client_secret = "x", refresh_token = "rt"}
    assert.equal(401, status)
    assert.equal("invalid_client", b.error)
    status, b = token{grant_type = "refresh_token", client_id = "cid", client_secret = "bad", refresh_token = "rt"}
    assert.equal(401, status)
    status, b = token{grant_type = "password"}
    assert.equal(400, status)
    assert.equal("unsupported_grant_type", b.error)
    status, b = token{}
    assert.equal(400, status)
    assert.equal("invalid_request", b.error)
  end)

  it("grants a token for a JWT signed by the registered key", function()
    emu:auth{service_accounts = {{client_email = SA, public_key_pem = pub}}}
    local status, b = token{grant_type = JWT_GRANT, assertion = jwt()}
    assert.equal(200, status, json.encode(b))
    assert.is_string(b.access_token)
    -- Google's token URL is an accepted audience too
    status = token{grant_type = JWT_GRANT, assertion = jwt{aud = "https://oauth2.googleapis.com/token"}}
    assert.equal(200, status)
  end)

  it("rejects JWTs with a bad signature, unknown issuer, audience, times or scope", function()
    emu:auth{service_accounts = {{client_email = SA, public_key_pem = pub}}}
    local now = os.time()
    local cases = {
      {jwt(nil, other_key), "invalid_grant", "Invalid JWT Signature."},
      {jwt{iss = "stranger@x.iam.gserviceaccount.com"}, "invalid_grant", "Invalid grant: account not found"},
      {jwt{aud = "https://example.com/token"}, "invalid_grant", "^Invalid JWT: Failed audience check"},
      {jwt{iat = now - 7200, exp = now - 3600}, "invalid_grant", "^Invalid JWT: Token must be a short%-lived"},
      {jwt{exp = now + 7200}, "invalid_grant", "^Invalid JWT: Token must be a short%-lived"},
      {jwt{scope = false}, "invalid_scope", "^Invalid OAuth scope"},
      {"not.a.jwt!", "invalid_grant", "malformed"},
    }
    for i, c in ipairs(cases) do
      local status, b = token{grant_type = JWT_GRANT, assertion = c[1]}
      assert.equal(400, status, "case " .. i)
      assert.equal(c[2], b.error, "case " .. i)
      assert.matches(c[3], b.error_description)
    end
  end)

  it("accepts the private key or a certificate as the registered key", function()
    local pem = assert(io.open(key)):read("a")
    emu:auth{service_accounts = {{client_email = SA, public_key_pem = pem}}}
    assert.equal(200, (token{grant_type = JWT_GRANT, assertion = jwt()}))
    sh("openssl req -new -x509 -key " .. key .. " -subj /CN=sa -days 1 -out " .. dir .. "/cert.pem 2>/dev/null")
    emu:auth{clear = true}
    emu:auth{service_accounts = {{client_email = SA, public_key_pem = assert(io.open(dir .. "/cert.pem")):read("a")}}}
    assert.equal(200, (token{grant_type = JWT_GRANT, assertion = jwt()}))
  end)

  it("in strict mode accepts only issued, unexpired tokens", function()
    emu:auth{strict = true, authorized_users = {{client_id = "c", client_secret = "s", refresh_token = "r"}}}
    local status, b = emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = "made-up"})
    assert.equal(401, status)
    assert.equal("authError", b.error.errors[1].reason)
    assert.matches("^Request had invalid authentication credentials", b.error.message)
    local _, t = token{grant_type = "refresh_token", client_id = "c", client_secret = "s", refresh_token = "r"}
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = t.access_token})))
    emu:auth{expire_tokens = true}
    assert.equal(401, (emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = t.access_token})))
    local _, t2 = token{grant_type = "refresh_token", client_id = "c", client_secret = "s", refresh_token = "r"}
    assert.equal(200, (emu:api("GET", "zones/" .. Z .. "/disks/web-1", nil, {token = t2.access_token})))
  end)

  it("expires tokens after the configured lifetime", function()
    emu:auth{strict = true, token_lifetime = 0.3,
             authorized_users = {{client_id = "c", client_secret = "s", refresh_token = "r"}}}
    local _, t = token{grant_type = "refresh_token", client_id = "c", client_secret = "s", refresh_token = "r"}
    assert.equal(1, t.expires_in)
    assert.equal(200, (emu:api("GET", "zones", nil, {token = t.access_token})))
    pd.sleep(0.4)
    assert.equal(401, (emu:api("GET", "zones", nil, {token = t.access_token})))
  end)

  it("starts in strict mode with --strict-auth", function()
    local e2 = emu_support.start{args = {"--strict-auth", "--project", "p1"}}
    local status = e2:api("GET", "zones", nil, {token = "anything"})
    assert.equal(401, status)
    local _, md = e2:request("GET", e2.url .. "/computeMetadata/v1/instance/service-accounts/default/token",
                             {headers = {["Metadata-Flavor"] = "Google"}})
    assert.equal(200, (e2:api("GET", "zones", nil, {token = md.access_token})))
    e2:stop()
  end)

  it("serves the metadata server's token, only with Metadata-Flavor: Google", function()
    local url = emu.url .. "/computeMetadata/v1/instance/service-accounts/default/token"
    local status, b, h = emu:request("GET", url, {headers = {["Metadata-Flavor"] = "Google"}})
    assert.equal(200, status)
    assert.equal("Bearer", b.token_type)
    assert.is_number(b.expires_in)
    assert.equal("Google", h["metadata-flavor"])
    assert.equal(403, (emu:request("GET", url)))
    local _, pid = emu:request("GET", emu.url .. "/computeMetadata/v1/project/project-id",
                               {headers = {["Metadata-Flavor"] = "Google"}})
    assert.equal("demo-project", pid)
    local _, email = emu:request("GET", emu.url .. "/computeMetadata/v1/instance/service-accounts/default/email",
                                 {headers = {["Metadata-Flavor"] = "Google"}})
    assert.matches("%-compute@developer%.gserviceaccount%.com$", email)
  end)

  it("takes injected faults on the token endpoint and the metadata server", function()
    emu:auth{authorized_users = {{client_id = "c", client_secret = "s", refresh_token = "r"}}}
    emu:faults{once = {{method = "oauth2.token", action = "error", status = 503},
                       {method = "metadata", action = "reset"}}}
    local form = {grant_type = "refresh_token", client_id = "c", client_secret = "s", refresh_token = "r"}
    assert.equal(503, (token(form)))
    assert.equal(200, (token(form)))
    local url = emu.url .. "/computeMetadata/v1/instance/service-accounts/default/token"
    assert.equal(0, (emu:request("GET", url, {headers = {["Metadata-Flavor"] = "Google"}})))
    assert.equal(200, (emu:request("GET", url, {headers = {["Metadata-Flavor"] = "Google"}})))
    emu:faults{}
  end)

  it("logs grants without the tokens, and names the caller on operations", function()
    emu:auth{authorized_users = {{client_id = "c", client_secret = "s", refresh_token = "r", email = "ops@example.com"}}}
    local _, t = token{grant_type = "refresh_token", client_id = "c", client_secret = "s", refresh_token = "r"}
    emu:request("GET", emu.url .. "/computeMetadata/v1/instance/service-accounts/default/token",
                {headers = {["Metadata-Flavor"] = "Google"}})
    local _, log = emu:request("GET", emu.url .. "/emulator/v1/auth/tokens")
    assert.equal(2, log.count)
    assert.equal("refresh_token", log.grants[1].grant)
    assert.equal("ops@example.com", log.grants[1].principal)
    assert.equal("metadata", log.grants[2].grant)
    assert.is_nil(json.encode(log):find(t.access_token, 1, true))
    local _, op = emu:api("POST", "zones/" .. Z .. "/disks", {name = "by-ops", sizeGb = 10}, {token = t.access_token})
    assert.equal("ops@example.com", op.user)
    local reqs = emu:requests{api = "oauth2.token"}
    assert.is_true(#reqs >= 1)
  end)
end)
