-- The training-policy shape: one registered module driving helper modules,
-- with the connection's Lua table (self) wiped at accept and connect.
require("msys.core")
require("msys.extended.vctx")
require("msys.extended.ac")
local limits = require("inbound.limits")
require("inbound.library")
local rbl = require("inbound.rbl")
local fcdns = require("inbound.fcdns")

local policy = {}

function policy:init()
  return limits.init() and rbl.init()
end

local function wipe(t) for k in pairs(t) do t[k] = nil end end

function policy:core_validate_accept(ac, vctx)
  wipe(self)
  limits.set_limits(self, vctx)
  local listed = rbl.check(self, ac, vctx)
  if listed then
    vctx:set_code(550, "5.7.1 " .. listed)
    vctx.disconnect = 1
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

function policy:validate_connect(ac, vctx)
  wipe(self)
  limits.set_limits(self, vctx)
  fcdns.check(self, ac, vctx)
  return limits.check(self, "connect", ac, vctx)
end

function policy:validate_mailfrom(str, ac, vctx)
  local msg = msys.core.accept_construct_get_message_construct(ac).message
  print("mail from " .. msg:mailfrom() .. " (limits " .. (vctx:get(msys.core.VCTX_CONN, "current_limit") or "default") .. ")")
  return msys.core.VALIDATE_CONT
end

function policy:validate_rcptto(msg, str, ac, vctx)
  return limits.check(self, "rcptto", ac, vctx, msg)
end

function policy:validate_data(msg, ac, vctx)
  return limits.check(self, "data", ac, vctx, msg)
end

function policy:validate_dealloc()
end

msys.registerModule("inbound_policy", policy)
