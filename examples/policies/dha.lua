-- dha: directory harvest attack protection.
--
-- A harvester tries many local parts to learn which mailboxes exist. Every
-- RCPT TO for an unknown user is added to a named audit series keyed by the
-- sender's IP (six 5-minute windows: half an hour of memory); once an IP has
-- collected 10 misses in that half hour, every RCPT from it is refused and
-- the connection closed, whether the mailbox exists or not, so the harvest
-- learns nothing more.
--
-- IPv4 and IPv6 senders are tracked in separate series: a series holds one
-- address family. Whitelisted relays are never counted (see below).
require("msys.core")
require("msys.audit_series")
require("msys.extended.vctx")

local dha = {}

local SERIES_V4 = "dha_invalid_rcpt"
local SERIES_V6 = "dha_invalid_rcpt_v6"
local WINDOW_SECONDS = 300
local WINDOWS = 6
local MAX_MISSES = 10

-- The mailboxes of this example's domain; a real deployment would ask its
-- directory (LDAP, a datasource CIDR, ...).
local MAILBOXES = {
  ["postmaster@example.test"] = true,
  ["abuse@example.test"] = true,
  ["alice@example.test"] = true,
  ["bob@example.test"] = true,
}

function dha:init()
  msys.audit_series.define(SERIES_V4, "cidr", WINDOW_SECONDS, WINDOWS)
  msys.audit_series.define(SERIES_V6, "cidr_ipv6", WINDOW_SECONDS, WINDOWS)
  return true
end

local function series_for(ac)
  if msys.core.ec_sockaddr_family(ac.remote_addr) == msys.core.AF_INET6 then return SERIES_V6 end
  return SERIES_V4
end

function dha:validate_rcptto(msg, rcpt, ac, vctx)
  -- Trusted relays forward for many users and may well hit unknown ones:
  -- they still get 550 for those, but are never counted or cut off.
  local trusted = vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true"
  local series = series_for(ac)
  if not trusted then
    local misses = msys.audit_series.count(series, { key = ac, startv = 0, endv = WINDOWS - 1 })
    if misses >= MAX_MISSES then
      vctx:disconnect(421, "4.7.0 Too many unknown recipients; closing connection")
      return msys.core.VALIDATE_DONE
    end
  end
  if not MAILBOXES[string.lower(tostring(rcpt))] then
    if not trusted then msys.audit_series.add(series, { key = ac }) end
    vctx:set_code(550, "5.1.1 No such user here")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("dha", dha)
