-- docs/api.md against the code: every public function or field of pd,
-- workflows, contexts, semaphores, results, gcp, clients (and their
-- collections), pdlua.migrate and its migrations, and the REPL helpers
-- has an entry, and every entry names
-- something that exists. Adding a function without documenting it, or
-- removing one without updating the reference, fails here.
local env = require "support.env"

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("a")
  f:close()
  return s
end

local doc = read(env.root .. "/docs/api.md")

-- Entries: "### `prefix.name(...)`" or "### `prefix:name...`" or "### `name...`".
local function documented(prefix, sep)
  local out = {}
  for line in doc:gmatch("[^\n]+") do
    local entry = line:match("^### `([^`]+)`")
    if entry then
      local name
      if prefix then
        local p = prefix:gsub("%p", "%%%0") .. sep:gsub("%p", "%%%0")
        name = entry:match("^" .. p .. "([%w_]+)")
      else
        local bare, after = entry:match("^([%w_]+)(.?)")
        name = after ~= "." and after ~= ":" and bare or nil
      end
      if name then out[name] = true end
    end
  end
  return out
end

local function public(t, filter)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" and not k:match("^_") and (not filter or filter(k, v)) then
      out[k] = true
    end
  end
  return out
end

local function sorted(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  table.sort(l)
  return l
end

local function same_names(what, actual, docs)
  local missing, stale = {}, {}
  for k in pairs(actual) do if not docs[k] then missing[#missing + 1] = k end end
  for k in pairs(docs) do if not actual[k] then stale[#stale + 1] = k end end
  table.sort(missing)
  table.sort(stale)
  assert.same({missing = {}, stale = {}}, {missing = missing, stale = stale},
              what .. ": missing from docs/api.md, or documented but gone")
end

local client = gcp.client{project = "spec-project", zone = "spec-zone",
                          endpoint = "http://127.0.0.1:9/compute/v1/",
                          credentials = {access_token = "spec"}}

describe("docs/api.md", function()
  it("documents every function and field of pd", function()
    same_names("pd", public(pd), documented("pd", "."))
  end)

  it("documents every workflow method", function()
    local methods = debug.getregistry()["pdlua.workflow"].methods
    same_names("wf", public(methods), documented("wf", ":"))
  end)

  it("documents every context method", function()
    local ctx = pd.context{n = "integer"}
    same_names("ctx", public(getmetatable(ctx).__index), documented("ctx", ":"))
  end)

  it("documents every semaphore method", function()
    same_names("sem", public(getmetatable(pd.semaphore(1)).__index), documented("sem", ":"))
  end)

  it("documents every result method", function()
    same_names("res", public(require("pdlua.result").mt.__index), documented("res", ":"))
  end)

  it("documents every function and field of gcp", function()
    same_names("gcp", public(gcp), documented("gcp", "."))
  end)

  it("documents every function and field of pdlua.json", function()
    same_names("json", public(require "pdlua.json"), documented("json", "."))
  end)

  it("documents every client method", function()
    local methods = public(getmetatable(client).__index)
    same_names("client", methods, documented("client", ":"))
  end)

  it("lists every collection with exactly its methods", function()
    local actual, docs = {}, {}
    for coll, specs in pairs(gcp.methods) do
      assert.is_table(client[coll], coll)
      actual[coll] = table.concat(sorted(public(specs)), ", ")
    end
    for coll, list in doc:gmatch("\n| `([%w_]+)` | ([^\n]-) |") do
      local names = {}
      for m in list:gmatch("`([%w_]+)`") do names[#names + 1] = m end
      table.sort(names)
      docs[coll] = table.concat(names, ", ")
    end
    for coll in pairs(docs) do
      if not gcp.methods[coll] then docs[coll] = nil end   -- other tables in the file
    end
    assert.same(actual, docs)
  end)

  it("documents pdlua.migrate and every method of a migration", function()
    local migrate = require "pdlua.migrate"
    same_names("pdlua.migrate", public(migrate), documented("migrate", "."))
    local m = assert(migrate.open({"--project", "p", "--zone", "z", "--target-disk-type", "pd-ssd",
                                   "--dry-run"}, {client = client}))
    same_names("migration", public(getmetatable(m).__index), documented("m", ":"))
  end)

  it("documents every REPL helper", function()
    local helpers = require("pdlua.repl").install_helpers({})
    same_names("REPL", public(helpers), documented(nil))
  end)

  it("finds entries at all (the parser is not broken)", function()
    assert.is_true(documented("pd", ".").workflow)
    assert.is_true(documented("wf", ":").run)
    assert.is_true(documented(nil).disks)
  end)
end)
