-- whitelist: networks we trust skip the rate and abuse limits.
--
-- Runs first (it is first in the module list) at the accept phase, before any
-- other module looks at the connection, and leaves its verdict in the
-- connection context: vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true".
-- Every other example policy checks that key first, so whitelisting a relay
-- is one line in lists/trusted.txt instead of one exception per policy.
require("msys.core")
require("msys.cidr")
require("msys.extended.vctx")

local whitelist = {}

-- The networks are a list file (rbldnsd format: a network, then its name;
-- docs/compat.md), indexed when the policy loads: a connection costs one
-- lookup, however long the list. An edit is picked up by the first query at
-- least 60 seconds after the last check (refresh), without a reload.
function whitelist:init()
  msys.cidr.define("trusted", { type = "rbldnsd", source = "lists/trusted.txt", value = "txt", refresh = 60 })
  return true
end

function whitelist:core_validate_accept(ac, vctx)
  -- Without an address, query looks up the connecting peer (IPv4-mapped
  -- IPv6 peers as IPv4); the answer is the network's name, or nil.
  local name = msys.cidr.query("trusted")
  if name ~= nil then
    vctx:set(msys.core.VCTX_CONN, "whitelisted", "true")
    print("whitelist: " .. msys.expandMacro("%{i}") .. " is " .. name)
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("whitelist", whitelist)
