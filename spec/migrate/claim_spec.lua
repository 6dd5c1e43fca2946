-- The claim protocol (pdlua.migrate.claim): a run claims what it changes
-- with a compare-and-set on the labels, refuses what another run holds,
-- takes over only when told, and never deletes or undoes what is not its
-- own; the proof an original's deletion needs; the report's final re-read.
local claim = require "pdlua.migrate.claim"
local cleanup = require "tasks.cleanup"
local migrate = require "workflows.migrate"
local report = require "pdlua.migrate.report"
local e2e = require "support.e2e"
local invariants = require "pdlua.invariants"

local function not_found()
  error(pd.error { code = 404, reason = "notFound", message = "not found", retryable = false }, 0)
end

-- A client that answers get and list from tables.
local function fake_client(disks, instances, list_error)
  local function getter(t, key)
    return function(_, p) return t[p[key]] or not_found() end
  end
  local function lister(t)
    return function()
      if list_error then error(pd.error { reason = "cancelled", message = list_error }, 0) end
      local k, v
      return function()
        k, v = next(t, k)
        return v
      end
    end
  end
  return {
    disks = { get = getter(disks, "disk"), list = lister(disks) },
    instances = { get = getter(instances, "instance"), list = lister(instances) },
  }
end

describe("claim labels", function()
  local r = { run_id = "aaaaaaaaaaaa", claimed_at = 1796230000 }

  it("stamp a run's id, host and time, and strip them again", function()
    local l = claim.stamp(r, { app = "db" })
    assert.equal("aaaaaaaaaaaa", l["pdlua-claim"])
    assert.equal(claim.host(), l["pdlua-claim-host"])
    assert.equal("1796230000", l["pdlua-claim-at"])
    assert.same({ app = "db" }, claim.strip(l))
    assert.matches("^[a-z0-9_-]+$", claim.host())
    assert.equal("web-1_x--", claim.label_value("Web-1_X.:"))
  end)

  it("tell whose claim it is, and which a run may take", function()
    local theirs = { ["pdlua-claim"] = "bbbbbbbbbbbb", ["pdlua-claim-host"] = "ops-2",
                     ["pdlua-claim-at"] = "1796230000" }
    assert.is_true(claim.takeable(r, {}))
    assert.is_true(claim.takeable(r, claim.stamp(r, {})))
    assert.is_false(claim.takeable(r, theirs))
    assert.is_true(claim.takeable({ run_id = "c", take_over = "bbbbbbbbbbbb" }, theirs))
    assert.is_true(claim.mine(r, claim.stamp(r, {})))
    assert.is_false(claim.mine(r, theirs))
    local msg = claim.refusal("disk 'd'", claim.holder(theirs))
    assert.matches("disk 'd' is claimed by run bbbbbbbbbbbb on host ops%-2 since 2026%-", msg)
    assert.matches("--take-over bbbbbbbbbbbb", msg, 1, true)
  end)

  it("are unique per run", function()
    local a, b = claim.new_run_id(), claim.new_run_id()
    assert.matches("^%x+$", a)
    assert.equal(12, #a)
    assert.are_not.equal(a, b)
  end)
end)

describe("deleting an original", function()
  local item = { key = "z/d", name = "d", zone = "z", new_name = "d-pdssd", instance = "vm",
                 attachment = { deviceName = "data" } }
  local function run_with(disks, instances, verified)
    return { client = fake_client(disks, instances),
             succeeded = function(_, id) return verified and id == "verify:z/d" end }
  end
  local new = { name = "d-pdssd", status = "READY", labels = { ["pdlua-migrated-from"] = "d" } }
  local vm = { name = "vm", disks = { { deviceName = "data", source = "projects/p/zones/z/disks/d-pdssd" } } }

  it("needs its replacement verified, READY, pdlua's and attached where it was", function()
    assert.is_nil(cleanup.unproven(run_with({ ["d-pdssd"] = new }, { vm = vm }, true), item))
    assert.matches("not verified", cleanup.unproven(run_with({ ["d-pdssd"] = new }, { vm = vm }, false), item))
    assert.matches("does not exist", cleanup.unproven(run_with({}, { vm = vm }, true), item))
    local creating = { name = "d-pdssd", status = "CREATING", labels = new.labels }
    assert.matches("CREATING, not READY", cleanup.unproven(run_with({ ["d-pdssd"] = creating }, { vm = vm }, true), item))
    local foreign = { name = "d-pdssd", status = "READY", labels = {} }
    assert.matches("not pdlua's copy", cleanup.unproven(run_with({ ["d-pdssd"] = foreign }, { vm = vm }, true), item))
    local elsewhere = { name = "vm", disks = { { deviceName = "data", source = "projects/p/zones/z/disks/d" } } }
    assert.matches("not attached to instance 'vm' as 'data'",
                   cleanup.unproven(run_with({ ["d-pdssd"] = new }, { vm = elsewhere }, true), item))
  end)
end)

describe("the report", function()
  local item = { key = "z/d", name = "d", zone = "z", new_name = "d-pdssd", target_type = "pd-ssd",
                 status = "planned" }
  -- A run whose context says the disk was migrated; confirm() re-reads it.
  local function confirm(client)
    local r = { client = client, run_id = "aaaaaaaaaaaa", plan = { items = { item }, options = {} },
                ctx = pd.context(require("pdlua.migrate.run").SCHEMA) }
    r.ctx:put("outcomes", "z/d", { status = "migrated" })
    migrate.confirm(r)
    return r.ctx:get("outcomes")["z/d"]
  end
  local new = { name = "d-pdssd", type = "zones/z/diskTypes/pd-ssd", status = "READY",
                labels = { ["pdlua-migrated-from"] = "d" } }
  local orig = { name = "d", labels = {} }

  it("says migrated only for what Compute Engine shows", function()
    assert.equal("migrated", confirm(fake_client({ d = orig, ["d-pdssd"] = new }, {})).status)
    local o = confirm(fake_client({ d = orig }, {}))
    assert.equal("failed", o.status)
    assert.matches("reported migrated, but Compute Engine shows: disk 'd%-pdssd' does not exist", o.error)
    local taken = { name = "d-pdssd", type = new.type, status = "READY",
                    labels = { ["pdlua-migrated-from"] = "d", ["pdlua-claim"] = "bbbbbbbbbbbb" } }
    o = confirm(fake_client({ d = orig, ["d-pdssd"] = taken }, {}))
    assert.equal("failed", o.status)
    assert.matches("claimed by run bbbbbbbbbbbb", o.error)
    assert.matches("the original 'd' is gone", confirm(fake_client({ ["d-pdssd"] = new }, {})).error)
  end)

  it("says so when it could not read the disks again, without calling them failed", function()
    local o = confirm(fake_client({}, {}, "interrupted"))
    assert.equal("migrated", o.status)
    assert.matches("not confirmed at the end of the run", o.warnings[1])
  end)

  it("starts with any instance an undo could not put back, and the commands that do", function()
    local text = report.text {
      disks = {}, notes = {},
      instances = { { name = "vm", zone = "z", power_state = "RUNNING", status = "failed",
                      restore = { "gcloud compute instances start vm --zone z --project p" } } },
      totals = { migrated = 0, rolled_back = 0, failed = 1, skipped = 0, planned = 0, disks = 0 },
    }
    local first, second = text:match("^([^\n]*)\n([^\n]*)")
    assert.matches("^NOT AS FOUND: instance vm %(z%)", first)
    assert.equal("  gcloud compute instances start vm --zone z --project p", second)
  end)
end)

if not e2e.ready() then return end

describe("claims against the emulator", function()
  local emu
  local THEIRS = { ["pdlua-claim"] = "0123456789ab", ["pdlua-claim-host"] = "other-host",
                   ["pdlua-claim-at"] = "1796230000", ["pdlua-state"] = "migrating",
                   ["pdlua-target"] = "pd-ssd", app = "db" }
  setup(function() emu = e2e.start() end)
  teardown(function() if emu then emu:stop() end end)

  local function mutations(name)
    local n = 0
    for _, r in ipairs(emu:requests()) do
      if r.method ~= "GET" and r.path:find("/" .. name .. "/", 1, true) then n = n + 1 end
    end
    return n
  end

  it("refuses a disk another run holds, naming it, and takes it over only when told", function()
    emu:load_fleet(e2e.fleet { disks = { { name = "held", labels = THEIRS }, { name = "free" } } })
    local before = emu:state()
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes")
    assert.equal(1, res.code, res.err)
    local e = e2e.entry(res.report, "held")
    assert.equal("skipped", e.status)
    assert.is_true(e.refused)
    assert.matches("claimed by run 0123456789ab on host other%-host", e.error)
    assert.matches("--take-over 0123456789ab", e.error, 1, true)
    e2e.expect_status(res, "migrated", { "free" })
    assert.equal(0, mutations("held"))
    -- Without --yes, taking over is asked first, naming the run.
    local answer = os.tmpname()
    local f = assert(io.open(answer, "w")) f:write("no\n") f:close()
    res = e2e.run(emu, "--target-disk-type pd-ssd --take-over 0123456789ab", { stdin = answer, text = true })
    os.remove(answer)
    assert.are_not.equal(0, res.code)
    assert.matches("takes over every disk and instance claimed by run 0123456789ab", res.err)
    assert.matches("nothing was changed", res.err)
    assert.equal(0, mutations("held"))
    res = e2e.run(emu, "--target-disk-type pd-ssd --yes --take-over 0123456789ab")
    assert.equal(0, res.code, res.err)
    e2e.expect_status(res, "migrated", { "held" })
    local held = emu:find("disks", "held")
    assert.is_nil(held.labels["pdlua-claim"])
    assert.equal("migrated", held.labels["pdlua-state"])
    assert.equal("db", emu:find("disks", "held-pdssd").labels.app)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = { "free", "held" } })
  end)

  it("refuses every disk of an instance another run holds", function()
    emu:load_fleet(e2e.fleet { instances = { { name = "vm", disks = { { name = "vm-boot", boot = true },
                                                                       { name = "vm-data" } } } } })
    local c = gcp.client { project = e2e.PROJECT, endpoint = emu.endpoint,
                           credentials = { access_token = "test-token" } }
    local inst = c.instances:get { zone = e2e.ZONE, instance = "vm" }
    c:wait(c.instances:set_labels { zone = e2e.ZONE, instance = "vm",
      body = { labels = { ["pdlua-claim"] = "0123456789ab", ["pdlua-claim-host"] = "other-host" },
               labelFingerprint = inst.labelFingerprint } })
    emu:clear_requests()
    local res = e2e.run(emu, "--target-disk-type pd-ssd --yes --disks vm-data")
    assert.equal(1, res.code, res.err)
    local e = e2e.entry(res.report, "vm-data")
    assert.equal("skipped", e.status)
    assert.matches("instance 'vm': it is claimed by run 0123456789ab on host other%-host", e.error)
    for _, r in ipairs(emu:requests()) do assert.equal("GET", r.method, r.path) end
    assert.equal("RUNNING", emu:find("instances", "vm").status)
  end)

  it("lets exactly one of two runs started together take each disk", function()
    local fleet = e2e.fleet {
      instances = { { name = "db", disks = { { name = "db-boot", boot = true }, { name = "db-data" } } } },
      disks = { { name = "u1" }, { name = "u2" } },
    }
    emu:load_fleet(fleet)
    local before = emu:state()
    -- Both runs read the same fingerprints before either claims.
    emu:faults { delay = { ["disks.setLabels"] = 0.3, ["instances.setLabels"] = 0.3 } }
    local a = e2e.spawn(emu, "--target-disk-type pd-ssd --yes --delete-original", e2e.state_dir())
    local b = e2e.spawn(emu, "--target-disk-type pd-ssd --yes --delete-original", e2e.state_dir())
    local codes = { e2e.exit_code(a, 120), e2e.exit_code(b, 120) }
    emu:faults {}
    local reports = {}
    for i, p in ipairs { a, b } do
      local f = io.open(p.out) local out = f:read("a") f:close()
      f = io.open(p.err) local err = f:read("a") f:close()
      reports[i] = require("pdlua.json").decode(out)
      assert.is_true(codes[i] == 0 or codes[i] == 1, err)
    end
    local moved, refused = {}, 0
    for _, rep in ipairs(reports) do
      for _, d in ipairs(rep.disks) do
        if d.status ~= "migrated" then refused = refused + 1 end
        if d.status == "migrated" then
          assert.is_nil(moved[d.name], d.name .. " reported migrated by both runs")
          moved[d.name] = true
        else
          assert.equal("skipped", d.status, d.name .. ": " .. tostring(d.error))
          assert.is_truthy(d.error:match("claimed by run") or d.error:match("no longer exists"), d.error)
        end
      end
    end
    local names = {}
    for n in pairs(moved) do names[#names + 1] = n end
    table.sort(names)
    assert.same({ "db-boot", "db-data", "u1", "u2" }, names)
    -- Both planned every disk: the claims, not the timing, kept them apart.
    assert.equal(4, refused)
    invariants.check(before, emu:state(), { target_type = "pd-ssd", migrated = names, delete_original = true })
  end)
end)
