-- A local rbldnsd list queried at accept, then a DNS blocklist; honours the
-- "limits" whitelist (check_whitelist with the list itself).
module("inbound.rbl", package.seeall)

function init()
  msys.cidr.define("local_rbl", {
    type = "rbldnsd", source = "../lists/rbl.txt", value = "txt",
    refresh = 0, interpolate = true, default_value = "",
  })
  return true
end

function check(self, ac, vctx)
  if msys.pbp.check_whitelist(vctx, { "limits" }) then return nil end
  local ip = inbound.library.ip_from_addr_and_port(ac.remote_addr)
  local listed = msys.cidr.query("local_rbl", ip)
  if listed ~= "" then return listed end
  if not string.find(ip, ":", 1, true) then
    local r, err = msys.dnsLookup(inbound.library.reverse_ipv4(ip) .. ".dnsbl.test", "A")
    if r and #r > 0 then return "Listed by dnsbl.test (" .. r[1] .. ")" end
    if err and err ~= "NXDOMAIN" then print("rbl: dnsbl.test lookup failed: " .. err) end
  end
  return nil
end
