import { lua, type LuaState } from '../lua/fengari.ts';
import { hostFunction } from '../lua/marshal.ts';
import type { LuaVm } from '../lua/vm.ts';
import { defineAcType } from './ac.ts';
import { checkStringish } from './args.ts';
import { auditSeriesFunctions } from './audit-series.ts';
import { auditFunctions } from './audit.ts';
import { CORE_CONSTANTS } from './constants.ts';
import { coreFunctions, registerModuleFunction } from './core.ts';
import type { MsysHost } from './host.ts';
import { expandMacro } from './macro.ts';
import { defineMessageType } from './message.ts';
import { defineValueTypes } from './sockaddr.ts';
import type { MsysTypes } from './types.ts';
import { defineVctxType } from './vctx.ts';
import type { HostFn } from './userdata.ts';

/** Built-in packages: `require` of any of them returns the pre-populated table. */
export const MSYS_PACKAGES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  msys: [],
  'msys.core': ['core'],
  'msys.audit': ['audit'],
  'msys.audit_series': ['audit_series'],
  'msys.extended': ['extended'],
  'msys.extended.vctx': ['extended', 'vctx'],
  'msys.extended.ac': ['extended', 'ac'],
  'msys.extended.message': ['extended', 'message'],
});

/**
 * Installs the `msys` global and its packages into a VM. Every msys table is
 * present from the start, because the training policy uses msys.audit_series
 * without requiring it (spec §1.2).
 */
export function installMsys(vm: LuaVm, host: MsysHost): MsysTypes {
  const L = vm.L;
  const value = defineValueTypes(L);
  // ac's methods need the full type set (sockaddr for remote_addr); resolve lazily.
  let types: MsysTypes | undefined;
  const getTypes = (): MsysTypes => types!;
  types = {
    ...value,
    ac: defineAcType(L, host, getTypes),
    vctx: defineVctxType(L),
    msg: defineMessageType(L),
  };

  vm.setGlobal('msys', (Ls) => {
    lua.lua_createtable(Ls, 0, 8);
    const msys = lua.lua_gettop(Ls) as number;

    lua.lua_createtable(Ls, 0, 40);
    for (const [k, v] of Object.entries(CORE_CONSTANTS)) {
      lua.lua_pushnumber(Ls, v);
      lua.lua_setfield(Ls, -2, k);
    }
    setFunctions(Ls, 'msys.core', coreFunctions(host, getTypes));
    lua.lua_setfield(Ls, msys, 'core');

    pushLibrary(Ls, 'msys.audit', auditFunctions(host, getTypes));
    lua.lua_setfield(Ls, msys, 'audit');
    pushLibrary(Ls, 'msys.audit_series', auditSeriesFunctions(host, getTypes));
    lua.lua_setfield(Ls, msys, 'audit_series');

    lua.lua_createtable(Ls, 0, 3);
    for (const name of ['vctx', 'ac', 'message']) {
      lua.lua_createtable(Ls, 0, 0);
      lua.lua_setfield(Ls, -2, name);
    }
    lua.lua_setfield(Ls, msys, 'extended');

    setFunctions(Ls, 'msys', {
      registerModule: registerModuleFunction(host),
      expandMacro: (Lm) => {
        const text = checkStringish(Lm, 1, 'text', 65536);
        lua.lua_pushliteral(Lm, expandMacro(text, host.session, host.clock.now() / 1000));
        return 1;
      },
    });
    // registerModule is documented in the bare namespace; Momentum also accepts it from core.
    lua.lua_getfield(Ls, msys, 'registerModule');
    lua.lua_getfield(Ls, msys, 'core');
    lua.lua_insert(Ls, -2);
    lua.lua_setfield(Ls, -2, 'registerModule');
    lua.lua_pop(Ls, 1);
  });

  for (const [pkg, path] of Object.entries(MSYS_PACKAGES)) {
    vm.preload(pkg, (Ls) => {
      lua.lua_getglobal(Ls, 'msys');
      for (const key of path) {
        lua.lua_getfield(Ls, -1, key);
        lua.lua_remove(Ls, -2);
      }
    });
  }
  return types;
}

/** A new table of host functions, named in errors as `prefix.name` (install-compat.ts uses it too). */
export function pushLibrary(L: LuaState, prefix: string, fns: Record<string, HostFn>): void {
  lua.lua_createtable(L, 0, Object.keys(fns).length);
  setFunctions(L, prefix, fns);
}

/** Sets functions into the table on top; errors name them in full ("msys.audit.connections"). */
export function setFunctions(L: LuaState, prefix: string, fns: Record<string, HostFn>): void {
  for (const [name, fn] of Object.entries(fns)) {
    lua.lua_pushcfunction(L, hostFunction(`${prefix}.${name}`, fn));
    lua.lua_setfield(L, -2, name);
  }
}
