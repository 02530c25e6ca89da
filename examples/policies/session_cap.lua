-- session_cap: how many sessions one client holds open at the same time.
--
-- The SMTP gauge counts sessions that are open right now (not a rate), and the
-- session asking is already among them. A well-behaved MTA opens a few
-- parallel connections; a client holding dozens ties up our listener slots.
--
--   more than 5 open sessions from the IP:          421, close
--   more than 20 open sessions from the IP's /24:   421, close
require("msys.core")
require("msys.audit")
require("msys.extended.ac")
require("msys.extended.vctx")

local session_cap = {}

local PER_IP = 5
local PER_NET24 = 20

function session_cap:validate_connect(ac, vctx)
  if vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true" then
    return msys.core.VALIDATE_CONT
  end
  if ac:inbound_session_count("/32", "SMTP") > PER_IP then
    vctx:disconnect(421, "4.7.0 Too many concurrent sessions from your IP address")
    return msys.core.VALIDATE_DONE
  end
  if msys.audit.inbound_session_count("/24", "SMTP") > PER_NET24 then
    vctx:disconnect(421, "4.7.0 Too many concurrent sessions from your network")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("session_cap", session_cap)
