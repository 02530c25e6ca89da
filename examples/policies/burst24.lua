-- burst24: a burst of connections from one /24 network.
--
-- Snowshoe senders spread their traffic over many addresses of a block so that
-- no single IP trips ip_rate. Summing the whole /24 (cidr = "/24": the block
-- that contains the connecting IP) over the current and previous minute of the
-- "60,10" monitor catches them: more than 120 connections in one to two
-- minutes from a /24 is far beyond what a legitimate farm of MTAs sends us.
--
-- The answer is a temporary 421: a real sender retries later, a burst does not
-- get through while it lasts.
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")

local burst24 = {}

local MONITOR = "60,10"
local LIMIT = 120

function burst24:validate_connect(ac, vctx)
  if vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true" then
    return msys.core.VALIDATE_CONT
  end
  local burst = msys.audit.connections(MONITOR, { cidr = "/24", startv = 0, endv = 1 })
  if burst > LIMIT then
    vctx:disconnect(421, "4.7.0 Too many connections from your network; try again later")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("burst24", burst24)
