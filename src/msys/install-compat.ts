import type { Logger } from '../log.ts';
import { AsyncCalls } from '../lua/async-call.ts';
import { lauxlib, lua, to_luastring, type LuaState } from '../lua/fengari.ts';
import { runHostLua } from '../lua/host-lua.ts';
import { hostFunction } from '../lua/marshal.ts';
import type { LuaVm } from '../lua/vm.ts';
import { checkString } from './args.ts';
import { dnsLookupFunction, poolHelpers, sleepFunction } from './async-fns.ts';
import { isMomentumBuiltin, missingBuiltinMessage } from './builtins.ts';
import { cidrFunctions } from './cidr.ts';
import { parseV4, parseV6 } from './cidr-table.ts';
import type { CompatHost } from './compat-host.ts';
import type { CompatServices } from './compat-services.ts';
import { CONTEXT } from './constants.ts';
import type { MsysHost } from './host.ts';
import { installMsys, pushLibrary, setFunctions } from './install.ts';
import { addMethods, ecMessageNew, msgCompatMethods, vctxCompatMethods } from './message-compat.ts';
import { pcreFunctions } from './pcre.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn } from './userdata.ts';

export interface CompatInstallOptions {
  readonly services: CompatServices;
  /** The scripts directory: relative msys.cidr sources resolve against it. */
  readonly baseDir: string;
  readonly logger: Logger;
}

/**
 * Everything a script generation has under `msys`: the core packages
 * (install.ts), then the compatibility packages. `moonwatch check` lists the
 * names from the same call, so it can never call provided what a script
 * would not find, or the reverse.
 */
export function installHostLibraries(vm: LuaVm, host: MsysHost, opts: CompatInstallOptions): { types: MsysTypes; compat: CompatHost } {
  const types = installMsys(vm, host);
  return { types, compat: installCompatPackages(vm, host, types, opts) };
}

/**
 * Installs the Momentum compatibility packages into a VM that already has
 * the msys table (install.ts): msys.dumper, pcre, cidr, pbp, policyeditor,
 * extended.message_routing, thread, the asynchronous host calls, the extra
 * vctx/msg methods, and the "not provided" error for other built-ins.
 * Everything is present without require, like the other msys tables.
 */
function installCompatPackages(vm: LuaVm, host: MsysHost, types: MsysTypes, opts: CompatInstallOptions): CompatHost {
  const L = vm.L;
  const compat: CompatHost = { services: opts.services, calls: new AsyncCalls(L), current: null };
  const getTypes = () => types;

  // Lua's coroutines pass host waits up to the phase driver (lua/async.lua).
  runHostLua(L, 'async.lua', (Ls) => {
    lua.lua_createtable(Ls, 0, 1);
    compat.calls.pushSentinel(Ls);
    lua.lua_setfield(Ls, -2, 'SUSPEND');
  });
  lua.lua_pop(L, 1);

  const dnsLookup = hostFunction('msys.dnsLookup', dnsLookupFunction(compat));
  lua.lua_getglobal(L, 'msys');
  const msys = lua.lua_gettop(L) as number;

  setFunctions(L, 'msys', { dnsLookup: dnsLookupFunction(compat), sleep: sleepFunction(compat) });
  runHostLua(L, 'pool.lua', (Ls) => pushLibrary(Ls, 'msys.runInPool', poolHelpers(compat)));
  lua.lua_setfield(L, msys, 'runInPool');

  runHostLua(L, 'dumper.lua');
  lua.lua_setfield(L, msys, 'dumper');
  pushLibrary(L, 'msys.pcre', pcreFunctions());
  lua.lua_setfield(L, msys, 'pcre');
  pushLibrary(L, 'msys.cidr', cidrFunctions({ host, types: getTypes, baseDir: opts.baseDir, logger: opts.logger }));
  lua.lua_setfield(L, msys, 'cidr');
  runHostLua(L, 'pbp.lua', (Ls) => {
    pushLibrary(Ls, 'msys.pbp', pbpHelpers(getTypes));
    lua.lua_pushnumber(Ls, CONTEXT.CONN);
    lua.lua_setfield(Ls, -2, 'VCTX_CONN');
    lua.lua_pushnumber(Ls, CONTEXT.MESS);
    lua.lua_setfield(Ls, -2, 'VCTX_MESS');
    lua.lua_pushcfunction(Ls, dnsLookup);
    lua.lua_setfield(Ls, -2, 'dnsLookup');
  });
  lua.lua_setfield(L, msys, 'pbp');
  // msys.policyeditor (deprecated in M3, gone in M4): no inbound sample calls into it; loadable and empty.
  lua.lua_createtable(L, 0, 0);
  lua.lua_setfield(L, msys, 'policyeditor');
  // msys.extended.message_routing: delivery-side routing; loadable and empty (docs/compat.md).
  lua.lua_getfield(L, msys, 'extended');
  lua.lua_createtable(L, 0, 0);
  lua.lua_setfield(L, -2, 'message_routing');
  lua.lua_pop(L, 1);

  lua.lua_getfield(L, msys, 'core');
  lua.lua_pushcfunction(L, hostFunction('msys.core.ec_message_new', ecMessageNew(compat, getTypes)));
  lua.lua_setfield(L, -2, 'ec_message_new');
  lua.lua_pushnumber(L, 1);
  lua.lua_setfield(L, -2, 'ECTP_COMPLETE_CALLBACK');
  lua.lua_pushnumber(L, 2);
  lua.lua_setfield(L, -2, 'ECTP_COMPLETE_CALLBACK_SCHED');
  lua.lua_pop(L, 2); // core, msys

  runHostLua(L, 'thread.lua');
  lua.lua_pushvalue(L, -1);
  lua.lua_setglobal(L, 'thread');
  lua.lua_pop(L, 1);

  for (const [pkg, path] of Object.entries(COMPAT_PACKAGES)) {
    vm.preload(pkg, (Ls) => {
      lua.lua_getglobal(Ls, path[0]!);
      for (const key of path.slice(1)) {
        lua.lua_getfield(Ls, -1, key);
        lua.lua_remove(Ls, -2);
      }
    });
  }
  installMissingBuiltinLoader(L);

  addMethods(L, types.vctx as never, 'vctx', vctxCompatMethods(compat, getTypes));
  addMethods(L, types.msg as never, 'msg', msgCompatMethods(compat, getTypes));
  return compat;
}

