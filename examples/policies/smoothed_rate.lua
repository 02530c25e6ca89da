-- smoothed_rate: messages per five minutes from one IP, smoothed across the
-- window boundary.
--
-- A raw count of the current "300,6" window drops to zero every five minutes,
-- so a sender could burst at the start of each window. The sliding estimate
-- of inbound-audit spec §4.4 keeps the previous window's count in play,
-- weighted by how much of the current window is still to come:
--
--   f     = elapsed fraction of the current window (0 <= f < 1)
--   value = C0 + (1 - f) * C1          C0: this window, C1: the previous one
--
-- Receptions are counted per accepted recipient. More than 50 in the sliding
-- five minutes gets a temporary failure at MAIL FROM, so the sender queues and
-- retries instead of losing mail.
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")

local smoothed_rate = {}

local MONITOR = "300,6"
local WINDOW_SECONDS = 300
local LIMIT = 50

local function sliding_receptions()
  local now = msys.core.get_now_ts()
  local f = (now % WINDOW_SECONDS) / WINDOW_SECONDS
  local c0 = msys.audit.receptions(MONITOR)
  local c1 = msys.audit.receptions(MONITOR, { startv = 1, endv = 1 })
  return math.floor(c0 + (1 - f) * c1)
end

function smoothed_rate:validate_mailfrom(str, ac, vctx)
  if vctx:get(msys.core.VCTX_CONN, "whitelisted") == "true" then
    return msys.core.VALIDATE_CONT
  end
  local rate = sliding_receptions()
  if rate > LIMIT then
    vctx:set_code(451, "4.7.1 Message rate limit exceeded (" .. rate .. " in 5 minutes); try again later")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("smoothed_rate", smoothed_rate)
