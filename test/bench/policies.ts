/**
 * The lean policy the harness and SMTP benchmarks share: one module whose
 * connect, ehlo, mailfrom, rcptto and data callouts each query the store
 * (issue 4/5: "at least 5 phases, each querying the store").
 */
export const FIVE_PHASES = `
local five = {}
local CONT, DONE = msys.core.VALIDATE_CONT, msys.core.VALIDATE_DONE
function five:validate_connect(ac, vctx)
  if msys.audit.connections("60,10", { startv = 0, endv = 4 }) > 30 then
    vctx:disconnect(421, "4.7.0 Too many connections")
    return DONE
  end
  return CONT
end
function five:validate_ehlo(str, ac, vctx)
  if msys.audit.connections("60,10", { cidr = "/24", startv = 0, endv = 1 }) > 120 then
    vctx:set_code(421, "4.7.0 Too many connections from your network")
    return DONE
  end
  return CONT
end
function five:validate_mailfrom(str, ac, vctx)
  if msys.audit.receptions("300,6") > 50 then
    vctx:set_code(451, "4.7.1 Message rate limit exceeded")
    return DONE
  end
  return CONT
end
function five:validate_rcptto(msg, rcpt, ac, vctx)
  if msys.audit.rejections("300,6", { startv = 0, endv = 5 }) > 100 then
    vctx:set_code(550, "5.7.1 Too many rejections")
    return DONE
  end
  return CONT
end
function five:validate_data(msg, ac, vctx)
  if ac:inbound_session_count("/32", "SMTP") > 5 then
    vctx:set_code(451, "4.7.1 Too many concurrent sessions")
    return DONE
  end
  return CONT
end
msys.registerModule("five", five)
`;
