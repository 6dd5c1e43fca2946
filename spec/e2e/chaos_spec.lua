-- The chaos suite's short version (the full one: `make chaos`): a fault
-- storm on a small generated fleet, kill -9 at seeded points with resume,
-- and two runs at once over overlapping selections — the same code
-- (spec/support/chaos.lua) with fewer trials and disks.
local e2e = require "support.e2e"
local chaos = require "support.chaos"

if not e2e.ready() then
  describe("chaos (short)", function() pending("needs the engine and the Compute Engine client") end)
  return
end

-- chaos.SHORT's fixed parameters (CHAOS_* variables do not apply); what a
-- scenario prints is shown only when one of its trials fails.
local cfg = chaos.config(chaos.SHORT)
cfg.out = function() end

local function expect_all_passed(r)
  assert(r.failed == 0 and r.passed > 0, "\n" .. r.text)
end

describe("chaos (short)", function()
  it("a fault storm on a small fleet converges, the invariants holding after every run", function()
    expect_all_passed(chaos.storm(cfg))
  end)

  it("kill -9 at seeded points and --resume: no data lost, then every disk migrated", function()
    expect_all_passed(chaos.kill9(cfg))
  end)

  it("two runs at once over overlapping selections: each disk moved by one run, nothing lost", function()
    expect_all_passed(chaos.two_runs(cfg))
  end)
end)
