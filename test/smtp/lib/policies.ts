/** Lua policies the SMTP tests run through the real engine. */

/** Decides every phase from the client's own input, so each test picks its outcome. */
export const PHASE_POLICY = `
require("msys.core")
require("msys.extended.vctx")
require("msys.extended.message")

local p = {}

function p:validate_connect(ac, vctx)
  local ip = msys.expandMacro("%{i}")
  if ip == "127.0.0.2" then
    vctx:set_code(554, "5.7.1 Connections from 127.0.0.2 refused")
    return msys.core.VALIDATE_DONE
  end
  if ip == "127.0.0.3" or ip == "203.0.113.9" then
    vctx:disconnect(421, "4.7.0 Go away")
    return msys.core.VALIDATE_DONE
  end
  if ip == "127.0.0.4" then vctx:tarpit(0.4) end
  if ip == "127.0.0.5" then vctx:tarpit(0.7) end
  return msys.core.VALIDATE_CONT
end

function p:validate_ehlo(s, ac, vctx)
  local str = tostring(s)
  if str == "bad.example" then
    vctx:set_code(550, "5.7.1 Bad HELO name")
    return msys.core.VALIDATE_DONE
  end
  if str == "bye.example" then
    vctx:disconnect(421, "4.7.0 HELO says bye")
    return msys.core.VALIDATE_DONE
  end
  if str == "slow.example" then vctx:tarpit(0.3) end
  return msys.core.VALIDATE_CONT
end

function p:validate_mailfrom(s, ac, vctx)
  local str = tostring(s)
  if str == "spam@bad.example" then
    vctx:set_code(550, "5.7.1 Sender blocked")
    return msys.core.VALIDATE_DONE
  end
  if str == "later@slow.example" then
    vctx:set_code(451, "4.7.1 Try later\\r\\nINJECTED: line")
    return msys.core.VALIDATE_DONE
  end
  if str == "custom@ok.example" then
    vctx:set_code(250, "2.1.0 Sender looks fine to us")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

function p:validate_rcptto(msg, rcpt, ac, vctx)
  local r = tostring(rcpt)
  if r == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 No such user")
    return msys.core.VALIDATE_DONE
  end
  if r == "kill@example.test" then
    vctx:set_code(550, "5.7.1 Goodbye")
    vctx.disconnect = 1
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

function p:validate_data(msg, ac, vctx)
  local subject = msg:header("Subject")[1]
  if subject == "spam" then
    vctx:set_code(554, "5.7.1 Message looks like spam")
    return msys.core.VALIDATE_DONE
  end
  if subject == "boom" then
    error("policy blew up")
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("phases", p)
`;

/** Accepts everything; exists so sessions have a generation and every counter runs. */
export const ACCEPT_POLICY = `
require("msys.core")
local a = {}
function a:validate_connect(ac, vctx) return msys.core.VALIDATE_CONT end
msys.registerModule("accept", a)
`;

/** Tarpits every greeting by the given seconds. */
export function tarpitPolicy(seconds: number): string {
  return `
require("msys.core")
require("msys.extended.vctx")
local t = {}
function t:validate_connect(ac, vctx)
  vctx:tarpit(${seconds})
  return msys.core.VALIDATE_CONT
end
msys.registerModule("tarpit", t)
`;
}

export const MESSAGE = 'From: a@sender.example\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHello there.\r\n';
