-- pdlua.pretty: the REPL's printer.
local pretty = require "pdlua.pretty"

describe("pretty.render", function()
  it("sorts keys, numbers first, and quotes strings", function()
    assert.equal('{\n  [1] = "one",\n  a = true,\n  b = 2,\n}',
                 pretty.render({b = 2, a = true, [1] = "one"}))
  end)

  it("keeps short lists of scalars on one line", function()
    assert.equal("{1, 2, 3}", pretty.render({1, 2, 3}))
  end)

  it("marks cycles instead of recursing", function()
    local t = {name = "x"}
    t.self = t
    local s = pretty.render(t)
    assert.matches("self = <cycle 0x%x+>", s)
  end)

  it("stops at the depth limit", function()
    local s = pretty.render({a = {b = {c = {d = 1}}}}, {depth = 2})
    assert.matches("b = {...}", s)
    assert.is_nil(s:find("c =", 1, true))
  end)

  it("cuts wide tables and says how many were left out", function()
    local t = {}
    for i = 1, 100 do t[i] = {i} end
    local s = pretty.render(t, {width = 10})
    assert.matches("%-%- 90 more", s)
  end)

  it("prints error values with their tostring", function()
    assert.equal("notFound (404): gone",
                 pretty.render(pd.error{code = 404, reason = "notFound", message = "gone"}))
  end)

  it("escapes newlines in strings", function()
    assert.equal('"a\\nb"', pretty.render("a\nb"))
  end)
end)

describe("pretty.resource_table", function()
  local function disk(name, size, users)
    return {kind = "compute#disk", name = name, sizeGb = size, status = "READY",
            zone = "https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b",
            type = "https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b/diskTypes/pd-ssd",
            users = users}
  end

  it("aligns resources in columns with short names for URLs", function()
    local s = pretty.resource_table{
      disk("boot-1", "10", {"https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b/instances/vm-1"}),
      disk("data-long-name", "500"),
    }
    local lines = {}
    for l in s:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    assert.matches("^NAME%s+ZONE%s+TYPE%s+SIZE_GB%s+STATUS%s+USERS$", lines[1])
    assert.matches("^boot%-1%s+us%-east1%-b%s+pd%-ssd%s+10%s+READY%s+vm%-1$", lines[2])
    -- columns line up: TYPE starts at the same offset on every line
    local col = lines[1]:find("TYPE", 1, true)
    assert.equal("pd-ssd", lines[2]:sub(col, col + 5))
    assert.equal("pd-ssd", lines[3]:sub(col, col + 5))
  end)

  it("declines mixed or unknown lists", function()
    assert.is_nil(pretty.resource_table{{kind = "compute#disk"}, {kind = "compute#instance"}})
    assert.is_nil(pretty.resource_table{{a = 1}})
    assert.is_nil(pretty.resource_table{})
  end)
end)
