import { lauxlib, lua, type LuaState } from '../lua/fengari.ts';
import type { Answer } from '../lua/async-call.ts';
import { failure } from '../lua/async-call.ts';
import { checkNumber, checkString, isNoneOrNil, optBooleanField, optStringField, typeName } from './args.ts';
import type { CompatHost } from './compat-host.ts';
import { DNS_TYPES, type DnsAnswer, type DnsType } from './compat-services.ts';
import { LuaArgumentError, LuaContextError } from './errors.ts';
import type { HostFn } from './userdata.ts';

const MAX_SLEEP_SECONDS = 3600;

const SLEPT: Answer = (L) => {
  lua.lua_pushboolean(L, true);
  return 1;
};
const POOLS = new Set(['IO', 'CPU']);

function requireSuspendable(host: CompatHost, L: LuaState): void {
  if (!host.calls.canSuspend(L)) {
    throw new LuaContextError('this call waits, and can only be called inside a phase callout (not in init, deinit, validate_dealloc or while a module loads)');
  }
}

/** msys.dnsLookup(name [, type [, {priority, server}]]) (spec §12.2): suspends the phase. */
export function dnsLookupFunction(host: CompatHost): HostFn {
  return (L) => {
    const name = checkString(L, 1, 'name', 1024);
    const typeText = isNoneOrNil(L, 2) ? 'A' : checkString(L, 2, 'recordtype', 16).toUpperCase();
    if (!(DNS_TYPES as readonly string[]).includes(typeText)) {
      throw new LuaArgumentError(`argument 2 (recordtype) must be one of ${DNS_TYPES.join(', ')}, got '${typeText}'`);
    }
    let priority = false;
    let server: string | undefined;
    if (!isNoneOrNil(L, 3)) {
      if (lua.lua_type(L, 3) !== lua.LUA_TTABLE) throw new LuaArgumentError(`argument 3 (options) must be a table, got ${typeName(L, 3)}`);
      priority = optBooleanField(L, 3, 'priority') ?? false;
      server = optStringField(L, 3, 'server', 256);
    }
    requireSuspendable(host, L);
    const type = typeText as DnsType;
    return host.calls.suspend(L, async () => dnsAnswer(await host.services.dns.lookup({ name, type, ...(server === undefined ? {} : { server }) }), type, priority));
  };
}

function dnsAnswer(answer: DnsAnswer, type: DnsType, priority: boolean): Answer {
  if ('error' in answer) return failure(answer.error);
  const records = type === 'MX' ? [...answer.records].sort((a, b) => (a.pref ?? 0) - (b.pref ?? 0)) : answer.records;
  return (L) => {
    lua.lua_createtable(L, records.length, 0);
    records.forEach((r, i) => {
      if (priority && r.pref !== undefined) {
        // {pref, value}: positional like Momentum's pairs, and named for readability.
        lua.lua_createtable(L, 2, 2);
        lua.lua_pushnumber(L, r.pref);
        lua.lua_pushvalue(L, -1);
        lua.lua_rawseti(L, -3, 1);
        lua.lua_setfield(L, -2, 'pref');
        lua.lua_pushliteral(L, r.value);
        lua.lua_pushvalue(L, -1);
        lua.lua_rawseti(L, -3, 2);
        lua.lua_setfield(L, -2, 'value');
      } else {
        lua.lua_pushliteral(L, r.value);
      }
      lua.lua_rawseti(L, -2, i + 1);
    });
    return 1;
  };
}

/** msys.sleep(seconds): suspends the phase; fractional seconds allowed. */
export function sleepFunction(host: CompatHost): HostFn {
  return (L) => {
    const seconds = checkNumber(L, 1, 'seconds');
    if (seconds < 0 || seconds > MAX_SLEEP_SECONDS) throw new LuaArgumentError(`argument 1 (seconds) must be between 0 and ${MAX_SLEEP_SECONDS}, got ${seconds}`);
    requireSuspendable(host, L);
    return host.calls.suspend(L, () => host.services.sleep(seconds * 1000).then(() => SLEPT));
  };
}

/** Helpers lua/pool.lua builds msys.runInPool from. */
export function poolHelpers(host: CompatHost): Record<string, HostFn> {
  return {
    check_pool: (L) => {
      const t = lua.lua_type(L, 1);
      if (t === lua.LUA_TNUMBER) return 0; // numbered pools: every number names the one queue we have
      const pool = checkString(L, 1, 'pool', 64);
      if (!POOLS.has(pool)) throw new LuaArgumentError(`thread pool '${pool}' does not exist (moonwatch provides "IO" and "CPU")`);
      return 0;
    },
    // Suspends until the event loop has served what was waiting: the "pool" is the event loop.
    yield_now: (L) => {
      requireSuspendable(host, L);
      return host.calls.suspend(L, () => new Promise<Answer>((resolve) => setImmediate(() => resolve(() => 0))));
    },
    defer: (L) => {
      lauxlib.luaL_checktype(L, 1, lua.LUA_TFUNCTION);
      const current = host.current;
      if (current === null) throw new LuaContextError('msys.runInPool: a background job can only be started from a phase callout');
      lua.lua_pushvalue(L, 1);
      current.deferred.push(lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX) as number);
      return 0;
    },
  };
}
