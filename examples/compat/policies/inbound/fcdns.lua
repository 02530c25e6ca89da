-- Full-circle DNS at connect; a peer that fails gets the "no_fcdns" limits.
-- Passes its whole config to check_whitelist (the honor_whitelist shape).
module("inbound.fcdns", package.seeall)

local conf = { honor_whitelist = { "limits" } }

function check(self, ac, vctx)
  if msys.pbp.check_whitelist(vctx, conf) then return true end
  local ok, rdns_err, fdns_err = msys.pbp.fcdns_check(ac, vctx)
  if not ok then
    print("fcdns: " .. inbound.library.ip_from_addr_and_port(ac.remote_addr) .. " failed: " .. tostring(rdns_err or fdns_err)
      .. " (reverse_dns '" .. vctx:get(msys.core.VCTX_CONN, "reverse_dns") .. "')")
    inbound.limits.set_limits(self, vctx, "no_fcdns")
  end
  return ok
end
