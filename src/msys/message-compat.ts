import { lauxlib, lua, to_luastring, type LuaState } from '../lua/fengari.ts';
import { hostFunction } from '../lua/marshal.ts';
import { failure } from '../lua/async-call.ts';
import { checkNumber, checkString, isNoneOrNil, typeName } from './args.ts';
import type { CompatHost } from './compat-host.ts';
import { CORE_CONSTANTS } from './constants.ts';
import { LuaArgumentError, LuaContextError } from './errors.ts';
import type { MessageRef } from './session-objects.ts';
import type { MessageState } from './session-state.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn, UserdataType } from './userdata.ts';

const MAX_ADDRESS = 512;
const MAX_RECIPIENTS = 1000;
const MAX_BUILT_BYTES = 10 * 1024 * 1024;

/** Phases in which the recipient list may change (spec §4), by phase name of policy/phases.ts. */
const ADD_PHASES = new Set(['rcptto', 'data', 'data_spool', 'rcpt_list', 'each_rcpt']);
const REMOVE_PHASES = new Set(['mailfrom', 'rcptto', 'data', 'data_spool', 'rcpt_list', 'each_rcpt']);

/**
 * Adds methods to a userdata type defined elsewhere (vctx, msg), without
 * touching its definition: the methods table is the metatable's __index, or
 * the first upvalue of an __index function (types with dynamic fields).
 */
export function addMethods(L: LuaState, type: UserdataType<unknown>, label: string, fns: Record<string, HostFn>): void {
  lauxlib.luaL_getmetatable(L, type.tname);
  lua.lua_getfield(L, -1, '__index');
  if (lua.lua_type(L, -1) === lua.LUA_TFUNCTION) {
    lua.lua_getupvalue(L, -1, 1);
    lua.lua_remove(L, -2);
  }
  if (lua.lua_type(L, -1) !== lua.LUA_TTABLE) throw new Error(`compat: ${label} has no methods table`);
  for (const [name, fn] of Object.entries(fns)) {
    lua.lua_pushcfunction(L, hostFunction(`${label}:${name}`, fn));
    lua.lua_setfield(L, -2, to_luastring(name));
  }
  lua.lua_pop(L, 2);
}

/** "<a@b>" or " a@b " → "a@b". */
function bare(text: string): string {
  const m = /<([^>]*)>/.exec(text);
  const address = (m ? m[1]! : text).trim();
  if (address === '' || /[\s<>]/.test(address)) throw new LuaArgumentError(`not a valid envelope address: '${text.slice(0, 80)}'`);
  return address;
}

/** A string or an array of strings (vctx recipient arguments). */
function addressList(L: LuaState, idx: number, name: string): string[] {
  if (lua.lua_type(L, idx) === lua.LUA_TSTRING) return [bare(checkString(L, idx, name, MAX_ADDRESS))];
  if (lua.lua_type(L, idx) !== lua.LUA_TTABLE) throw new LuaArgumentError(`argument ${idx} (${name}) must be an address or a table of addresses, got ${typeName(L, idx)}`);
  const out: string[] = [];
  const n = lua.lua_rawlen(L, idx) as number;
  if (n > MAX_RECIPIENTS) throw new LuaArgumentError(`argument ${idx} (${name}) has ${n} addresses, limit ${MAX_RECIPIENTS}`);
  for (let i = 1; i <= n; i++) {
    lua.lua_rawgeti(L, idx, i);
    if (lua.lua_type(L, -1) !== lua.LUA_TSTRING) throw new LuaArgumentError(`argument ${idx} (${name}) item ${i} must be a string, got ${typeName(L, -1)}`);
    out.push(bare(lua.lua_tojsstring(L, -1) as string));
    lua.lua_pop(L, 1);
  }
  return out;
}

function pushStringArray(L: LuaState, items: readonly string[]): void {
  lua.lua_createtable(L, items.length, 0);
  items.forEach((s, i) => {
    lua.lua_pushliteral(L, s);
    lua.lua_rawseti(L, -2, i + 1);
  });
}

