-- Names, labels and request ids: deterministic, valid, within limits.
local naming = require "pdlua.migrate.naming"
local digest = require "pdlua.migrate.digest"

describe("digest", function()
  it("computes SHA-1 as the standard test vectors say", function()
    assert.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", digest.sha1_hex(""))
    assert.equal("a9993e364706816aba3e25717850c26c9cd0d89d", digest.sha1_hex("abc"))
    assert.equal("84983e441c3bd26ebaae4aa1f95129e5e54670f1",
                 digest.sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("makes version-5 style UUIDs that depend on every part", function()
    local u = digest.uuid("a", "b")
    assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-5%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", u)
    assert.equal(u, digest.uuid("a", "b"))
    assert.not_equal(u, digest.uuid("ab", ""))
    assert.not_equal(u, digest.uuid("a", "c"))
  end)
end)

describe("naming", function()
  it("names the new disk after the original and the target type", function()
    assert.equal("data-1-hdb", naming.new_disk_name("data-1", "hyperdisk-balanced"))
    assert.equal("data-1-pdb", naming.new_disk_name("data-1", "pd-balanced"))
    assert.equal("data-1", naming.new_disk_name("data-1", "pd-ssd", true))
  end)

  it("cuts long names to 63 characters with a hash, keeping them valid and distinct", function()
    local a = string.rep("abcdefghi-", 6) .. "x"
    local b = string.rep("abcdefghi-", 6) .. "y"
    local na, nb = naming.new_disk_name(a, "hyperdisk-balanced"),
                   naming.new_disk_name(b, "hyperdisk-balanced")
    assert.is_true(#na <= 63)
    assert.is_true(naming.valid_name(na), na)
    assert.is_true(naming.valid_name(nb), nb)
    assert.not_equal(na, nb)
    assert.matches("%-hdb$", na)
  end)

  it("never ends a cut name with a dash", function()
    for n = 55, 63 do
      local name = "d" .. string.rep("-", n - 2) .. "x"
      local new = naming.new_disk_name(name, "hyperdisk-extreme")
      assert.is_true(naming.valid_name(new), new)
    end
  end)

  it("derives the snapshot name from project, zone, name, id and target", function()
    local s = naming.snapshot_name("p", "z", "data-1", "123", "pd-ssd")
    assert.matches("^pdlua%-data%-1%-%x%x%x%x%x%x%x%x$", s)
    assert.equal(s, naming.snapshot_name("p", "z", "data-1", "123", "pd-ssd"))
    assert.not_equal(s, naming.snapshot_name("p", "z", "data-1", "124", "pd-ssd"))
    assert.not_equal(s, naming.snapshot_name("p", "z", "data-1", "123", "pd-balanced"))
    assert.not_equal(s, naming.snapshot_name("p", "z2", "data-1", "123", "pd-ssd"))
    local long = naming.snapshot_name("p", "z", string.rep("a", 63), "1", "pd-ssd")
    assert.is_true(#long <= 63)
    assert.is_true(naming.valid_name(long))
  end)

  it("gives one request id per step, generation and attempt", function()
    local base = { project = "p", zone = "z", resource = "d", step = "snapshot", target = "pd-ssd" }
    local a = naming.request_id(base)
    assert.equal(a, naming.request_id(base))
    local seen = { [a] = true }
    for _, change in ipairs { { step = "create" }, { resource = "e" }, { generation = 1 },
                              { attempt = 2 }, { zone = "y" }, { target = "pd-balanced" } } do
      local p = {}
      for k, v in pairs(base) do p[k] = v end
      for k, v in pairs(change) do p[k] = v end
      local id = naming.request_id(p)
      assert.is_nil(seen[id])
      seen[id] = true
    end
    assert.not_equal("00000000-0000-0000-0000-000000000000", a)
  end)

  it("reads URLs", function()
    assert.equal("d1", naming.last("https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/d1"))
    assert.equal("z", naming.zone_of("projects/p/zones/z/instances/i"))
    assert.equal("us-central1", naming.region_of_zone("us-central1-a"))
    assert.equal("zones/z/disks/d1",
                 naming.disk_ref("https://compute.googleapis.com/compute/v1/projects/p/zones/z/disks/d1"))
    assert.equal(naming.disk_ref("projects/p/zones/z/disks/d1"),
                 naming.disk_ref("https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/d1"))
  end)

  it("derives a run id from the command's identity, not from key order", function()
    local a = naming.run_id { project = "p", zones = { "a", "b" }, target = "x" }
    local b = naming.run_id { target = "x", zones = { "a", "b" }, project = "p" }
    assert.equal(a, b)
    assert.not_equal(a, naming.run_id { project = "p", zones = { "a", "c" }, target = "x" })
  end)
end)
