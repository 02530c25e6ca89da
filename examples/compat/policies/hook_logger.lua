-- The hook_point_logger shape: every inbound hook prints its name, the list
-- hooks dump their argument with msys.dumper, and a hook defined twice keeps
-- its later definition. Delivery-side hooks are defined but never run.
require("msys.core")
require("msys.dumper")
require("msys.extended.message")
require("msys.extended.vctx")

local logger = {}

local function say(...) print("hook", ...) end

function logger:validate_connect(ac, vctx) say("validate_connect") return msys.core.VALIDATE_CONT end
function logger:validate_ehlo(str, ac, vctx) say("validate_ehlo", tostring(str)) return msys.core.VALIDATE_CONT end
function logger:validate_mailfrom(str, ac, vctx) say("validate_mailfrom", tostring(str)) return msys.core.VALIDATE_CONT end
function logger:validate_rcptto(msg, str, ac, vctx) say("validate_rcptto", tostring(str)) return msys.core.VALIDATE_CONT end
function logger:validate_data(msg, ac, vctx) say("validate_data") return msys.core.VALIDATE_CONT end
function logger:validate_data_spool(msg, ac, vctx) say("validate_data_spool") return msys.core.VALIDATE_CONT end
function logger:validate_rcptto_list(list, vctx) say("validate_rcptto_list", msys.dumper.Dumper(list)) return msys.core.VALIDATE_CONT end
function logger:validate_rcptto_list_final(node, vctx) say("validate_rcptto_list_final", #node) return msys.core.VALIDATE_CONT end
function logger:validate_data_spool_each_rcpt(msg, ac, vctx) say("validate_data_spool_each_rcpt", msg:rcptto()) return msys.core.VALIDATE_CONT end
function logger:core_post_msg_each_rcpt(msg, ac, vctx) say("first definition, replaced below") return msys.core.VALIDATE_CONT end
function logger:core_post_msg_each_rcpt(msg, ac, vctx) say("core_post_msg_each_rcpt", msg:rcptto()) return msys.core.VALIDATE_CONT end
function logger:validate_set_binding(msg) say("validate_set_binding", msg:rcptto()) end
function logger:core_final_validation(msg, ac, vctx) say("core_final_validation", msg:rcptto()) return msys.core.VALIDATE_CONT end
function logger:core_pre_mailq_message_requeue(msg, now) say("core_pre_mailq_message_requeue") end

msys.registerModule("state_logger", logger)
