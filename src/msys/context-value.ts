import { lua, type LuaState } from '../lua/fengari.ts';
import { checkNumber, typeName } from './args.ts';
import { CONTEXT } from './constants.ts';
import { LuaArgumentError } from './errors.ts';
import type { SessionState } from './session-state.ts';

/** Longest value a script may store in a vctx/msg context key. */
export const MAX_CONTEXT_VALUE_BYTES = 65536;

/** The connection or message dictionary selected by VCTX_CONN/VCTX_MESS (or ECMESS_CTX_*). */
export function contextMap(L: LuaState, idx: number, state: SessionState): Map<string, string> {
  const selector = checkNumber(L, idx, 'context type');
  if (selector === CONTEXT.CONN) return state.vctxConn;
  if (selector === CONTEXT.MESS) return state.vctxMess;
  throw new LuaArgumentError(
    `argument ${idx} (context type) must be msys.core.VCTX_CONN or msys.core.VCTX_MESS, got ${selector}`,
  );
}

/**
 * Context values are stored as strings (spec §17 #7): numbers print as Lua
 * prints them, so `vctx:set(..., 50)` reads back "50".
 */
export function contextValue(L: LuaState, idx: number): string {
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, idx) ? 'true' : 'false';
  if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) {
    const bytes = lua.lua_type(L, idx) === lua.LUA_TSTRING ? (lua.lua_rawlen(L, idx) as number) : 0;
    if (bytes > MAX_CONTEXT_VALUE_BYTES) {
      throw new LuaArgumentError(`argument ${idx} (value) is too long (${bytes} bytes, limit ${MAX_CONTEXT_VALUE_BYTES})`);
    }
    return lua.lua_tojsstring(L, idx) as string;
  }
  throw new LuaArgumentError(`argument ${idx} (value) must be a string, number or boolean, got ${typeName(L, idx)}`);
}
