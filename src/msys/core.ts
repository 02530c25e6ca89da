import { lauxlib, lua, type LuaState } from '../lua/fengari.ts';
import { checkString, typeName } from './args.ts';
import { CORE_CONSTANTS } from './constants.ts';
import { LuaArgumentError } from './errors.ts';
import type { MsysHost } from './host.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn } from './userdata.ts';

/** msys.core functions (spec lua-policy-api §9); constants are added by install. */
export function coreFunctions(host: MsysHost, types: () => MsysTypes): Record<string, HostFn> {
  return {
    get_now_ts: (L) => {
      lua.lua_pushnumber(L, Math.floor(host.clock.now() / 1000));
      return 1;
    },
    ec_sockaddr_family: (L) => {
      const sa = types().sockaddr.check(L, 1);
      lua.lua_pushnumber(L, sa.family === 4 ? CORE_CONSTANTS['AF_INET']! : CORE_CONSTANTS['AF_INET6']!);
      return 1;
    },
    // Returns { message = msg, ctx = vctx }, or nil before MAIL FROM (spec §6.3).
    accept_construct_get_message_construct: (L) => {
      const session = types().ac.check(L, 1);
      if (session.state.message === null) {
        lua.lua_pushnil(L);
        return 1;
      }
      lua.lua_createtable(L, 0, 2);
      session.pushMsg(L);
      lua.lua_setfield(L, -2, 'message');
      session.pushVctx(L);
      lua.lua_setfield(L, -2, 'ctx');
      return 1;
    },
    string_new: (L) => {
      types().ecString.push(L, { text: '' });
      return 1;
    },
  };
}

/**
 * msys.registerModule(name, table): records the module; which of its methods
 * are callouts is decided by the generation, which knows the phases.
 */
export function registerModuleFunction(host: MsysHost): HostFn {
  return (L) => {
    const name = checkString(L, 1, 'modname', 128);
    if (lua.lua_type(L, 2) !== lua.LUA_TTABLE) {
      throw new LuaArgumentError(`argument 2 (table) must be a table, got ${typeName(L, 2)}`);
    }
    const methods: string[] = [];
    lua.lua_pushnil(L);
    while (lua.lua_next(L, 2) !== 0) {
      if (lua.lua_type(L, -2) === lua.LUA_TSTRING && lua.lua_type(L, -1) === lua.LUA_TFUNCTION) {
        methods.push(lua.lua_tojsstring(L, -2) as string);
      }
      lua.lua_pop(L, 1);
    }
    lua.lua_pushvalue(L, 2);
    const ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX) as number;
    host.register({ name, ref, methods });
    return 0;
  };
}