/** vctx:recipient_list, vctx:add_recipient, vctx:remove_recipient (spec §4). */
export function vctxCompatMethods(host: CompatHost, types: () => MsysTypes): Record<string, HostFn> {
  const messageFor = (L: LuaState, allowed: Set<string> | undefined): MessageState => {
    const objects = types().vctx.check(L, 1);
    const message = objects.state.message;
    if (message === null) throw new LuaContextError('there is no transaction (before MAIL FROM)');
    const phase = host.current?.phase;
    if (allowed !== undefined) {
      if (message.recipientsFinal) throw new LuaContextError('the recipient list is final (after validate_rcptto_list_final)');
      if (phase === undefined || !allowed.has(phase)) throw new LuaContextError(`not allowed in the ${phase ?? 'current'} phase`);
    }
    return message;
  };
  return {
    recipient_list: (L) => {
      if (isNoneOrNil(L, 2)) {
        const message = messageFor(L, undefined);
        pushStringArray(L, message.recipients);
        return 1;
      }
      if (host.current?.phase === 'rcptto') throw new LuaContextError('cannot replace the list in validate_rcptto');
      const message = messageFor(L, ADD_PHASES);
      const list = addressList(L, 2, 'addresses');
      message.recipients.splice(0, message.recipients.length, ...list);
      return 0;
    },
    add_recipient: (L) => {
      const message = messageFor(L, ADD_PHASES);
      const list = addressList(L, 2, 'address');
      if (message.recipients.length + list.length > MAX_RECIPIENTS) throw new LuaArgumentError(`a message may have at most ${MAX_RECIPIENTS} recipients`);
      message.recipients.push(...list);
      return 0;
    },
    remove_recipient: (L) => {
      const message = messageFor(L, REMOVE_PHASES);
      for (const a of addressList(L, 2, 'address')) {
        const i = message.recipients.indexOf(a);
        if (i >= 0) message.recipients.splice(i, 1);
      }
      return 0;
    },
  };
}