const COMPAT_PACKAGES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'msys.dumper': ['msys', 'dumper'],
  'msys.pcre': ['msys', 'pcre'],
  'msys.cidr': ['msys', 'cidr'],
  'msys.pbp': ['msys', 'pbp'],
  'msys.policyeditor': ['msys', 'policyeditor'],
  'msys.extended.message_routing': ['msys', 'extended', 'message_routing'],
  thread: ['thread'],
});

/**
 * require of a Momentum built-in moonwatch lacks: package.preload answers
 * (through __index) with a loader that raises the plain message, instead of
 * require looking for a file in the scripts directory.
 */
function installMissingBuiltinLoader(L: LuaState): void {
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_PRELOAD_TABLE);
  lua.lua_createtable(L, 0, 1);
  lua.lua_pushcfunction(L, (Ls: LuaState) => {
    const name = lua.lua_type(Ls, 2) === lua.LUA_TSTRING ? (lua.lua_tojsstring(Ls, 2) as string) : '';
    if (!isMomentumBuiltin(name)) {
      lua.lua_pushnil(Ls);
      return 1;
    }
    lua.lua_pushcfunction(Ls, (L2: LuaState) => lauxlib.luaL_error(L2, to_luastring(missingBuiltinMessage(name).replace(/%/g, '%%'))));
    return 1;
  });
  lua.lua_setfield(L, -2, '__index');
  lua.lua_setmetatable(L, -2);
  lua.lua_pop(L, 1);
}

/** Helpers pbp.lua needs from the host: the peer's address and IP comparison. */
function pbpHelpers(types: () => MsysTypes): Record<string, HostFn> {
  return {
    peer_ip: (L) => {
      lua.lua_pushliteral(L, types().ac.check(L, 1).state.peerText);
      return 1;
    },
    same_ip: (L) => {
      const a = checkString(L, 1, 'a', 64);
      const b = checkString(L, 2, 'b', 64);
      const na = parseV4(a) ?? parseV6(a);
      lua.lua_pushboolean(L, na !== undefined && na === (parseV4(b) ?? parseV6(b)));
      return 1;
    },
    ipv6_nibbles: (L) => {
      const v = parseV6(checkString(L, 1, 'ip', 64));
      if (v === undefined) lua.lua_pushnil(L);
      else lua.lua_pushliteral(L, v.toString(16).padStart(32, '0'));
      return 1;
    },
  };
}
