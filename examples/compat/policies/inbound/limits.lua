-- Per-network limits from an rbldnsd file (TXT values such as
-- "sessions=1 rcpts=2 size=1k"), enforced per phase; invalid recipients are
-- counted in an audit series. Uses msys.audit_series without requiring it.
module("inbound.limits", package.seeall)

local DEFAULTS = { sessions = 5, rcpts = 50, invalid = 3, size = "30m" }
local SETS = { no_fcdns = { rcpts = 1 } }

function init()
  msys.cidr.define("limits_by_network", {
    type = "rbldnsd", source = "../lists/limits.txt", record_type = "TXT",
    optimize_hosts = true, default_value = "", limits = DEFAULTS,
  })
  msys.audit_series.define("rcpt_invalid", "cidr", 300, 12, { persist = false })
  return true
end

-- Reads the network's limits into the connection's Lua table.
function set_limits(self, vctx, set)
  local limits = {}
  for k, v in pairs(DEFAULTS) do limits[k] = v end
  for k, v in string.gmatch(msys.cidr.query("limits_by_network"), "(%w+)=(%w+)") do
    limits[k] = tonumber(v) or v
  end
  if set and SETS[set] then
    for k, v in pairs(SETS[set]) do limits[k] = v end
    vctx:set(msys.core.VCTX_CONN, "current_limit", set)
  end
  if limits.whitelist then msys.pbp.set_whitelist(vctx, msys.core.VCTX_CONN, "limits", true) end
  self.limits = limits
  vctx:set(msys.core.VCTX_CONN, "rcpt_ratelimit", limits.rcpts)
end

function check(self, phase, ac, vctx, msg)
  local limits = self.limits
  if phase == "connect" then
    if ac:pbp_inbound_session_count_service("SMTP", "/32") > limits.sessions then
      vctx:set_code(421, "4.7.0 Too many sessions from your address")
      vctx.disconnect = 1
      return msys.core.VALIDATE_DONE
    end
  elseif phase == "rcptto" then
    local max = tonumber(vctx:get(msys.core.VCTX_CONN, "rcpt_ratelimit"))
    if tonumber(vctx:get(msys.core.VCTX_MESS, "message_rcpt_count") or "0") >= max then
      vctx:set_code(452, "4.5.3 Too many recipients")
      return msys.core.VALIDATE_DONE
    end
    if msys.audit_series.count("rcpt_invalid", { key = ac, startv = 0, endv = 11 }) >= limits.invalid then
      vctx:set_code(550, "5.7.1 Too many invalid recipients")
      vctx.disconnect = 1
      return msys.core.VALIDATE_DONE
    end
    if vctx:get(msys.core.VCTX_MESS, "rcptto_domain") ~= "example.test" then
      msys.audit_series.add("rcpt_invalid", { key = ac })
      vctx:set_code(550, "5.1.1 No such user")
      return msys.core.VALIDATE_DONE
    end
  elseif phase == "data" then
    if msg:get_message_size() > msys.pbp.size_in_bytes(limits.size) then
      vctx:set_code(552, "5.3.4 Message too big for your network")
      return msys.core.VALIDATE_DONE
    end
  end
  return msys.core.VALIDATE_CONT
end
