import { lua, type LuaState } from '../lua/fengari.ts';
import { optionValue } from '../lua/vm-internals.ts';
import { LuaArgumentError } from './errors.ts';

/**
 * Argument checking for msys functions. Every check throws LuaArgumentError,
 * which the host-function wrapper turns into a Lua error naming the function,
 * so a script sees `msys.audit.connections: argument 1 (monitor) must be a
 * string, got nil` and the session gets the configured failure mode.
 */

/** Longest string any msys argument may be: CIDRs, keys and names are short. */
export const MAX_ARG_BYTES = 4096;

const TYPE_NAMES: Record<number, string> = {
  [-1]: 'no value',
  0: 'nil',
  1: 'boolean',
  2: 'userdata',
  3: 'number',
  4: 'string',
  5: 'table',
  6: 'function',
  7: 'userdata',
  8: 'thread',
};

export function typeName(L: LuaState, idx: number): string {
  return TYPE_NAMES[lua.lua_type(L, idx) as number] ?? 'unknown';
}

function describe(pos: number, name: string): string {
  return `argument ${pos} (${name})`;
}

export function isNoneOrNil(L: LuaState, idx: number): boolean {
  return lua.lua_type(L, idx) <= 0;
}

/** A Lua string (numbers are not silently accepted where a name is expected). */
export function checkString(L: LuaState, idx: number, name: string, maxBytes = MAX_ARG_BYTES): string {
  if (lua.lua_type(L, idx) !== lua.LUA_TSTRING) {
    throw new LuaArgumentError(`${describe(idx, name)} must be a string, got ${typeName(L, idx)}`);
  }
  return toBoundedString(L, idx, name, maxBytes, idx);
}

/** A string or a number rendered as text (codes like 550 are often passed as numbers). */
export function checkStringish(L: LuaState, idx: number, name: string, maxBytes = MAX_ARG_BYTES): string {
  const t = lua.lua_type(L, idx);
  if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) {
    throw new LuaArgumentError(`${describe(idx, name)} must be a string, got ${typeName(L, idx)}`);
  }
  return toBoundedString(L, idx, name, maxBytes, idx);
}

function toBoundedString(L: LuaState, idx: number, name: string, maxBytes: number, pos: number): string {
  // Check the byte length before decoding: a 1 MB string must not be copied into JS.
  const bytes = lua.lua_rawlen(L, idx) as number;
  if (bytes > maxBytes) {
    throw new LuaArgumentError(`${describe(pos, name)} is too long (${bytes} bytes, limit ${maxBytes})`);
  }
  return lua.lua_tojsstring(L, idx) as string;
}

/** A finite number. NaN and infinities are refused: they would poison counters. */
export function checkNumber(L: LuaState, idx: number, name: string): number {
  if (lua.lua_type(L, idx) !== lua.LUA_TNUMBER) {
    throw new LuaArgumentError(`${describe(idx, name)} must be a number, got ${typeName(L, idx)}`);
  }
  return finite(lua.lua_tonumber(L, idx) as number, describe(idx, name));
}

export function finite(n: number, what: string): number {
  if (!Number.isFinite(n)) throw new LuaArgumentError(`${what} must be a finite number, got ${n}`);
  return n;
}

/**
 * Reads `tbl[key]` (table at idx) and leaves nothing on the stack. Returns the
 * Lua type of the field, calling `read` with the field at the stack top when
 * present.
 */
export function withField<T>(L: LuaState, idx: number, key: string, read: (top: number) => T): T | undefined {
  const t = lua.lua_getfield(L, idx, key) as number;
  try {
    return t === lua.LUA_TNIL ? undefined : read(lua.lua_gettop(L) as number);
  } finally {
    lua.lua_pop(L, 1);
  }
}

// The option readers below run for every audit query a script makes: they
// read the field in place rather than through withField's callback, one
// closure per option per call less. A Lua error thrown here unwinds the stack.

export function optNumberField(L: LuaState, idx: number, key: string, fn: string): number | undefined {
  // Most option tables are plain tables of numbers: read in place, no push.
  const v = optionValue(L, idx, key);
  if (v === null) return undefined;
  if (typeof v === 'number') return finite(v, `option '${key}'`);
  const t = lua.lua_getfield(L, idx, key) as number;
  if (t === lua.LUA_TNIL) {
    lua.lua_pop(L, 1);
    return undefined;
  }
  let n: number;
  if (t === lua.LUA_TNUMBER) n = finite(lua.lua_tonumber(L, -1) as number, `option '${key}'`);
  else {
    // Numeric strings ("2") are common in configs; accept them as Lua's arithmetic would.
    const fromText = t === lua.LUA_TSTRING ? Number(lua.lua_tojsstring(L, -1)) : NaN;
    if (Number.isNaN(fromText)) throw new LuaArgumentError(`option '${key}' must be a number, got ${typeName(L, -1)}`);
    n = finite(fromText, `${fn} option '${key}'`);
  }
  lua.lua_pop(L, 1);
  return n;
}

export function optBooleanField(L: LuaState, idx: number, key: string): boolean | undefined {
  const v = optionValue(L, idx, key);
  if (v === null) return undefined;
  // Lua truth: any number is true.
  if (v !== undefined) return v !== false;
  const t = lua.lua_getfield(L, idx, key) as number;
  const b = t === lua.LUA_TNIL ? undefined : (lua.lua_toboolean(L, -1) as boolean);
  lua.lua_pop(L, 1);
  return b;
}

export function optStringField(L: LuaState, idx: number, key: string, maxBytes = MAX_ARG_BYTES): string | undefined {
  return withField(L, idx, key, (top) => {
    if (lua.lua_type(L, top) !== lua.LUA_TSTRING) {
      throw new LuaArgumentError(`option '${key}' must be a string, got ${typeName(L, top)}`);
    }
    const bytes = lua.lua_rawlen(L, top) as number;
    if (bytes > maxBytes) throw new LuaArgumentError(`option '${key}' is too long (${bytes} bytes, limit ${maxBytes})`);
    return lua.lua_tojsstring(L, top) as string;
  });
}

/** Absolute stack index, so table accessors stay valid while we push. */
export function absIndex(L: LuaState, idx: number): number {
  return lua.lua_absindex(L, idx) as number;
}
