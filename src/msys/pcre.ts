import { lua, type LuaState } from '../lua/fengari.ts';
import { isNoneOrNil, typeName } from './args.ts';
import { LuaArgumentError } from './errors.ts';
import { PcrePatternError, translatePcre } from './pcre-translate.ts';
import type { HostFn } from './userdata.ts';

/** Longest subject msys.pcre works on: bounds the cost of any accepted pattern. */
export const MAX_PCRE_SUBJECT = 256 * 1024;
const MAX_PATTERN = 4096;
const CACHE_SIZE = 256;

/** Lua string bytes as a latin1 JS string (one char per byte). */
function bytesArg(L: LuaState, idx: number, name: string, max: number): string {
  const t = lua.lua_type(L, idx);
  if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) {
    throw new LuaArgumentError(`argument ${idx} (${name}) must be a string, got ${typeName(L, idx)}`);
  }
  const bytes = lua.lua_tolstring(L, idx) as Uint8Array;
  if (bytes.length > max) throw new LuaArgumentError(`argument ${idx} (${name}) is too long (${bytes.length} bytes, limit ${max})`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

function pushBytes(L: LuaState, s: string): void {
  lua.lua_pushstring(L, new Uint8Array(Buffer.from(s, 'latin1')));
}

/**
 * msys.pcre: match, replace, split. Compiled patterns are cached per VM
 * (scripts pass the same literal patterns on every call).
 */
export function pcreFunctions(): Record<string, HostFn> {
  const cache = new Map<string, RegExp>();
  const compile = (L: LuaState, patIdx: number, optIdx: number, global: boolean): RegExp => {
    const pattern = bytesArg(L, patIdx, 'pattern', MAX_PATTERN);
    const options = isNoneOrNil(L, optIdx) ? '' : bytesArg(L, optIdx, 'options', 16);
    const key = `${global ? 'g' : ''}${options}/${pattern}`;
    let re = cache.get(key);
    if (re === undefined) {
      try {
        const t = translatePcre(pattern, options);
        re = new RegExp(t.source, t.flags + (global ? 'g' : ''));
      } catch (err) {
        const why = err instanceof PcrePatternError || err instanceof SyntaxError ? err.message : String(err);
        throw new LuaArgumentError(`bad pattern '${pattern}': ${why}`);
      }
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, re);
    }
    re.lastIndex = 0;
    return re;
  };

  return {
    // match(subject, pattern [, options]) → { [0]=whole, [1..n]=groups, name=group } or nil.
    match: (L) => {
      const subject = bytesArg(L, 1, 'subject', MAX_PCRE_SUBJECT);
      const m = compile(L, 2, 3, false).exec(subject);
      if (m === null) {
        lua.lua_pushnil(L);
        return 1;
      }
      lua.lua_createtable(L, m.length, 0);
      for (let i = 0; i < m.length; i++) {
        const v = m[i];
        if (v === undefined) continue; // a group that did not take part stays nil
        pushBytes(L, v);
        lua.lua_rawseti(L, -2, i);
      }
      for (const [name, v] of Object.entries(m.groups ?? {})) {
        if (v === undefined) continue;
        pushBytes(L, v);
        lua.lua_setfield(L, -2, name);
      }
      return 1;
    },
    // replace(subject, pattern, replacement [, options]) → new string, count. Every match is replaced.
    replace: (L) => {
      const subject = bytesArg(L, 1, 'subject', MAX_PCRE_SUBJECT);
      const re = compile(L, 2, 4, true);
      const replacement = bytesArg(L, 3, 'replacement', MAX_PATTERN);
      let count = 0;
      const result = subject.replace(re, (...args: unknown[]) => {
        count++;
        const hasGroups = typeof args[args.length - 1] === 'object';
        const groups = (hasGroups ? args[args.length - 1] : undefined) as Record<string, string | undefined> | undefined;
        const caps = args.slice(0, hasGroups ? -3 : -2) as (string | undefined)[];
        return expandReplacement(replacement, caps, groups);
      });
      pushBytes(L, result);
      lua.lua_pushnumber(L, count);
      return 2;
    },
    // split(subject, pattern [, options]) → array of the pieces between matches (captures are not included).
    split: (L) => {
      const subject = bytesArg(L, 1, 'subject', MAX_PCRE_SUBJECT);
      const re = compile(L, 2, 3, true);
      lua.lua_createtable(L, 0, 0);
      let last = 0;
      let n = 0;
      for (let m = re.exec(subject); m !== null; m = re.exec(subject)) {
        if (m[0].length === 0) {
          // An empty match splits between characters; step on to avoid looping forever.
          if (m.index >= subject.length) break;
          re.lastIndex = m.index + 1;
          if (m.index === 0) continue;
        }
        pushBytes(L, subject.slice(last, m.index));
        lua.lua_rawseti(L, -2, ++n);
        last = m.index + m[0].length;
      }
      pushBytes(L, subject.slice(last));
      lua.lua_rawseti(L, -2, ++n);
      return 1;
    },
  };
}

/** $0..$99, ${n}, ${name}, \0..\9 and $$ in a replacement. */
function expandReplacement(rep: string, caps: (string | undefined)[], groups: Record<string, string | undefined> | undefined): string {
  return rep.replace(/\$\$|\$\{(\w+)\}|\$(\d{1,2})|\\(\d)/g, (all, braced: string | undefined, dollar: string | undefined, slash: string | undefined) => {
    if (all === '$$') return '$';
    const ref = braced ?? dollar ?? slash!;
    if (/^\d+$/.test(ref)) return caps[Number(ref)] ?? '';
    return groups?.[ref] ?? '';
  });
}
