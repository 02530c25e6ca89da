import { lua, type LuaState } from '../lua/fengari.ts';
import { checkString, checkStringish, isNoneOrNil, typeName } from './args.ts';
import { contextMap, contextValue } from './context-value.ts';
import { LuaArgumentError, LuaContextError } from './errors.ts';
import { headerValues, parseMessage, setHeader, type HeaderMode } from './headers.ts';
import type { MessageRef } from './session-objects.ts';
import type { MessageBody } from './session-state.ts';
import { defineUserdataType, type UserdataType } from './userdata.ts';

const HEADER_NAME = /^[!-9;-~]{1,128}$/; // printable ASCII except ':' (RFC 5322 ftext)
const MAX_HEADER_VALUE = 8192;
const MAX_ADDRESS = 512;

/** msys.extended.message: envelope, headers and the message's context. */
export function defineMessageType(L: LuaState): UserdataType<MessageRef> {
  const msg: UserdataType<MessageRef> = defineUserdataType<MessageRef>(L, {
    name: 'msys.message',
    label: 'msg',
    methods: {
      mailfrom: (Ls) => {
        const { message } = msg.check(Ls, 1);
        if (!isNoneOrNil(Ls, 2)) message.mailFrom = envelopeAddress(checkString(Ls, 2, 'address', MAX_ADDRESS));
        lua.lua_pushliteral(Ls, message.mailFrom);
        return 1;
      },
      rcptto: (Ls) => {
        const { message } = msg.check(Ls, 1);
        const current = message.currentRcpt ?? message.recipients[message.recipients.length - 1];
        if (!isNoneOrNil(Ls, 2)) {
          if (current === undefined) throw new LuaContextError('msg:rcptto: there is no recipient yet');
          const next = envelopeAddress(checkString(Ls, 2, 'address', MAX_ADDRESS));
          const i = message.recipients.lastIndexOf(current);
          if (i >= 0) message.recipients[i] = next;
          message.currentRcpt = next;
          lua.lua_pushliteral(Ls, next);
          return 1;
        }
        if (current === undefined) lua.lua_pushnil(Ls);
        else lua.lua_pushliteral(Ls, current);
        return 1;
      },
      header: (Ls) => {
        const body = bodyOf(msg.check(Ls, 1), 'msg:header');
        const name = checkString(Ls, 2, 'name', 128);
        if (!HEADER_NAME.test(name)) throw new LuaArgumentError(`argument 2 (name) is not a valid header name: '${name}'`);
        if (isNoneOrNil(Ls, 3)) {
          const values = headerValues(body, name);
          lua.lua_createtable(Ls, values.length, 0);
          values.forEach((v, i) => {
            lua.lua_pushliteral(Ls, v);
            lua.lua_rawseti(Ls, -2, i + 1);
          });
          return 1;
        }
        const values = headerArg(Ls, 3);
        const mode = isNoneOrNil(Ls, 4) ? 'replace' : headerMode(checkString(Ls, 4, 'mode', 16));
        // (name, "") deletes every field of that name.
        const deleting = values.length === 1 && values[0] === '';
        setHeader(body, name, deleting ? [] : values, deleting ? 'replace' : mode);
        lua.lua_pushboolean(Ls, true);
        return 1;
      },
      get_message_size: (Ls) => {
        lua.lua_pushnumber(Ls, bodyOf(msg.check(Ls, 1), 'msg:get_message_size').size);
        return 1;
      },
      context_get: (Ls) => {
        const ref = msg.check(Ls, 1);
        // Always a string, "" when missing (unlike vctx:get).
        lua.lua_pushliteral(Ls, contextMap(Ls, 2, ref.session.state).get(checkString(Ls, 3, 'key')) ?? '');
        return 1;
      },
      context_set: (Ls) => {
        const ref = msg.check(Ls, 1);
        contextMap(Ls, 2, ref.session.state).set(checkString(Ls, 3, 'key'), contextValue(Ls, 4));
        return 0;
      },
      context_exists: (Ls) => {
        const ref = msg.check(Ls, 1);
        lua.lua_pushnumber(Ls, contextMap(Ls, 2, ref.session.state).has(checkString(Ls, 3, 'key')) ? 1 : 0);
        return 1;
      },
      context_exists_and_get: (Ls) => {
        const ref = msg.check(Ls, 1);
        const value = contextMap(Ls, 2, ref.session.state).get(checkString(Ls, 3, 'key'));
        lua.lua_pushnumber(Ls, value === undefined ? 0 : 1);
        if (value === undefined) lua.lua_pushnil(Ls);
        else lua.lua_pushliteral(Ls, value);
        return 2;
      },
      context_delete: (Ls) => {
        const ref = msg.check(Ls, 1);
        contextMap(Ls, 2, ref.session.state).delete(checkString(Ls, 3, 'key'));
        return 0;
      },
    },
    index: (Ls, key) => {
      const ref = msg.check(Ls, 1);
      if (key === 'id') lua.lua_pushliteral(Ls, ref.message.id);
      else if (key === 'conn_id') lua.lua_pushliteral(Ls, ref.session.state.connId);
      else lua.lua_pushnil(Ls);
      return 1;
    },
    tostring: (Ls) => {
      lua.lua_pushliteral(Ls, `ec_message: ${msg.check(Ls, 1).message.id}`);
      return 1;
    },
  });
  return msg;
}

function bodyOf(ref: MessageRef, fn: string): MessageBody {
  const m = ref.message;
  if (m.raw === undefined) throw new LuaContextError(`${fn}: the message content is only available from the data phase on`);
  return (m.body ??= parseMessage(m.raw));
}

/** Angle brackets and parameters are not part of an envelope address (spec §17 #14). */
function envelopeAddress(text: string): string {
  const bare = text.trim().replace(/^<(.*)>$/, '$1');
  if (/[\r\n\s<>]/.test(bare)) throw new LuaArgumentError(`not a valid envelope address: '${text}'`);
  return bare;
}

function headerArg(L: LuaState, idx: number): string[] {
  const one = (i: number): string => {
    const v = checkStringish(L, i, 'value', MAX_HEADER_VALUE);
    // A CR or LF in a value would let a script inject headers or end the header block.
    if (/[\r\n]/.test(v)) throw new LuaArgumentError('header values must not contain CR or LF');
    return v;
  };
  if (lua.lua_type(L, idx) !== lua.LUA_TTABLE) {
    if (lua.lua_type(L, idx) !== lua.LUA_TSTRING && lua.lua_type(L, idx) !== lua.LUA_TNUMBER) {
      throw new LuaArgumentError(`argument ${idx} (value) must be a string or a table of strings, got ${typeName(L, idx)}`);
    }
    return [one(idx)];
  }
  const n = Math.min(lua.lua_rawlen(L, idx) as number, 100);
  const values: string[] = [];
  for (let i = 1; i <= n; i++) {
    lua.lua_rawgeti(L, idx, i);
    try {
      values.push(one(lua.lua_gettop(L) as number));
    } finally {
      lua.lua_pop(L, 1);
    }
  }
  return values;
}

function headerMode(text: string): HeaderMode {
  if (text === 'replace' || text === 'prepend' || text === 'append') return text;
  throw new LuaArgumentError(`argument 4 (mode) must be 'replace', 'prepend' or 'append', got '${text}'`);
}
