-- disks: list (filter, paging, orderBy), aggregatedList, get, insert (blank,
-- from a snapshot, Hyperdisk provisioning), delete, setLabels,
-- createSnapshot, with the real API's rules and error bodies.
local env = require "support.env"
local emu_support = require "support.emu"

local Z = "us-central1-a"

describe("emulated disks", function()
  local emu
  setup(function()
    emu = emu_support.start{fleet = env.root .. "/examples/fleets/demo.json"}
  end)
  teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function insert(body, query)
    return emu:api("POST", "zones/" .. Z .. "/disks", body, {query = query})
  end

  local function err_reason(body) return body.error.errors[1].reason end

  it("gets a disk with the API's field types", function()
    local status, d = emu:api("GET", "zones/" .. Z .. "/disks/db-1-data")
    assert.equal(200, status)
    assert.equal("compute#disk", d.kind)
    assert.equal("string", type(d.id))
    assert.equal("500", d.sizeGb)
    assert.equal("READY", d.status)
    assert.matches("/zones/us%-central1%-a/diskTypes/pd%-ssd$", d.type)
    assert.matches("/zones/us%-central1%-a$", d.zone)
    assert.equal(1, #d.users)
    assert.matches("/instances/db%-1$", d.users[1])
    assert.equal("string", type(d.labelFingerprint))
  end)

  it("answers 404 notFound with the resource path", function()
    local status, body = emu:api("GET", "zones/" .. Z .. "/disks/nope")
    assert.equal(404, status)
    assert.equal("notFound", err_reason(body))
    assert.equal("The resource 'projects/demo-project/zones/us-central1-a/disks/nope' was not found",
                 body.error.message)
  end)

  it("inserts a blank disk: CREATING, then READY when the operation is DONE", function()
    local status, op = insert({name = "fresh", sizeGb = "20", type = "zones/" .. Z .. "/diskTypes/pd-ssd",
                               labels = {team = "x"}})
    assert.equal(200, status)
    assert.equal("compute#operation", op.kind)
    assert.equal("insert", op.operationType)
    assert.matches("/disks/fresh$", op.targetLink)
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/fresh")
    assert.is_true(d.status == "CREATING" or d.status == "READY")
    local done = emu:wait(op)
    assert.equal("DONE", done.status)
    assert.is_nil(done.error)
    _, d = emu:api("GET", "zones/" .. Z .. "/disks/fresh")
    assert.equal("READY", d.status)
    assert.equal("20", d.sizeGb)
    assert.equal("x", d.labels.team)
    assert.equal(d.id, done.targetId)
  end)

  it("accepts full URLs on either Google host for the type", function()
    for i, host in ipairs {"https://www.googleapis.com", "https://compute.googleapis.com"} do
      local status, op = insert({name = "url-" .. i, sizeGb = 10,
        type = host .. "/compute/v1/projects/demo-project/zones/" .. Z .. "/diskTypes/pd-balanced"})
      assert.equal(200, status, op.error and op.error.message)
      emu:wait(op)
    end
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/url-2")
    assert.matches("/diskTypes/pd%-balanced$", d.type)
  end)

  it("defaults to pd-standard and the type's default size", function()
    local _, op = insert({name = "defaults"})
    emu:wait(op)
    local _, d = emu:api("GET", "zones/" .. Z .. "/disks/defaults")
    assert.matches("/pd%-standard$", d.type)
    assert.equal("500", d.sizeGb)
  end)

  it("rejects a name already used with 409 alreadyExists", function()
    local status, body = insert({name = "web-1", sizeGb = 10})
    assert.equal(409, status)
    assert.equal("alreadyExists", err_reason(body))
    assert.equal("The resource 'projects/demo-project/zones/us-central1-a/disks/web-1' already exists",
                 body.error.message)
  end)

  it("rejects bad names, types, sizes and labels with 400", function()
    local cases = {
      {{name = "Bad_Name"}, "invalid"},
      {{}, "required"},
      {{name = "t1", type = "pd-ssd"}, "invalid"},
      {{name = "t2", type = "zones/" .. Z .. "/diskTypes/pd-imaginary"}, "invalid"},
      {{name = "t3", type = "zones/us-east1-b/diskTypes/pd-ssd"}, "invalid"},
      {{name = "t4", sizeGb = "5", type = "zones/" .. Z .. "/diskTypes/pd-ssd"}, "invalid"},
      {{name = "t5", sizeGb = "ten"}, "invalid"},
      {{name = "t6", labels = {Bad = "x"}}, "invalid"},
    }
    for _, c in ipairs(cases) do
      local status, body = insert(c[1])
      assert.equal(400, status, env.quote(emu_support.json.encode(c[1])))
      assert.equal(c[2], err_reason(body))
    end
  end)

  it("rejects invalid JSON bodies with 400 parseError", function()
    local status, body = emu:api("POST", "zones/" .. Z .. "/disks", "{not json")
    assert.equal(400, status)
    assert.equal("parseError", err_reason(body))
  end)

  describe("hyperdisk provisioning", function()
    local HB = "zones/" .. Z .. "/diskTypes/hyperdisk-balanced"
    it("takes provisionedIops and provisionedThroughput, returned as strings", function()
      local status, op = insert({name = "hd", type = HB, sizeGb = 100, provisionedIops = "5000",
                                 provisionedThroughput = 300})
      assert.equal(200, status, op.error and op.error.message)
      emu:wait(op)
      local _, d = emu:api("GET", "zones/" .. Z .. "/disks/hd")
      assert.equal("5000", d.provisionedIops)
      assert.equal("300", d.provisionedThroughput)
    end)

    it("fills in the baseline when not given", function()
      local _, op = insert({name = "hd2", type = HB, sizeGb = 100})
      emu:wait(op)
      local _, d = emu:api("GET", "zones/" .. Z .. "/disks/hd2")
      assert.equal("3000", d.provisionedIops)
      assert.equal("140", d.provisionedThroughput)
    end)

    it("rejects IOPS or throughput out of range", function()
      local cases = {
        {provisionedIops = 1000},               -- below 3,000
        {provisionedIops = 200000},             -- above 160,000
        {sizeGb = 10, provisionedIops = 6000},  -- above 500 per GB
        {provisionedThroughput = 100},          -- below 140
        {provisionedIops = 3000, provisionedThroughput = 1000},  -- above IOPS / 4
      }
      for i, c in ipairs(cases) do
        c.name, c.type, c.sizeGb = "bad-hd-" .. i, HB, c.sizeGb or 100
        local status, body = insert(c)
        assert.equal(400, status, "case " .. i)
        assert.equal("invalid", err_reason(body))
        assert.matches("outside the allowed range", body.error.message)
      end
    end)

    it("rejects provisioning on types that cannot take it", function()
      local status, body = insert({name = "pd-iops", type = "zones/" .. Z .. "/diskTypes/pd-ssd",
                                   sizeGb = 100, provisionedIops = 5000})
      assert.equal(400, status)
      assert.matches("cannot be set", body.error.message)
      status, body = insert({name = "ht-iops", type = "zones/" .. Z .. "/diskTypes/hyperdisk-throughput",
                             sizeGb = 4096, provisionedIops = 5000})
      assert.equal(400, status)
      assert.equal("invalid", err_reason(body))
    end)
  end)

  describe("deleting", function()
    it("refuses an attached disk with resourceInUseByAnotherResource", function()
      local status, body = emu:api("DELETE", "zones/" .. Z .. "/disks/web-1-data")
      assert.equal(400, status)
      assert.equal("resourceInUseByAnotherResource", err_reason(body))
      assert.equal("The disk resource 'projects/demo-project/zones/us-central1-a/disks/web-1-data' " ..
                   "is already being used by 'projects/demo-project/zones/us-central1-a/instances/web-1'",
                   body.error.message)
    end)

    it("deletes an unattached disk: DELETING, then gone", function()
      local status, op = emu:api("DELETE", "zones/" .. Z .. "/disks/orphan-1")
      assert.equal(200, status)
      assert.equal("delete", op.operationType)
      local s2, d = emu:api("GET", "zones/" .. Z .. "/disks/orphan-1")
      assert.is_true(s2 == 404 or d.status == "DELETING")
      emu:wait(op)
      assert.equal(404, (emu:api("GET", "zones/" .. Z .. "/disks/orphan-1")))
    end)

    it("refuses a disk that is still being created", function()
      emu:faults{latency = {insert = 1000}}
      local _, op = insert({name = "slow", sizeGb = 10})
      local status, body = emu:api("DELETE", "zones/" .. Z .. "/disks/slow")
      assert.equal(400, status)
      assert.equal("resourceNotReady", err_reason(body))
      assert.equal("PENDING", op.status)
    end)
  end)

  describe("setLabels", function()
    it("replaces the labels when the fingerprint matches", function()
      local _, d = emu:api("GET", "zones/" .. Z .. "/disks/orphan-2")
      local status, op = emu:api("POST", "zones/" .. Z .. "/disks/orphan-2/setLabels",
                                 {labels = {migrated = "yes"}, labelFingerprint = d.labelFingerprint})
      assert.equal(200, status)
      assert.equal("setLabels", op.operationType)
      emu:wait(op)
      local _, d2 = emu:api("GET", "zones/" .. Z .. "/disks/orphan-2")
      assert.same({migrated = "yes"}, d2.labels)
      assert.are_not.equal(d.labelFingerprint, d2.labelFingerprint)
    end)

    it("answers 412 conditionNotMet on a stale or missing fingerprint", function()
      local _, d = emu:api("GET", "zones/" .. Z .. "/disks/orphan-2")
      local _, op = emu:api("POST", "zones/" .. Z .. "/disks/orphan-2/setLabels",
                            {labels = {a = "1"}, labelFingerprint = d.labelFingerprint})
      emu:wait(op)
      local status, body = emu:api("POST", "zones/" .. Z .. "/disks/orphan-2/setLabels",
                                   {labels = {b = "2"}, labelFingerprint = d.labelFingerprint})
      assert.equal(412, status)
      assert.equal("conditionNotMet", err_reason(body))
      assert.equal("If-Match", body.error.errors[1].location)
      status = emu:api("POST", "zones/" .. Z .. "/disks/orphan-2/setLabels", {labels = {b = "2"}})
      assert.equal(412, status)
    end)
  end)

  describe("listing", function()
    it("lists a zone's disks sorted by name, all on one page by default", function()
      local status, l = emu:api("GET", "zones/" .. Z .. "/disks")
      assert.equal(200, status)
      assert.equal("compute#diskList", l.kind)
      assert.is_nil(l.nextPageToken)
      assert.is_true(#l.items > 20)
      for i = 2, #l.items do assert.is_true(l.items[i - 1].name < l.items[i].name) end
    end)

    it("pages with maxResults and pageToken, without repeats or gaps", function()
      local _, all = emu:api("GET", "zones/" .. Z .. "/disks")
      local seen, token, pages = {}, nil, 0
      repeat
        local _, page = emu:api("GET", "zones/" .. Z .. "/disks", nil,
                                {query = {maxResults = 7, pageToken = token}})
        pages = pages + 1
        assert.is_true(#page.items <= 7)
        for _, d in ipairs(page.items) do
          assert.is_nil(seen[d.name], d.name)
          seen[d.name] = true
        end
        token = page.nextPageToken
      until not token
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.equal(#all.items, n)
      assert.equal(math.ceil(#all.items / 7), pages)
    end)

    it("keeps paging stable while disks are deleted between pages", function()
      local _, p1 = emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {maxResults = 5}})
      local _, op = emu:api("DELETE", "zones/" .. Z .. "/disks/" .. p1.items[1].name)
      if op.kind == "compute#operation" then emu:wait(op) end
      local _, p2 = emu:api("GET", "zones/" .. Z .. "/disks", nil,
                            {query = {maxResults = 5, pageToken = p1.nextPageToken}})
      assert.is_true(p2.items[1].name > p1.items[5].name)
    end)

    it("rejects maxResults above 500, a bad page token and an unsupported orderBy", function()
      assert.equal(400, (emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {maxResults = 501}})))
      assert.equal(400, (emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {pageToken = "garbage!"}})))
      assert.equal(400, (emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {orderBy = "sizeGb"}})))
    end)

    it("orders by creationTimestamp desc and by name desc", function()
      local _, op = insert({name = "zz-newest", sizeGb = 10})
      emu:wait(op)
      local _, l = emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {orderBy = "creationTimestamp desc"}})
      assert.equal("zz-newest", l.items[1].name)
      _, l = emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {orderBy = "name desc"}})
      for i = 2, #l.items do assert.is_true(l.items[i - 1].name > l.items[i].name) end
    end)

    it("filters by labels, names with wildcards, regular expressions, numbers and presence", function()
      local function names(filter)
        local status, l = emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {filter = filter}})
        assert.equal(200, status, filter)
        local out = {}
        for _, d in ipairs(l.items or {}) do out[#out + 1] = d.name end
        table.sort(out)
        return out
      end
      assert.same({"db-1-data", "db-2-data", "db-3-data"}, names("labels.backup = nightly"))
      assert.same({"db-1-data", "db-2-data", "db-3-data"}, names('name = "db-*-data"'))
      assert.same({"db-1-wal", "db-2-wal", "db-3-wal"}, names("name eq 'db-[0-9]-wal'"))
      assert.same({"old-backup-1"}, names("(sizeGb > 1000) (labels.owner = ops)"))
      assert.same({"orphan-1", "orphan-2"}, names("labels.owner:*  AND name:orphan"))
      assert.same({"legacy-1-archive", "old-backup-1"}, names("sizeGb >= 2000"))
      local none = names("labels.nonexistent = x")
      assert.same({}, none)
      local not_orphans = names("NOT name:orphan")
      for _, n in ipairs(not_orphans) do assert.is_nil(n:find("orphan")) end
      assert.same({"orphan-1", "spare-db-data"}, names("name = orphan-1 OR name = spare-db-data"))
    end)

    it("rejects a malformed filter with 400", function()
      local status, body = emu:api("GET", "zones/" .. Z .. "/disks", nil, {query = {filter = "name ="}})
      assert.equal(400, status)
      assert.equal("invalid", err_reason(body))
    end)

    it("aggregates disks keyed by zones/Z, with warnings for empty zones", function()
      local status, l = emu:api("GET", "aggregated/disks")
      assert.equal(200, status)
      assert.equal("compute#diskAggregatedList", l.kind)
      local total = 0
      for scope, bucket in pairs(l.items) do
        assert.matches("^zones/", scope)
        if bucket.disks then
          total = total + #bucket.disks
          for _, d in ipairs(bucket.disks) do assert.equal("/" .. scope, d.zone:sub(-#scope - 1)) end
        else
          assert.equal("NO_RESULTS_ON_PAGE", bucket.warning.code)
        end
      end
      assert.equal(60, total)
      assert.equal(7, #l.items["zones/europe-west1-b"].disks)
    end)

    it("pages and filters aggregated lists", function()
      local total, token = 0, nil
      repeat
        local _, l = emu:api("GET", "aggregated/disks", nil,
                             {query = {maxResults = 11, pageToken = token, filter = "labels.env = prod"}})
        for _, b in pairs(l.items) do
          for _, d in ipairs(b.disks or {}) do
            assert.equal("prod", d.labels.env)
            total = total + 1
          end
        end
        token = l.nextPageToken
      until not token
      local _, all = emu:api("GET", "aggregated/disks", nil, {query = {filter = "labels.env = prod"}})
      local n = 0
      for _, b in pairs(all.items) do n = n + #(b.disks or {}) end
      assert.equal(n, total)
      assert.is_true(n > 10)
    end)
  end)
end)
