--- Credentials, as far as a client of Compute Engine sees them: the bearer
-- token check on every API call, an OAuth2 token endpoint (refresh-token
-- and JWT-bearer grants) and the metadata server's token endpoint.
--
-- By default any non-empty bearer token is accepted (a client under test
-- can use GOOGLE_OAUTH_ACCESS_TOKEN=anything). In strict mode only tokens
-- this emulator issued and that have not expired are, so a client's
-- refresh-on-401 path can be tested. Grants are logged (without the
-- tokens) for tests to count. Error bodies follow Google's.
local core = require "pdlua.core"
local emu = require "pdlua.emu.core"
local json = require "emu.json"
local errors = require "emu.errors"
local rand = require "emu.rand"

local M = {}
local Auth = {}
Auth.__index = Auth

local GOOGLE_AUDIENCES = {
  ["https://oauth2.googleapis.com/token"] = true,
  ["https://accounts.google.com/o/oauth2/token"] = true,
  ["https://www.googleapis.com/oauth2/v4/token"] = true,
}

--- opts: strict, token_lifetime (seconds), seed, project_number.
function M.new(opts)
  local a = setmetatable({}, Auth)
  a.strict = opts.strict or false
  a.lifetime = opts.token_lifetime or 3600
  a.rng = rand.new((opts.seed or 0) + 7919)
  a.service_accounts = {}   -- client_email -> public key PEM
  a.users = {}              -- client_id -> {secret, refresh_tokens = set, email}
  a.tokens = {}             -- token -> {expires (monotonic), principal, grant}
  a.grants = {}             -- log: {grant, principal, time, expires_in}
  a.project_number = opts.project_number or "123456789012"
  a.token_url = nil         -- set once the port is known
  return a
end

--- Applies POST /emulator/v1/auth. Returns a summary, or raises 400.
function Auth:configure(cfg)
  if type(cfg) ~= "table" then errors.raise(400, "invalid", "expected a JSON object") end
  for _, sa in ipairs(cfg.service_accounts or {}) do
    if type(sa.client_email) ~= "string" or type(sa.public_key_pem or sa.private_key) ~= "string" then
      errors.raise(400, "invalid", "each service account needs client_email and public_key_pem")
    end
    self.service_accounts[sa.client_email] = sa.public_key_pem or sa.private_key
  end
  for _, u in ipairs(cfg.authorized_users or {}) do
    if type(u.client_id) ~= "string" or type(u.client_secret) ~= "string" or
       type(u.refresh_token) ~= "string" then
      errors.raise(400, "invalid", "each authorized user needs client_id, client_secret, refresh_token")
    end
    local e = self.users[u.client_id] or {refresh_tokens = {}}
    e.secret = u.client_secret
    e.refresh_tokens[u.refresh_token] = true
    e.email = u.email or e.email or "user@example.com"
    self.users[u.client_id] = e
  end
  if cfg.token_lifetime ~= nil then
    local n = tonumber(cfg.token_lifetime)
    if not n or n <= 0 then errors.raise(400, "invalid", "token_lifetime must be a positive number") end
    self.lifetime = n
  end
  if cfg.strict ~= nil then self.strict = cfg.strict == true end
  if cfg.expire_tokens then
    for _, t in pairs(self.tokens) do t.expires = 0 end
  end
  if cfg.clear then
    self.service_accounts, self.users, self.tokens, self.grants = {}, {}, {}, {}
  end
  return self:summary()
end

