-- The limit_connections shape, with both of its defects kept (spec §14): it
-- calls msys.audit.connection (singular, not a Momentum function), and it
-- compares a count with the string expandMacro returns.
require("msys.core")
require("msys.audit")
require("msys.policyeditor")

local ehlo_phase = {}

function ehlo_phase:validate_ehlo(str, accept, vctx)
  local ip = msys.expandMacro("%{i}")
  if msys.expandMacro("%{vctx_conn:my_networks}") != "" then
    return msys.core.VALIDATE_CONT
  end
  local recent = msys.audit.connection("60,1")
  local limit = msys.expandMacro("%{vctx_conn:current_limit}")
  if recent > limit then
    vctx:tarpit(10)
    vctx:disconnect(421, "Too many connections from " .. ip)
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("ehlo_phase", ehlo_phase)
