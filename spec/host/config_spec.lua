-- pdlua.config: project/zone from flags, environment, gcloud configuration.
local config = require "pdlua.config"
local env = require "support.env"

local function fake_env(vars)
  return function(k) return vars[k] end
end

local function gcloud_dir(active, files)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. env.quote(dir .. "/configurations")))
  if active then
    local f = assert(io.open(dir .. "/active_config", "w"))
    f:write(active, "\n")
    f:close()
  end
  for name, text in pairs(files) do
    local f = assert(io.open(dir .. "/configurations/config_" .. name, "w"))
    f:write(text)
    f:close()
  end
  return dir
end

describe("config.resolve", function()
  local dir
  after_each(function()
    if dir then os.execute("rm -rf " .. env.quote(dir)) end
    dir = nil
  end)

  it("reads the active gcloud configuration under CLOUDSDK_CONFIG", function()
    dir = gcloud_dir("work", {
      work = "[core]\nproject = from-gcloud\naccount = a@b\n\n[compute]\nzone = europe-west1-b\nregion = europe-west1\n",
      default = "[core]\nproject = wrong\n",
    })
    local got, src = config.resolve({}, fake_env{CLOUDSDK_CONFIG = dir})
    assert.same({project = "from-gcloud", zone = "europe-west1-b", region = "europe-west1"}, got)
    assert.same({project = "gcloud", zone = "gcloud", region = "gcloud"}, src)
  end)

  it("prefers the environment to gcloud, and flags to both", function()
    dir = gcloud_dir(nil, {default = "[core]\nproject = g\n[compute]\nzone = gz\n"})
    local e = fake_env{CLOUDSDK_CONFIG = dir, CLOUDSDK_CORE_PROJECT = "e",
                       CLOUDSDK_COMPUTE_ZONE = "ez"}
    local got = config.resolve({}, e)
    assert.equal("e", got.project)
    assert.equal("ez", got.zone)
    got = config.resolve({project = "f"}, e)
    assert.equal("f", got.project)
    assert.equal("ez", got.zone)
  end)

  it("puts the credentials' project after the environment and before gcloud", function()
    dir = gcloud_dir(nil, {default = "[core]\nproject = g\n"})
    local got, src = config.resolve({}, fake_env{CLOUDSDK_CONFIG = dir}, {project = "key"})
    assert.equal("key", got.project)
    assert.equal("credentials", src.project)
    got, src = config.resolve({}, fake_env{CLOUDSDK_CONFIG = dir, CLOUDSDK_CORE_PROJECT = "e"},
                              {project = "key"})
    assert.equal("e", got.project)
    assert.equal("env", src.project)
  end)

  it("looks nothing up for a value given as false", function()
    dir = gcloud_dir(nil, {default = "[core]\nproject = g\n[compute]\nzone = gz\nregion = gr\n"})
    local got, src = config.resolve({project = "p", zone = false, region = false},
                                    fake_env{CLOUDSDK_CONFIG = dir, CLOUDSDK_COMPUTE_ZONE = "ez"})
    assert.same({project = "p"}, got)
    assert.same({project = "flag"}, src)
  end)

  it("honours CLOUDSDK_ACTIVE_CONFIG_NAME", function()
    dir = gcloud_dir("default", {default = "[core]\nproject = d\n", other = "[core]\nproject = o\n"})
    local got = config.resolve({}, fake_env{CLOUDSDK_CONFIG = dir, CLOUDSDK_ACTIVE_CONFIG_NAME = "other"})
    assert.equal("o", got.project)
  end)

  it("leaves values unset when nothing says them", function()
    local got = config.resolve({}, fake_env{CLOUDSDK_CONFIG = "/nonexistent"})
    assert.same({}, got)
  end)
end)

describe("config.parse_ini", function()
  it("ignores comments and keeps sections apart", function()
    assert.same({core = {project = "p"}, compute = {zone = "z"}},
                config.parse_ini("# c\n[core]\nproject = p\n; c\n[compute]\nzone=z\n"))
  end)
end)
