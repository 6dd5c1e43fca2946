-- The label protocol (pdlua.migrate.labels): what an original, its
-- replacement and its snapshot carry at each stage, and how a later run
-- reads them back — a skip, an attachment, a ghost.
local labels = require "pdlua.migrate.labels"
local json = require "pdlua.json"

local ITEM = {
  key = "z/d1", name = "d1", zone = "z", id = "42", from_type = "pd-balanced", new_name = "d1-pdssd",
  labels = { env = "prod" }, description = "db", from_iops = "3000", instance = "vm",
  attachment = { deviceName = "data", boot = false, mode = "READ_WRITE", autoDelete = true, interface = "SCSI" },
}
local STOPPED = { kind = "instance", stop = true }

describe("the label protocol", function()
  it("tells pdlua's labels from a resource's own", function()
    assert.same({ env = "prod", team = "a" }, labels.own { env = "prod", ["pdlua-state"] = "migrating", team = "a",
                                                             ["pdlua-claim"] = "x" })
    assert.is_true(labels.is_pdlua(labels.keys.claim))
  end)

  it("marks an original migrating with where it was attached, then migrated", function()
    assert.same({ env = "prod", ["pdlua-state"] = "migrating", ["pdlua-target"] = "pd-ssd",
                  ["pdlua-was-running"] = "true", ["pdlua-instance"] = "vm", ["pdlua-device"] = "data",
                  ["pdlua-attach"] = "data-rw-auto-scsi" }, labels.migrating(ITEM, "pd-ssd", STOPPED))
    -- An unattached disk: no whereabouts.
    assert.same({ env = "prod", ["pdlua-state"] = "migrating", ["pdlua-target"] = "pd-ssd" },
                labels.migrating(ITEM, "pd-ssd", { kind = "disk" }))
    assert.same({ env = "prod", ["pdlua-state"] = "migrated", ["pdlua-target"] = "pd-ssd",
                  ["pdlua-migrated-to"] = "d1-pdssd" }, labels.migrated(ITEM, "pd-ssd"))
    assert.same({ env = "prod", ["pdlua-migrated-from"] = "d1" }, labels.replacement(ITEM))
    assert.is_true(labels.made_from({ labels = labels.replacement(ITEM) }, "d1"))
    assert.is_false(labels.made_from({ labels = { env = "prod" } }, "d1"))
  end)

  it("reads an attachment back from its labels", function()
    local a = labels.attachment_from(labels.attachment {
      instance = "vm", attachment = { deviceName = "dev-1", boot = true, mode = "READ_ONLY",
                                      autoDelete = true, interface = "NVME" } })
    assert.same({ deviceName = "dev-1", boot = true, mode = "READ_ONLY", autoDelete = true,
                  interface = "NVME" }, a)
    assert.is_nil(labels.attachment_from { ["pdlua-device"] = "x", ["pdlua-attach"] = "garbage" })
  end)

  it("says why a disk is skipped", function()
    assert.matches("made by pdlua from 'd0'", labels.skip_reason({ ["pdlua-migrated-from"] = "d0" }, "pd-ssd"))
    assert.matches("already migrated to pd%-ssd",
                   labels.skip_reason({ ["pdlua-state"] = "migrated", ["pdlua-target"] = "pd-ssd" }, "pd-ssd"))
    assert.matches("being migrated to hyperdisk%-balanced by another run",
                   labels.skip_reason({ ["pdlua-state"] = "migrating", ["pdlua-target"] = "hyperdisk-balanced" },
                                      "pd-ssd"))
    assert.is_nil(labels.skip_reason({ ["pdlua-state"] = "migrating", ["pdlua-target"] = "pd-ssd" }, "pd-ssd"))
    assert.is_true(labels.resumed { ["pdlua-state"] = "migrating" })
  end)

  it("recognises a ghost from its snapshot, with the original's own settings", function()
    local snap = {
      name = "pdlua-d1-x", status = "READY", sourceDiskId = "42", diskSizeGb = "30",
      labels = labels.snapshot(ITEM, "pd-ssd", STOPPED),
      description = labels.snapshot_description(ITEM, "pd-ssd"),
    }
    snap.labels["pdlua-claim"] = "aaaaaaaaaaaa"
    local none = function() return nil end
    local g = labels.ghost(snap, "pd-ssd", { z = true }, none, "p")
    assert.equal("d1", g.name)
    assert.equal("z", g.zone)
    assert.equal("42", g.id)
    assert.equal("pd-balanced", g.short_type)
    assert.equal("db", g.description)
    assert.equal("3000", g.provisionedIops)
    assert.equal("prod", g.labels.env)
    assert.equal("migrating", g.labels["pdlua-state"])
    assert.equal("aaaaaaaaaaaa", g.labels["pdlua-claim"])
    assert.same(ITEM.attachment, labels.attachment_from(g.labels))
    -- Not a ghost: the original is still there; another target; kept as migrated.
    local orig = function() return { name = "d1", labels = { env = "prod" } } end
    assert.is_nil(labels.ghost(snap, "pd-ssd", { z = true }, orig, "p"))
    assert.is_nil(labels.ghost(snap, "hyperdisk-balanced", { z = true }, none, "p"))
    snap.labels["pdlua-state"] = "migrated"
    assert.is_nil(labels.ghost(snap, "pd-ssd", { z = true }, none, "p"))
    -- Its replacement alone does not hide it.
    snap.labels["pdlua-state"] = nil
    local repl = function() return { name = "d1", labels = { ["pdlua-migrated-from"] = "d1" } } end
    assert.is_table(labels.ghost(snap, "pd-ssd", { z = true }, repl, "p"))
  end)

  it("keeps the snapshot's description within Compute Engine's 2,048 characters", function()
    local big = { name = "d", zone = "z", id = "1", labels = {}, description = string.rep("x", 3000) }
    local text = labels.snapshot_description(big, "pd-ssd")
    assert.is_true(#text <= 2048)
    assert.matches("^pdlua: snapshot of disk d %(zone z, id 1%) for its migration to pd%-ssd$", text)
    local ok = labels.snapshot_description(ITEM, "pd-ssd")
    assert.equal("db", json.decode(ok:match("; original: (.*)$")).description)
  end)
end)
