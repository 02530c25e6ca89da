import { lua, type LuaState } from '../lua/fengari.ts';
import { checkNumber, checkString, checkStringish, isNoneOrNil } from './args.ts';
import { MAX_TARPIT_SECONDS } from './constants.ts';
import { contextMap, contextValue } from './context-value.ts';
import { LuaArgumentError } from './errors.ts';
import type { SessionObjects } from './session-objects.ts';
import { defineUserdataType, type UserdataType } from './userdata.ts';

const MAX_REPLY_TEXT = 512;

/**
 * msys.extended.vctx: the validation context. get/set/exists work on the two
 * dictionaries; set_code, disconnect and tarpit record the disposition the
 * session turns into the phase's reply.
 */
export function defineVctxType(L: LuaState): UserdataType<SessionObjects> {
  const vctx: UserdataType<SessionObjects> = defineUserdataType<SessionObjects>(L, {
    name: 'msys.vctx',
    label: 'vctx',
    methods: {
      get: (Ls) => {
        const map = contextMap(Ls, 2, vctx.check(Ls, 1).state);
        const value = map.get(checkString(Ls, 3, 'key'));
        if (value === undefined) lua.lua_pushnil(Ls);
        else lua.lua_pushliteral(Ls, value);
        return 1;
      },
      set: (Ls) => {
        const map = contextMap(Ls, 2, vctx.check(Ls, 1).state);
        const key = checkString(Ls, 3, 'key');
        if (isNoneOrNil(Ls, 4)) map.delete(key);
        else map.set(key, contextValue(Ls, 4));
        return 0;
      },
      exists: (Ls) => {
        const map = contextMap(Ls, 2, vctx.check(Ls, 1).state);
        // 1/0, not a boolean: scripts compare with `== 1` (spec §4).
        lua.lua_pushnumber(Ls, map.has(checkString(Ls, 3, 'key')) ? 1 : 0);
        return 1;
      },
      delete: (Ls) => {
        contextMap(Ls, 2, vctx.check(Ls, 1).state).delete(checkString(Ls, 3, 'key'));
        return 0;
      },
      set_code: (Ls) => {
        const d = vctx.check(Ls, 1).state.disposition;
        d.code = replyCode(checkStringish(Ls, 2, 'code'));
        d.text = isNoneOrNil(Ls, 3) ? '' : checkStringish(Ls, 3, 'message', MAX_REPLY_TEXT);
        return 0;
      },
      disconnect: (Ls) => {
        const d = vctx.check(Ls, 1).state.disposition;
        d.disconnect = true;
        if (!isNoneOrNil(Ls, 2)) d.code = replyCode(checkStringish(Ls, 2, 'code'));
        if (!isNoneOrNil(Ls, 3)) d.text = checkStringish(Ls, 3, 'message', MAX_REPLY_TEXT);
        return 0;
      },
      tarpit: (Ls) => {
        const seconds = checkNumber(Ls, 2, 'seconds');
        if (seconds < 0 || seconds > MAX_TARPIT_SECONDS) {
          throw new LuaArgumentError(`argument 2 (seconds) must be between 0 and ${MAX_TARPIT_SECONDS}, got ${seconds}`);
        }
        // Several tarpits in one phase add up (inbound-audit spec §14 #39).
        vctx.check(Ls, 1).state.disposition.tarpitSeconds += seconds;
        return 0;
      },
      pbp_action: (Ls) => {
        const d = vctx.check(Ls, 1).state.disposition;
        d.code = replyCode(checkStringish(Ls, 2, 'code'));
        d.text = isNoneOrNil(Ls, 3) ? '' : checkStringish(Ls, 3, 'message', MAX_REPLY_TEXT);
        lua.lua_pushnumber(Ls, 1); // VALIDATE_DONE
        return 1;
      },
    },
    // `vctx.disconnect = 1` (training policy): a flag meaning "close after the
    // reply". Reads of vctx.disconnect still find the method via __index.
    newindex: (Ls) => {
      const key = lua.lua_type(Ls, 2) === lua.LUA_TSTRING ? (lua.lua_tojsstring(Ls, 2) as string) : '?';
      if (key !== 'disconnect') throw new LuaArgumentError(`vctx field '${key}' cannot be assigned`);
      const t = lua.lua_type(Ls, 3);
      const on = t === lua.LUA_TNUMBER ? (lua.lua_tonumber(Ls, 3) as number) !== 0 : (lua.lua_toboolean(Ls, 3) as boolean);
      vctx.check(Ls, 1).state.disposition.disconnect = on;
      return 0;
    },
    tostring: (Ls) => {
      lua.lua_pushliteral(Ls, `vctx: ${vctx.check(Ls, 1).state.id}`);
      return 1;
    },
  });
  return vctx;
}

/** Codes arrive as numbers or strings ("550"); only real SMTP reply codes are accepted. */
function replyCode(text: string): number {
  const code = Number(text.trim());
  if (!Number.isInteger(code) || code < 200 || code > 599) {
    throw new LuaArgumentError(`reply code must be an SMTP code between 200 and 599, got '${text}'`);
  }
  return code;
}
