--- `make chaos`: the chaos suite (spec/support/chaos.lua) in full — a fault
-- storm on a 1,000-disk fleet, kill -9 with resume, two runs at once — each
-- against fresh emulators. Not a spec (busted runs *_spec.lua); a short
-- version of the same runs in `make test` (spec/e2e/chaos_spec.lua).
--
--   build/pdlua spec/chaos.lua [--name value ...]     (or CHAOS_NAME=value)
--
-- Exit code 0 when every trial passed, 1 when one failed, 2 on bad input.
local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/chaos%.lua$") or "."
package.path = root .. "/spec/?.lua;" .. root .. "/?.lua;" .. package.path
os.exit(require("support.chaos").main({ ... }))
