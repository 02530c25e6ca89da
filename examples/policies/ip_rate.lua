-- ip_rate: how fast one IP address connects.
--
-- Counts this IP's connections over the last five one-minute windows of the
-- "60,10" monitor (windows 0..4: between four and five minutes of history,
-- depending on how far into the current minute we are). The connection being
-- checked is already counted, so "more than 30" refuses the 31st.
--
--   more than 15 in ~5 minutes: slow the client down (tarpit 5 s)
--   more than 30 in ~5 minutes: refuse with 421 and close
--
-- Legitimate MTAs reuse connections and rarely open more than a handful a
-- minute; bots that open one connection per message hit these quickly.
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")

local ip_rate = {}

local MONITOR = "60,10"
local SLOW_ABOVE = 15
local REFUSE_ABOVE = 30
local TARPIT_SECONDS = 5

function ip_rate:validate_connect(ac, vctx)
  if vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true" then
    return msys.core.VALIDATE_CONT
  end
  local recent = msys.audit.connections(MONITOR, { startv = 0, endv = 4 })
  if recent > REFUSE_ABOVE then
    vctx:set_code(421, "4.7.0 Too many connections from your IP address; try again later")
    vctx.disconnect = 1
    return msys.core.VALIDATE_DONE
  end
  if recent > SLOW_ABOVE then
    vctx:tarpit(TARPIT_SECONDS)
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("ip_rate", ip_rate)
