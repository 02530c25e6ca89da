-- whitelist: networks we trust skip the rate and abuse limits.
--
-- Runs first (it is first in the module list) at the accept phase, before any
-- other module looks at the connection, and leaves its verdict in the
-- connection context: vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true".
-- Every other example policy checks that key first, so whitelisting a relay
-- is one line here instead of one exception per policy.
require("msys.core")
require("msys.extended.vctx")

local whitelist = {}

-- Our own relays and monitoring: they legitimately open many connections.
-- Documentation ranges (RFC 5737 / RFC 3849) stand in for real networks.
local TRUSTED_V4 = {
  { net = "192.0.2.0",    prefix = 28, name = "monitoring probes" },
  { net = "198.51.100.0", prefix = 24, name = "partner relay" },
}
-- IPv6 prefixes are written as the leading hex nibbles of the network, so a
-- /48 is 12 nibbles: 2001:db8:feed::/48 → "20010db8feed".
local TRUSTED_V6 = {
  { nibbles = "20010db8feed", name = "partner relay (IPv6)" },
}

local function ipv4_value(text)
  local a, b, c, d = string.match(text, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a == nil then return nil end
  return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

-- Each network's block number, worked out once when the script loads rather
-- than on every connection: the accept phase runs for every client.
for _, entry in ipairs(TRUSTED_V4) do
  entry.size = 2 ^ (32 - entry.prefix)
  entry.block = math.floor(ipv4_value(entry.net) / entry.size)
end

-- Same block when the addresses agree on their top `prefix` bits.
local function in_v4_block(ip, entry)
  return math.floor(ip / entry.size) == entry.block
end

local function trusted_name()
  local family = msys.expandMacro("%{spfv1:v}")
  if family == "in-addr" then
    local ip = ipv4_value(msys.expandMacro("%{i}"))
    for _, entry in ipairs(TRUSTED_V4) do
      if in_v4_block(ip, entry) then return entry.name end
    end
    return nil
  end
  -- %{spfv1:i} spells an IPv6 peer as 32 dot-separated nibbles.
  local peer = string.gsub(msys.expandMacro("%{spfv1:i}"), "%.", "")
  for _, entry in ipairs(TRUSTED_V6) do
    if string.sub(peer, 1, #entry.nibbles) == entry.nibbles then return entry.name end
  end
  return nil
end

function whitelist:core_validate_accept(ac, vctx)
  local name = trusted_name()
  if name ~= nil then
    vctx:set(msys.core.VCTX_CONN, "whitelisted", "true")
    print("whitelist: " .. msys.expandMacro("%{i}") .. " is " .. name)
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("whitelist", whitelist)
