--- pdlua.gcp: the Compute Engine v1 client (DESIGN.md); global `gcp`.
local core = require "pdlua.gcp.core"

local gcp = {}
gcp.core = core
return gcp
