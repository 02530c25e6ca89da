-- Cluster-wide limits: what every node of the cluster has seen, not just this one.
-- msys.audit.* { cluster = true } and the inbound_cidr service are answered from
-- memory (this node's counts plus what the other nodes replicated), never from Redis.
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")

local cap = {}

function cap:validate_connect(ac, vctx)
  -- Connections from this /24 to any node during the last three 5-minute windows.
  local recent = msys.audit.connections("300,6", { cidr = "/24", startv = 0, endv = 2, cluster = true })
  if recent > 300 then
    vctx:disconnect(421, "4.7.0 Too many connections from your network to this cluster, try later")
    return msys.core.VALIDATE_DONE
  end
  -- Sessions open right now from this address on every node (this one included).
  if msys.audit.inbound_session_count("/32", "inbound_cidr") > 20 then
    vctx:disconnect(421, "4.7.0 Too many concurrent sessions to this cluster")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end

msys.registerModule("cluster_cap", cap)
