-- TLS and response handling over https, against `openssl s_server -HTTP`
-- (answers each GET with a file holding a whole HTTP response): certificates are verified — a server
-- the system does not trust is refused; with gcloud's custom CA setting a
-- private CA's server is accepted — and oversized or malformed answers
-- fail cleanly.
local env = require "support.env"

local function sh(cmd)
  local out, err, code = env.run("(" .. cmd .. ")")
  assert(code == 0, cmd .. ": " .. err)
  return out
end

local function write(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

describe("gcp over TLS", function()
  local dir, pid, port

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    local q = env.quote
    sh("mkdir -p " .. q(dir .. "/www/projects/p/zones/z/disks"))
    sh(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pdlua-test-ca " ..
        "-keyout ca.key -out ca.pem && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 " ..
        "-keyout srv.key -out srv.csr && printf 'subjectAltName=IP:127.0.0.1\\n' >ext && " ..
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 " ..
        "-extfile ext -out srv.pem"):format(q(dir)))
    -- `s_server -HTTP` answers GET /path with the file ./path, a whole HTTP response
    local disks = dir .. "/www/projects/p/zones/z/disks/"
    local function answer(name, status, body, headers)
      write(disks .. name, ("HTTP/1.0 %s\r\nContent-Type: application/json\r\n%s\r\n%s")
        :format(status, headers or "", body))
    end
    answer("ok", "200 OK", '{"kind":"compute#disk","name":"ok","sizeGb":"10","users":[]}')
    answer("bad", "200 OK", '{"kind":"compute#disk","name":')
    answer("html", "200 OK", '<html><body>proxy error</body></html>')
    answer("big", "200 OK", '{"name":"big","description":"' .. string.rep("x", 300000) .. '"}')
    answer("throttled", "429 Too Many Requests",
           '{"error":{"code":429,"message":"slow down","errors":[{"reason":"rateLimitExceeded"}]}}',
           "Retry-After: 1\r\n")
    for _ = 1, 20 do
      port = 20000 + math.random(0, 20000)
      -- exec: $! is then openssl itself, so teardown can kill it (with KILL:
      -- a child may inherit pdlua's blocked SIGINT/SIGTERM)
      local out = env.run(("(cd %s && exec openssl s_server -accept 127.0.0.1:%d -cert ../srv.pem " ..
        "-key ../srv.key -HTTP) >%s 2>&1 </dev/null & echo $!"):format(q(dir .. "/www"), port, q(dir .. "/log")))
      pid = tonumber(out:match("%d+"))
      local up = false
      for _ = 1, 100 do
        pd.sleep(0.05)
        local f = io.open(dir .. "/log")
        local log = f and f:read("a") or ""
        if f then f:close() end
        if log:find("ACCEPT") then up = true break end
        if log:find("rror") then break end
      end
      if up then return end
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
    end
    error("cannot start openssl s_server")
  end)

  teardown(function()
    if pid then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    if dir then os.execute("rm -rf " .. env.quote(dir)) end
  end)

  local function endpoint() return ("https://127.0.0.1:%d/"):format(port) end

  it("refuses a server whose certificate does not verify, without retrying", function()
    local c = gcp.client{project = "p", zone = "z", endpoint = endpoint(), max_attempts = 3,
                         backoff_initial = 0.001, credentials = {access_token = "t"}}
    local ok, err = pcall(c.disks.get, c.disks, {disk = "ok"})
    assert.is_false(ok)
    assert.equal("tlsError", err.reason)
    assert.matches("certificate", err.message)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
  end)

  -- Runs a script in a child pdlua that trusts the test CA.
  local function run_trusting(script)
    local path = dir .. "/script.lua"
    write(path, ([[
      local c = gcp.client{project = "p", zone = "z", endpoint = %q, max_attempts = 2,
                           backoff_initial = 0.001, max_response = 100000,
                           credentials = {access_token = "t"}}
      local function try(f, ...)
        local ok, v = pcall(f, ...)
        if ok then return "ok" end
        return v.reason .. "|" .. tostring(v.retryable) .. "|" .. v.message
      end
    ]]):format(endpoint()) .. script)
    local out, err, code = env.pdlua_run(env.quote(path),
      {env = {CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE = dir .. "/ca.pem"}})
    assert.equal(0, code, err)
    return out
  end

  it("accepts a private CA named by CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", function()
    local out = run_trusting([[
      local d = c.disks:get{disk = "ok"}
      print(d.name, d.sizeGb, #d.users, getmetatable(d.users) ~= nil)
    ]])
    assert.equal("ok\t10\t0\ttrue\n", out)
  end)

  it("gives a clear error for a truncated or non-JSON answer", function()
    local out = run_trusting([[
      print(try(c.disks.get, c.disks, {disk = "bad"}))
      print(try(c.disks.get, c.disks, {disk = "html"}))
    ]])
    local bad, html = out:match("^(.-)\n(.-)\n$")
    assert.matches("^malformedResponse|false|disks.get: response is not JSON: malformed JSON at byte %d+", bad)
    assert.matches("^malformedResponse|false|", html)
  end)

  it("waits at least Retry-After before retrying, unless the deadline comes first", function()
    local out = run_trusting([[
      local t0 = pd.now()
      local res = try(c.disks.get, c.disks, {disk = "throttled"})
      print(res, ("%.3f"):format(pd.now() - t0))
      t0 = pd.now()
      local r = gcp.core._run_threads(1, function() return c.disks:get{disk = "throttled"} end,
                                      {timeout = 0.5})
      print(r[1].error.code, r[1].error.attempts, ("%.3f"):format(r[1].finished - t0))
    ]])
    local res, took, code, attempts, took2 = out:match("^(.-)\t([%d%.]+)\n(%d+)\t(%d+)\t([%d%.]+)\n$")
    assert.matches("^rateLimitExceeded|true|disks.get: slow down %(after 2 attempts%)", res, 1)
    assert.is_true(tonumber(took) >= 1.0, took)      -- the backoff alone would be ~1 ms
    assert.is_true(tonumber(took) < 5, took)
    assert.equal("429", code)
    assert.equal("1", attempts)                      -- no time for a second try
    assert.is_true(tonumber(took2) < 0.5, took2)     -- and no pointless sleep either
  end)

  it("refuses an answer over the size limit", function()
    local out = run_trusting([[print(try(c.disks.get, c.disks, {disk = "big"}))]])
    assert.matches("^responseTooLarge|false|disks.get: response larger than 100000 bytes", out)
  end)
end)