/** msg:discard, msg:get_envelope2, msg:build, msg:inject. */
export function msgCompatMethods(host: CompatHost, types: () => MsysTypes): Record<string, HostFn> {
  const msg = (L: LuaState): MessageRef => types().msg.check(L, 1);
  return {
    // In a per-recipient phase the current copy is dropped, otherwise the whole message; the client still gets 250.
    discard: (L) => {
      const { message } = msg(L);
      if (message.currentRcpt !== undefined && message.discarded !== 'all') {
        const copies = message.discarded instanceof Set ? message.discarded : new Set<string>();
        copies.add(message.currentRcpt);
        message.discarded = copies;
      } else {
        message.discarded = 'all';
      }
      return 0;
    },
    get_envelope2: (L) => {
      const { message } = msg(L);
      const which = checkNumber(L, 2, 'which');
      let value: string | undefined;
      if (which === CORE_CONSTANTS['EC_MSG_ENV_FROM']) value = message.mailFrom;
      else if (which === CORE_CONSTANTS['EC_MSG_ENV_TO']) value = message.currentRcpt ?? message.recipients[0];
      else throw new LuaArgumentError(`argument 2 (which) must be msys.core.EC_MSG_ENV_FROM or EC_MSG_ENV_TO, got ${which}`);
      if (value === undefined) lua.lua_pushnil(L);
      else lua.lua_pushliteral(L, value);
      return 1;
    },
    // build(headers, body): headers a {Name = value} map (sorted by name) or an array of "Name: value" lines.
    build: (L) => {
      const ref = msg(L);
      if (lua.lua_type(L, 2) !== lua.LUA_TTABLE) throw new LuaArgumentError(`argument 2 (headers) must be a table, got ${typeName(L, 2)}`);
      const lines: string[] = [];
      const named: [string, string][] = [];
      lua.lua_pushnil(L);
      while (lua.lua_next(L, 2) !== 0) {
        const kt = lua.lua_type(L, -2);
        const vt = lua.lua_type(L, -1);
        if (vt !== lua.LUA_TSTRING && vt !== lua.LUA_TNUMBER) throw new LuaArgumentError(`argument 2 (headers): values must be strings, got ${typeName(L, -1)}`);
        const v = lua.lua_tojsstring(L, -1) as string;
        if (kt === lua.LUA_TNUMBER) lines.push(v);
        else named.push([lua.lua_tojsstring(L, -2) as string, v]);
        lua.lua_pop(L, 1);
      }
      named.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const headerLines = [...lines, ...named.map(([k, v]) => `${k}: ${v}`)];
      for (const h of headerLines) {
        if (!/^[!-9;-~]+:/.test(h) || /[\r\n]/.test(h)) throw new LuaArgumentError(`argument 2 (headers): not a header line: '${h.slice(0, 80)}'`);
      }
      let body = '';
      if (lua.lua_type(L, 3) === lua.LUA_TSTRING) body = lua.lua_tojsstring(L, 3) as string;
      else if (lua.lua_type(L, 3) === lua.LUA_TTABLE) {
        const n = lua.lua_rawlen(L, 3) as number;
        const parts: string[] = [];
        for (let i = 1; i <= n; i++) {
          lua.lua_rawgeti(L, 3, i);
          parts.push(String(lua.lua_tojsstring(L, -1) ?? ''));
          lua.lua_pop(L, 1);
        }
        body = parts.join('\r\n');
      } else if (!isNoneOrNil(L, 3)) throw new LuaArgumentError(`argument 3 (body) must be a string or a table of lines, got ${typeName(L, 3)}`);
      const raw = Buffer.from(`${headerLines.join('\r\n')}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}${body.endsWith('\n') ? '' : '\r\n'}`, 'utf8');
      if (raw.length > MAX_BUILT_BYTES) throw new LuaArgumentError(`the built message is ${raw.length} bytes, limit ${MAX_BUILT_BYTES}`);
      ref.message.raw = raw;
      delete ref.message.body;
      lua.lua_pushboolean(L, true);
      return 1;
    },
    // inject([mailfrom [, rcpts]]): hands a message to the configured sink; suspends until it answers.
    inject: (L) => {
      const { message } = msg(L);
      if (!isNoneOrNil(L, 2)) message.mailFrom = bare(checkString(L, 2, 'mailfrom', MAX_ADDRESS));
      if (!isNoneOrNil(L, 3)) message.recipients.splice(0, message.recipients.length, ...addressList(L, 3, 'recipients'));
      if (message.raw === undefined) throw new LuaContextError('the message has no content (call msg:build first)');
      if (message.recipients.length === 0) throw new LuaContextError('the message has no recipients');
      if (!host.calls.canSuspend(L)) throw new LuaContextError('this call waits, and can only be called inside a phase callout');
      const sink = host.services.inject;
      const out = { mailFrom: message.mailFrom, recipients: [...message.recipients], raw: message.raw };
      return host.calls.suspend(L, async () => {
        if (sink === undefined) return failure('no sink configured for injected messages');
        await sink(out);
        return (Ls) => {
          lua.lua_pushboolean(Ls, true);
          return 1;
        };
      });
    },
  };
}

/** msys.core.ec_message_new([now]): a new, empty message for msg:build and msg:inject. */
export function ecMessageNew(host: CompatHost, types: () => MsysTypes): HostFn {
  let n = 0;
  return (L) => {
    const current = host.current;
    if (current === null) throw new LuaContextError('needs a session (call it from a phase callout)');
    const message: MessageState = { id: `${current.objects.state.id}.new${++n}`, mailFrom: '', recipients: [] };
    types().msg.push(L, { session: current.objects, message });
    return 1;
  };
}