function Auth:summary()
  local sas, users = {}, {}
  for e in pairs(self.service_accounts) do sas[#sas + 1] = e end
  for id in pairs(self.users) do users[#users + 1] = id end
  table.sort(sas)
  table.sort(users)
  return {strict = self.strict, token_lifetime = self.lifetime,
          service_accounts = sas, authorized_users = users, grants = #self.grants}
end

--- The grant log (no token values).
function Auth:grant_log()
  return {count = #self.grants, grants = self.grants}
end

local function issue(self, grant, principal)
  local token = "ya29.emu-" .. self.rng:hex(48)
  local now = core.now()
  self.tokens[token] = {expires = now + self.lifetime, principal = principal, grant = grant}
  local expires_in = math.max(1, math.floor(self.lifetime))
  self.grants[#self.grants + 1] = {grant = grant, principal = principal,
                                   time = emu.wall_now(), expires_in = expires_in}
  return {access_token = token, expires_in = expires_in, token_type = "Bearer"}
end

local function www_authenticate(err)
  local h = 'Bearer realm="https://accounts.google.com/"'
  if err then h = h .. ', error="' .. err .. '"' end
  return {["WWW-Authenticate"] = h}
end

-- "disks.get" -> "compute.v1.DisksService.Get", the method name the
-- front end puts in ErrorInfo metadata (as in "compute.v1.RegionsService.List").
local function rpc_method(api)
  local res, meth = (api or ""):match("^(%w+)%.(%w+)$")
  if not res then return nil end
  return "compute.v1." .. res:sub(1, 1):upper() .. res:sub(2) .. "Service." ..
         meth:sub(1, 1):upper() .. meth:sub(2)
end

--- Checks a Compute API request's credentials (`api`: the method called,
-- for the error details). Returns the principal (an e-mail) or raises 401
-- with the real body: reason "required" with item message "Login
-- Required." and an ErrorInfo CREDENTIALS_MISSING when there is no token;
-- reason "authError" with item message "Invalid Credentials" when the
-- token is not accepted.
function Auth:check(headers, api)
  local h = headers.authorization or ""
  local token = h:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
  if not token then
    errors.raise(401, "required",
      "Request is missing required authentication credential. Expected OAuth 2 access token, " ..
      "login cookie or other valid authentication credential. See " ..
      "https://developers.google.com/identity/sign-in/web/devconsole-project.",
      {item_message = "Login Required.", location = "Authorization", locationType = "header",
       status = "UNAUTHENTICATED", headers = www_authenticate(),
       details = {{["@type"] = "type.googleapis.com/google.rpc.ErrorInfo",
                   reason = "CREDENTIALS_MISSING", domain = "googleapis.com",
                   metadata = {service = "compute.googleapis.com", method = rpc_method(api)}}}})
  end
  local t = self.tokens[token]
  if t and t.expires > core.now() then return t.principal end
  if self.strict then
    errors.raise(401, "authError",
      "Request had invalid authentication credentials. Expected OAuth 2 access token, login " ..
      "cookie or other valid authentication credential. See " ..
      "https://developers.google.com/identity/sign-in/web/devconsole-project.",
      {item_message = "Invalid Credentials", location = "Authorization", locationType = "header",
       status = "UNAUTHENTICATED", headers = www_authenticate("invalid_token")})
  end
  return (t and t.principal) or "user@example.com"
end

local function url_decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Parses an application/x-www-form-urlencoded body.
function M.parse_form(body)
  local t = {}
  for pair in (body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[url_decode(k)] = url_decode(v)
  end
  return t
end

local function oauth_error(status, err, desc)
  return {status = status, body = {error = err, error_description = desc}}
end

local function verify_jwt(self, assertion)
  local h64, p64, s64 = (assertion or ""):match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
  if not h64 then return nil, oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.") end
  local header = json.decode(emu.b64decode(h64, true) or "")
  local claims = json.decode(emu.b64decode(p64, true) or "")
  local sig = emu.b64decode(s64, true)
  if type(header) ~= "table" or type(claims) ~= "table" or not sig then
    return nil, oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.")
  end
  if header.alg ~= "RS256" then
    return nil, oauth_error(400, "invalid_grant", "Invalid JWT: unsupported algorithm; RS256 is required.")
  end
  local pem = type(claims.iss) == "string" and self.service_accounts[claims.iss]
  if not pem then return nil, oauth_error(400, "invalid_grant", "Invalid grant: account not found") end
  local ok = emu.rs256_verify(pem, h64 .. "." .. p64, sig)
  if not ok then return nil, oauth_error(400, "invalid_grant", "Invalid JWT Signature.") end
  local aud = claims.aud
  if not (GOOGLE_AUDIENCES[aud] or aud == self.token_url) then
    return nil, oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check. The right " ..
                            "audience is " .. (self.token_url or "https://oauth2.googleapis.com/token"))
  end
  local now = emu.wall_now()
  local iat, exp = tonumber(claims.iat), tonumber(claims.exp)
  if not iat or not exp or exp <= now or iat > now + 300 or exp - iat > 3600 then
    return nil, oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token " ..
                            "(60 minutes) and in a reasonable timeframe. Check your iat and exp " ..
                            "values in the JWT claim.")
  end
  if type(claims.scope) ~= "string" or claims.scope == "" then
    return nil, oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
  end
  return claims.iss
end

--- POST /token: returns a response table.
function Auth:token_endpoint(method, headers, body)
  if method ~= "POST" then return oauth_error(405, "invalid_request", "Method not allowed.") end
  local form
  if (headers["content-type"] or ""):find("json", 1, true) then
    form = json.decode(body)
    if type(form) ~= "table" then return oauth_error(400, "invalid_request", "Bad Request") end
  else
    form = M.parse_form(body)
  end
  local grant = form.grant_type
  if grant == "refresh_token" then
    local u = self.users[form.client_id or ""]
    if not u then return oauth_error(401, "invalid_client", "The OAuth client was not found.") end
    if u.secret ~= form.client_secret then return oauth_error(401, "invalid_client", "Unauthorized") end
    if not u.refresh_tokens[form.refresh_token or ""] then
      return oauth_error(400, "invalid_grant", "Bad Request")
    end
    return {status = 200, body = issue(self, "refresh_token", u.email)}
  elseif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" then
    if not form.assertion or form.assertion == "" then
      return oauth_error(400, "invalid_request", "Missing required parameter: assertion")
    end
    local principal, err = verify_jwt(self, form.assertion)
    if not principal then return err end
    return {status = 200, body = issue(self, "jwt-bearer", principal)}
  elseif grant == nil or grant == "" then
    return oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
  end
  return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " .. tostring(grant))
end

--- The metadata server: GET /computeMetadata/v1/... (and "/").
function Auth:metadata(method, path, headers, project, zone)
  local mh = {["Metadata-Flavor"] = "Google"}
  if headers["metadata-flavor"] ~= "Google" then
    return {status = 403, raw = "Missing Metadata-Flavor:Google header.\n", ctype = "text/plain",
            headers = mh}
  end
  if method ~= "GET" then
    return {status = 405, raw = "Method not allowed\n", ctype = "text/plain", headers = mh}
  end
  local email = self.project_number .. "-compute@developer.gserviceaccount.com"
  local text = {
    ["/"] = "computeMetadata/\n",
    ["/computeMetadata/"] = "v1/\n",
    ["/computeMetadata/v1/"] = "instance/\nproject/\n",
    ["/computeMetadata/v1/project/project-id"] = project,
    ["/computeMetadata/v1/project/numeric-project-id"] = self.project_number,
    ["/computeMetadata/v1/instance/zone"] = "projects/" .. self.project_number .. "/zones/" .. zone,
    ["/computeMetadata/v1/instance/service-accounts/"] = "default/\n" .. email .. "/\n",
    ["/computeMetadata/v1/instance/service-accounts/default/email"] = email,
    ["/computeMetadata/v1/instance/service-accounts/default/scopes"] =
      "https://www.googleapis.com/auth/cloud-platform\n",
  }
  if text[path] then
    return {status = 200, raw = text[path], ctype = "application/text", headers = mh}
  end
  if path == "/computeMetadata/v1/instance/service-accounts/default/token" or
     path == "/computeMetadata/v1/instance/service-accounts/" .. email .. "/token" then
    return {status = 200, body = issue(self, "metadata", email), headers = mh}
  end
  return {status = 404, raw = "Not Found\n", ctype = "text/plain", headers = mh}
end

return M
