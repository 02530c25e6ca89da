-- Helpers shared by the inbound modules (the shape of the training policy's
-- library module: module(..., package.seeall), sockaddr text handling).
module("inbound.library", package.seeall)

-- "192.0.2.1:25" → "192.0.2.1"; IPv6 sockaddrs print as "<ipv6>.<port>".
function ip_from_addr_and_port(sockaddr)
  local text = tostring(sockaddr)
  if msys.core.ec_sockaddr_family(sockaddr) == msys.core.AF_INET then
    return string.sub(text, 1, string.find(text, ":", 1, true) - 1)
  end
  return string.sub(text, 1, string.find(text, "%.") - 1)
end

function reverse_ipv4(ip)
  local a, b, c, d = string.match(ip, "^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return d .. "." .. c .. "." .. b .. "." .. a
end
