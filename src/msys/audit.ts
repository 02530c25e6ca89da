import type { Metric, Scope } from '../audit/store.ts';
import { lua, type LuaState } from '../lua/fengari.ts';
import { checkString, isNoneOrNil, optBooleanField, optNumberField } from './args.ts';
import { cidrArg } from './address-arg.ts';
import { clusterScope } from '../semantics/audit-query.ts';
import type { MsysHost } from './host.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn } from './userdata.ts';

/**
 * msys.audit: the built-in metrics and the session gauge (inbound-audit spec
 * §6–7). Counts come back as Lua numbers (floats), so they never wrap.
 */
const fnNames: Readonly<Record<Metric, string>> = Object.freeze({
  connections: 'msys.audit.connections',
  receptions: 'msys.audit.receptions',
  rejections: 'msys.audit.rejections',
});

export function auditFunctions(host: MsysHost, types: () => MsysTypes): Record<string, HostFn> {
  const metric = (m: Metric): HostFn => {
    const fnName = fnNames[m];
    return (L) => {
      const monitor = checkString(L, 1, 'monitor', 64);
      let startv = 0;
      let endv = 0;
      let cidrIdx = 2;
      let scope: Scope = 'local';
      if (lua.lua_type(L, 2) === lua.LUA_TTABLE) {
        startv = optNumberField(L, 2, 'startv', 'msys.audit') ?? 0;
        endv = optNumberField(L, 2, 'endv', 'msys.audit') ?? 0;
        if (optBooleanField(L, 2, 'cluster')) scope = clusterScope(host.warnOnce, 'msys.audit: cluster = true');
        lua.lua_settop(L, 2);
        lua.lua_getfield(L, 2, 'cidr');
        cidrIdx = 3;
      }
      const cidr = cidrArg(L, cidrIdx, host, types());
      const value = host.store.count(m, monitor, cidr, startv, endv, scope);
      host.reads?.record(fnName, monitor, cidr, startv, endv, value);
      lua.lua_pushnumber(L, value);
      return 1;
    };
  };

  const fns: Record<string, HostFn> = {
    connections: metric('connections'),
    receptions: metric('receptions'),
    rejections: metric('rejections'),
    inbound_session_count: (L) => {
      const cidr = cidrArg(L, 1, host, types());
      const service = isNoneOrNil(L, 2) ? 'SMTP' : checkString(L, 2, 'servicename', 64);
      const value = host.store.gauges.count(service, cidr);
      host.reads?.record('msys.audit.inbound_session_count', service, cidr, -1, -1, value);
      lua.lua_pushnumber(L, value);
      return 1;
    },
  };
  // The kitchen-sink sample calls the undocumented singular name; off by default
  // so Momentum's behaviour (a nil call → failure) is what scripts see.
  if (host.compatConnectionAlias) fns['connection'] = fns['connections']!;
  return fns;
}
