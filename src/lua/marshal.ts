import { errorMessage } from '../errors.ts';
import { MarshalError } from './errors.ts';
import { lauxlib, lua, to_jsstring, to_luastring, type LuaState } from './fengari.ts';

/** A JS function callable from Lua: reads its arguments from L, pushes results, returns their count. */
export type LuaCFunction = (L: LuaState) => number;

export type LuaJsValue = null | boolean | number | string | LuaJsValue[] | { [key: string]: LuaJsValue };

export const DEFAULT_MAX_DEPTH = 16;

/**
 * Pushes a JS value. Numbers always go in as floats: Fengari's integers are
 * 32-bit and wrap, and with LUA_COMPAT_FLOATSTRING an integral float still
 * prints as "5". Arrays become 1-based sequences, plain objects tables;
 * undefined and null become nil (an array hole stays a hole).
 * Throws MarshalError for functions, symbols, bigints, class instances and
 * structures deeper than maxDepth (which includes cycles).
 */
export function pushValue(L: LuaState, value: unknown, maxDepth: number = DEFAULT_MAX_DEPTH): void {
  const top = lua.lua_gettop(L);
  try {
    push(L, value, maxDepth);
  } catch (err) {
    lua.lua_settop(L, top);
    throw err;
  }
}

function push(L: LuaState, value: unknown, depth: number): void {
  switch (typeof value) {
    case 'number':
      lua.lua_pushnumber(L, value);
      return;
    case 'string':
      lua.lua_pushstring(L, to_luastring(value));
      return;
    case 'boolean':
      lua.lua_pushboolean(L, value);
      return;
    case 'undefined':
      lua.lua_pushnil(L);
      return;
    case 'object':
      break;
    default:
      throw new MarshalError(`cannot pass a ${typeof value} to Lua`);
  }
  if (value === null) {
    lua.lua_pushnil(L);
    return;
  }
  if (value instanceof Uint8Array) {
    lua.lua_pushstring(L, value);
    return;
  }
  if (depth <= 0) throw new MarshalError('value is nested too deeply (or cyclic) to pass to Lua');
  lauxlib.luaL_checkstack(L, 3, null);
  if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined || value[i] === null) continue;
      push(L, value[i], depth - 1);
      lua.lua_rawseti(L, -2, i + 1);
    }
    return;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new MarshalError(`cannot pass a ${(value as object).constructor?.name ?? 'class'} instance to Lua`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  lua.lua_createtable(L, 0, entries.length);
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    lua.lua_pushstring(L, to_luastring(k));
    push(L, v, depth - 1);
    lua.lua_rawset(L, -3);
  }
}

/**
 * Reads the Lua value at idx. Tables whose keys are exactly 1..n become arrays,
 * other tables objects (keys stringified; an empty table is {}); nil is null.
 * Throws MarshalError for functions, userdata, threads, keys that are neither
 * strings nor numbers, and tables nested deeper than maxDepth. Metamethods are
 * not consulted: this is a snapshot of the raw data.
 */
export function readValue(L: LuaState, idx: number, maxDepth: number = DEFAULT_MAX_DEPTH): LuaJsValue {
  return read(L, lua.lua_absindex(L, idx), maxDepth);
}

function read(L: LuaState, idx: number, depth: number): LuaJsValue {
  switch (lua.lua_type(L, idx)) {
    case lua.LUA_TNIL:
    case lua.LUA_TNONE:
      return null;
    case lua.LUA_TBOOLEAN:
      return lua.lua_toboolean(L, idx);
    case lua.LUA_TNUMBER:
      return lua.lua_tonumber(L, idx);
    case lua.LUA_TSTRING:
      return lua.lua_tojsstring(L, idx);
    case lua.LUA_TTABLE:
      return readTable(L, idx, depth);
    default:
      throw new MarshalError(`cannot read a Lua ${to_jsstring(lauxlib.luaL_typename(L, idx))} into JS`);
  }
}

function readTable(L: LuaState, idx: number, depth: number): LuaJsValue {
  if (depth <= 0) throw new MarshalError('Lua table is nested too deeply (or cyclic) to read');
  lauxlib.luaL_checkstack(L, 3, null);
  const entries: Array<[string | number, LuaJsValue]> = [];
  let sequence = true;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, idx) !== 0) {
    const keyType = lua.lua_type(L, -2);
    let key: string | number;
    if (keyType === lua.LUA_TNUMBER) {
      key = lua.lua_tonumber(L, -2);
    } else if (keyType === lua.LUA_TSTRING) {
      key = lua.lua_tojsstring(L, -2)!;
      sequence = false;
    } else {
      const typeName = to_jsstring(lauxlib.luaL_typename(L, -2));
      lua.lua_pop(L, 2);
      throw new MarshalError(`cannot read a table with a ${typeName} key into JS`);
    }
    try {
      entries.push([key, read(L, lua.lua_gettop(L), depth - 1)]);
    } catch (err) {
      lua.lua_pop(L, 2);
      throw err;
    }
    lua.lua_pop(L, 1);
  }
  if (sequence && entries.length > 0) {
    const arr: LuaJsValue[] = new Array<LuaJsValue>(entries.length);
    let filled = 0;
    for (const [k, v] of entries) {
      const i = k as number;
      if (!Number.isInteger(i) || i < 1 || i > entries.length || arr[i - 1] !== undefined) break;
      arr[i - 1] = v;
      filled++;
    }
    if (filled === entries.length) return arr;
  }
  const obj: { [key: string]: LuaJsValue } = {};
  for (const [k, v] of entries) obj[String(k)] = v;
  return obj;
}

/**
 * Wraps a host function so nothing it throws escapes as a JS exception: an
 * Error (MoonwatchError included) becomes the Lua error "name: message" at the
 * calling script's position, which pcall can catch and the VM reports as a
 * runtime fault. Lua's own errors (luaL_checkstring and friends) pass through.
 */
export function hostFunction(name: string, fn: LuaCFunction): LuaCFunction {
  return (L: LuaState) => {
    try {
      return fn(L);
    } catch (err) {
      if (!isJsError(err)) throw err;
      lauxlib.luaL_where(L, 1);
      lua.lua_pushstring(L, to_luastring(`${name}: ${errorMessage(err)}`));
      lua.lua_concat(L, 2);
      return lua.lua_error(L);
    }
  };
}

/**
 * Fengari raises Lua errors (and yields) by throwing its own non-Error jump
 * record; anything that is an Error came from JS code.
 */
export function isJsError(err: unknown): boolean {
  return err instanceof Error;
}
