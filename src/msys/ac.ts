import { lua, type LuaState } from '../lua/fengari.ts';
import { checkString, isNoneOrNil } from './args.ts';
import { cidrArg } from './address-arg.ts';
import { CORE_CONSTANTS } from './constants.ts';
import type { MsysHost } from './host.ts';
import type { SessionObjects } from './session-objects.ts';
import type { MsysTypes } from './types.ts';
import { defineUserdataType, type UserdataType } from './userdata.ts';

/**
 * msys.extended.ac: the accept construct. remote_addr, conn_id and protocol are
 * read-only fields; the session-count methods read the store's gauges.
 */
export function defineAcType(L: LuaState, host: MsysHost, types: () => MsysTypes): UserdataType<SessionObjects> {
  const sessions = (Ls: LuaState, cidrIdx: number, service: string, listener?: string): number => {
    const cidr = cidrArg(Ls, cidrIdx, host, types());
    const n = host.store.gauges.count(service, cidr, listener);
    lua.lua_pushnumber(Ls, n);
    return 1;
  };
  const serviceArg = (Ls: LuaState, idx: number): string => (isNoneOrNil(Ls, idx) ? 'SMTP' : checkString(Ls, idx, 'service'));

  const ac: UserdataType<SessionObjects> = defineUserdataType<SessionObjects>(L, {
    name: 'msys.ac',
    label: 'ac',
    methods: {
      // No arguments: this peer's sessions on this listener; otherwise service-scoped
      // (inbound-audit spec §14 #16).
      inbound_session_count: (Ls) => {
        const self = ac.check(Ls, 1);
        if (isNoneOrNil(Ls, 2) && isNoneOrNil(Ls, 3)) {
          return sessions(Ls, 1, 'SMTP', self.state.listener);
        }
        return sessions(Ls, isNoneOrNil(Ls, 2) ? 1 : 2, serviceArg(Ls, 3));
      },
      // Default-policy helper: note the service comes first.
      pbp_inbound_session_count_service: (Ls) => {
        ac.check(Ls, 1);
        return sessions(Ls, isNoneOrNil(Ls, 3) ? 1 : 3, serviceArg(Ls, 2));
      },
    },
    index: (Ls, key) => {
      const self = ac.check(Ls, 1);
      switch (key) {
        case 'remote_addr':
          self.pushRemoteAddr(Ls);
          return 1;
        case 'conn_id':
          lua.lua_pushliteral(Ls, self.state.connId);
          return 1;
        case 'protocol':
          lua.lua_pushnumber(Ls, CORE_CONSTANTS['P_ESMTP']!);
          return 1;
        default:
          lua.lua_pushnil(Ls);
          return 1;
      }
    },
    tostring: (Ls) => {
      lua.lua_pushliteral(Ls, `accept_construct: ${ac.check(Ls, 1).state.connId}`);
      return 1;
    },
  });
  return ac;
}
