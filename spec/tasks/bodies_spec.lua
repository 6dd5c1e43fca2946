-- The request bodies a migration sends: what the new disk, the recreated
-- original and the attachment carry over.
local create_disk = require "tasks.create_disk"
local delete_original = require "tasks.delete_original"
local detach = require "tasks.detach"
local label = require "tasks.label"
local labels = require "pdlua.migrate.labels"
local run_mod = require "pdlua.migrate.run"

local function run_for(item, group, options)
  local plan = { project = "p", target_type = item.target_type, options = options or {},
                 items = { item }, groups = { [item.group] = group }, group_order = { item.group } }
  return run_mod.new { client = {}, plan = plan }
end

local ITEM = {
  key = "z/d1", name = "d1", zone = "z", id = "42", from_type = "hyperdisk-balanced",
  target_type = "hyperdisk-extreme", size_gb = "200", labels = { env = "prod" }, description = "db",
  from_iops = "6000", from_throughput = "400", from_kms_key = "projects/p/locations/l/keyRings/r/cryptoKeys/old",
  kms_key = "projects/p/locations/l/keyRings/r/cryptoKeys/new", storage_pool = "projects/p/zones/z/storagePools/sp",
  from_storage_pool = "projects/p/zones/z/storagePools/old", new_iops = 8000,
  new_name = "d1-hdx", snapshot_name = "pdlua-d1-0123abcd", group = "instance/z/vm", instance = "vm",
  attachment = { deviceName = "data", boot = false, mode = "READ_ONLY", autoDelete = true, interface = "NVME" },
}
local GROUP = { key = "instance/z/vm", kind = "instance", zone = "z", instance = "vm", stop = true,
                status = "RUNNING", items = { "z/d1" } }

describe("request bodies", function()
  it("create the new disk with the original's size, labels, description and settings", function()
    local r = run_for(ITEM, GROUP)
    local b = create_disk.body(r, ITEM)
    assert.equal("d1-hdx", b.name)
    assert.equal("projects/p/zones/z/diskTypes/hyperdisk-extreme", b.type)
    assert.equal("projects/p/global/snapshots/pdlua-d1-0123abcd", b.sourceSnapshot)
    assert.equal("200", b.sizeGb)
    assert.same({ env = "prod", ["pdlua-migrated-from"] = "d1" }, b.labels)
    assert.equal("db", b.description)
    assert.equal("8000", b.provisionedIops)
    assert.is_nil(b.provisionedThroughput)
    assert.equal("projects/p/zones/z/storagePools/sp", b.storagePool)
    assert.same({ kmsKeyName = "projects/p/locations/l/keyRings/r/cryptoKeys/new" }, b.diskEncryptionKey)
  end)

  it("recreate the original as it was, still claimed until the last undo puts its own labels back", function()
    local r = run_for(ITEM, GROUP)
    local b = delete_original.recreate_body(r, ITEM)
    assert.equal("d1", b.name)
    assert.equal("projects/p/zones/z/diskTypes/hyperdisk-balanced", b.type)
    assert.same(label.wanted(r, ITEM), b.labels)
    assert.equal(r.run_id, b.labels["pdlua-claim"])
    assert.equal("prod", b.labels.env)
    assert.equal("6000", b.provisionedIops)
    assert.equal("400", b.provisionedThroughput)
    assert.equal("projects/p/zones/z/storagePools/old", b.storagePool)
    assert.same({ kmsKeyName = "projects/p/locations/l/keyRings/r/cryptoKeys/old" }, b.diskEncryptionKey)
  end)

  it("attach with the original's device name, boot, mode, autoDelete and interface", function()
    local r = run_for(ITEM, GROUP)
    assert.same({ source = "projects/p/zones/z/disks/d1-hdx", deviceName = "data", boot = false,
                  mode = "READ_ONLY", autoDelete = true, interface = "NVME" },
                detach.attach_body(r, ITEM, "d1-hdx"))
  end)

  it("label the original with its claim and what a rerun without the journal needs, and finally as migrated", function()
    local r = run_for(ITEM, GROUP)
    local host = require("pdlua.migrate.claim").host()
    assert.same({ env = "prod", ["pdlua-state"] = "migrating", ["pdlua-target"] = "hyperdisk-extreme",
                  ["pdlua-was-running"] = "true", ["pdlua-instance"] = "vm", ["pdlua-device"] = "data",
                  ["pdlua-attach"] = "data-ro-auto-nvme", ["pdlua-claim"] = r.run_id,
                  ["pdlua-claim-host"] = host, ["pdlua-claim-at"] = tostring(r.claimed_at) },
                label.wanted(r, ITEM))
    assert.same({ env = "prod", ["pdlua-state"] = "migrated", ["pdlua-target"] = "hyperdisk-extreme",
                  ["pdlua-migrated-to"] = "d1-hdx" }, labels.migrated(ITEM, "hyperdisk-extreme"))
  end)
end)
