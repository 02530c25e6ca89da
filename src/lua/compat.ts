import { lauxlib, lua, to_jsstring, to_luastring, type LuaState } from './fengari.ts';
import { runHostLua } from './host-lua.ts';

/**
 * Lua 5.1 as Momentum scripts use it, on Fengari's 5.3: module/package.seeall,
 * setfenv/getfenv over the _ENV upvalue, unpack, table.getn, math.mod, float
 * results from math.floor/ceil, and string.format's %d of any number. (Loading
 * — load, loadstring, require — lives in sources.ts.)
 */

type LuaCFunction = (L: LuaState) => number;

const ENV = '_ENV';

export function installCompat(L: LuaState): void {
  const envFactory = makeEnvFactory(L);
  // unpack, table.getn and math.mod read better in Lua: lua/compat51.lua.
  runHostLua(L, 'compat51.lua');
  lua.lua_pop(L, 1);
  lua.lua_pushglobaltable(L);
  setFunction(L, 'module', (L1) => moduleFn(L1, envFactory));
  setFunction(L, 'setfenv', (L1) => setfenv(L1, envFactory));
  setFunction(L, 'getfenv', getfenv);
  lua.lua_getfield(L, -1, 'math');
  floatResult(L, 'floor');
  floatResult(L, 'ceil');
  lua.lua_pop(L, 1);

  // package is built here rather than by luaopen_package, which would bring
  // the filesystem searchers, loadlib and the path variables with it.
  lua.lua_createtable(L, 0, 3);
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE);
  lua.lua_pushvalue(L, -2);
  lua.lua_setfield(L, -2, 'package');
  lua.lua_setfield(L, -2, 'loaded');
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_PRELOAD_TABLE);
  lua.lua_setfield(L, -2, 'preload');
  setFunction(L, 'seeall', seeall);
  lua.lua_setfield(L, -2, 'package');
  lua.lua_pop(L, 1);
}

function setFunction(L: LuaState, name: string, f: LuaCFunction): void {
  lua.lua_pushcfunction(L, f);
  lua.lua_setfield(L, -2, name);
}

/**
 * A Lua function that returns a new closure whose only upvalue holds its
 * argument. Joining a function's _ENV to that upvalue gives it an environment
 * of its own, as 5.1's setfenv did, without touching other closures that
 * share the original _ENV.
 */
function makeEnvFactory(L: LuaState): number {
  const src = to_luastring('local env = ... return function() return env end');
  if (lauxlib.luaL_loadbufferx(L, src, src.length, to_luastring('=(env)'), to_luastring('t')) !== lua.LUA_OK) {
    throw new Error(`compat: env factory did not compile: ${lua.lua_tojsstring(L, -1)}`);
  }
  return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
}

/** Index of the _ENV upvalue of the function at `fn`, or 0 if it uses no globals. */
function envUpvalue(L: LuaState, fn: number): number {
  for (let n = 1; ; n++) {
    const name = lua.lua_getupvalue(L, fn, n);
    if (name === null) return 0;
    lua.lua_pop(L, 1);
    if (to_jsstring(name) === ENV) return n;
  }
}

/** Gives the Lua function at `fn` the table at `table` as its own environment. */
function setEnv(L: LuaState, fn: number, table: number, factory: number): void {
  fn = lua.lua_absindex(L, fn);
  table = lua.lua_absindex(L, table);
  if (lua.lua_iscfunction(L, fn)) lauxlib.luaL_error(L, to_luastring("'setfenv' cannot change environment of given object"));
  const up = envUpvalue(L, fn);
  if (up === 0) return;
  lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, factory);
  lua.lua_pushvalue(L, table);
  lua.lua_call(L, 1, 1);
  lua.lua_upvaluejoin(L, fn, up, -1, 1);
  lua.lua_pop(L, 1);
}

/** Pushes the function a 5.1 "level" argument designates (1 = the caller of setfenv/getfenv). */
function pushFunctionAt(L: LuaState, arg: number, what: string): void {
  if (lua.lua_isfunction(L, arg)) {
    lua.lua_pushvalue(L, arg);
    return;
  }
  const level = lauxlib.luaL_optinteger(L, arg, 1);
  lauxlib.luaL_argcheck(L, level >= 1, arg, to_luastring(`level must be positive (${what}(0) is not supported)`));
  const ar = new lua.lua_Debug();
  if (lua.lua_getstack(L, level, ar) === 0) lauxlib.luaL_argerror(L, arg, to_luastring('invalid level'));
  lua.lua_getinfo(L, to_luastring('f'), ar);
}

function setfenv(L: LuaState, factory: number): number {
  lauxlib.luaL_checktype(L, 2, lua.LUA_TTABLE);
  pushFunctionAt(L, 1, 'setfenv');
  setEnv(L, -1, 2, factory);
  return 1;
}

function getfenv(L: LuaState): number {
  if (lua.lua_isnoneornil(L, 1) || !(lua.lua_isnumber(L, 1) && lua.lua_tonumber(L, 1) === 0)) {
    pushFunctionAt(L, 1, 'getfenv');
    const up = lua.lua_iscfunction(L, -1) ? 0 : envUpvalue(L, -1);
    if (up !== 0) {
      lua.lua_getupvalue(L, -1, up);
      return 1;
    }
  }
  lua.lua_pushglobaltable(L);
  return 1;
}

function seeall(L: LuaState): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  if (!lua.lua_getmetatable(L, 1)) {
    lua.lua_createtable(L, 0, 1);
    lua.lua_pushvalue(L, -1);
    lua.lua_setmetatable(L, 1);
  }
  lua.lua_pushglobaltable(L);
  lua.lua_setfield(L, -2, '__index');
  return 0;
}

/**
 * module(name, ...): find or create the table path `name` under _G, register
 * it in package.loaded, fill in _M/_NAME/_PACKAGE, make it the environment of
 * the calling chunk (so its later globals land in it), then apply the options.
 */
function moduleFn(L: LuaState, factory: number): number {
  const name = to_jsstring(lauxlib.luaL_checkstring(L, 1) as Uint8Array);
  const nopts = lua.lua_gettop(L);
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE);
  const loaded = lua.lua_gettop(L);
  if (lua.lua_getfield(L, loaded, name) !== lua.LUA_TTABLE) {
    lua.lua_pop(L, 1);
    lua.lua_pushglobaltable(L);
    for (const part of name.split('.')) {
      const t = lua.lua_getfield(L, -1, part);
      if (t === lua.LUA_TNIL) {
        lua.lua_pop(L, 1);
        lua.lua_createtable(L, 0, 0);
        lua.lua_pushvalue(L, -1);
        lua.lua_setfield(L, -3, part);
      } else if (t !== lua.LUA_TTABLE) {
        lauxlib.luaL_error(L, to_luastring('name conflict for module %s'), lua.lua_tostring(L, 1));
      }
      lua.lua_remove(L, -2);
    }
    lua.lua_pushvalue(L, -1);
    lua.lua_setfield(L, loaded, name);
  }
  const mod = lua.lua_gettop(L);
  if (lua.lua_getfield(L, mod, '_NAME') === lua.LUA_TNIL) {
    lua.lua_pushvalue(L, mod);
    lua.lua_setfield(L, mod, '_M');
    lua.lua_pushvalue(L, 1);
    lua.lua_setfield(L, mod, '_NAME');
    const dot = name.lastIndexOf('.');
    lua.lua_pushstring(L, to_luastring(dot < 0 ? '' : name.slice(0, dot + 1)));
    lua.lua_setfield(L, mod, '_PACKAGE');
  }
  lua.lua_pop(L, 1);
  const ar = new lua.lua_Debug();
  if (lua.lua_getstack(L, 1, ar) === 0 || (lua.lua_getinfo(L, to_luastring('f'), ar), lua.lua_iscfunction(L, -1))) {
    return lauxlib.luaL_error(L, to_luastring("'module' not called from a Lua function"));
  }
  setEnv(L, -1, mod, factory);
  lua.lua_pop(L, 1);
  for (let i = 2; i <= nopts; i++) {
    lua.lua_pushvalue(L, i);
    lua.lua_pushvalue(L, mod);
    lua.lua_call(L, 1, 0);
  }
  return 0;
}


/**
 * 5.1's math.floor/ceil return doubles; Fengari's return 32-bit integers, and
 * a product of two of them wraps.
 */
function floatResult(L: LuaState, name: string): void {
  lua.lua_getfield(L, -1, name);
  const f = lua.lua_tocfunction(L, -1) as LuaCFunction;
  lua.lua_pop(L, 1);
  setFunction(L, name, (L1) => {
    const n = f(L1);
    if (lua.lua_isinteger(L1, -1)) {
      const v = lua.lua_tointeger(L1, -1);
      lua.lua_pop(L1, 1);
      lua.lua_pushnumber(L1, v);
    }
    return n;
  });
}

/* ------------------------------------------------------------------------ *
 * string.format as 5.1 scripts expect it, and the size bound budget.ts
 * checks before formatting.
 * ------------------------------------------------------------------------ */

const codes = (chars: string) => new Set(chars.split('').map((ch) => ch.charCodeAt(0)));
const INTEGER_CONVERSIONS = codes('diouxXc');
const FIXED_CONVERSIONS = codes('fF');
const FLOAT_CONVERSIONS = codes('aAeEgG');
const FLAGS = codes('-+ #0');
const INT32_MAX = 2 ** 31 - 1;

/** Longest text one numeric conversion can print, before width padding. */
function numberBound(conv: number, precision: number): number {
  const digits = precision < 0 ? 6 : precision;
  if (INTEGER_CONVERSIONS.has(conv)) return 32;
  if (FIXED_CONVERSIONS.has(conv)) return 320 + digits; // %f of 1e308 has 309 integer digits
  if (FLOAT_CONVERSIONS.has(conv)) return 32 + digits;
  return 0;
}

/**
 * Readies string.format's arguments and returns an upper bound of its result.
 *
 * %d and %i take any finite number, truncated, as 5.1 did: 5.3 rejects 2.5,
 * and Fengari's 32-bit integers reject every count or millisecond timestamp
 * past 2^31. Such conversions are formatted here and passed on as %s.
 * Non-string %s arguments are converted here too (once, so a __tostring runs
 * once), which is what format itself would have printed.
 */
export function prepareFormat(L: LuaState): number {
  const fmt = lauxlib.luaL_checklstring(L, 1) as Uint8Array;
  const rewritten: Array<Uint8Array | string> = [];
  let copied = 0;
  let bound = fmt.length;
  let arg = 1;
  for (let i = 0; i < fmt.length; i++) {
    if (fmt[i] !== 37 /* % */) continue;
    const start = i++;
    if (fmt[i] === 37) continue;
    let flags = '';
    while (i < fmt.length && FLAGS.has(fmt[i]!)) flags += String.fromCharCode(fmt[i++]!);
    let width = 0;
    while (i < fmt.length && fmt[i]! >= 48 && fmt[i]! <= 57) width = width * 10 + fmt[i++]! - 48;
    let precision = -1;
    if (fmt[i] === 46 /* . */) {
      precision = 0;
      i++;
      while (i < fmt.length && fmt[i]! >= 48 && fmt[i]! <= 57) precision = precision * 10 + fmt[i++]! - 48;
    }
    const conv = fmt[i];
    arg++;
    if (conv === undefined || lua.lua_type(L, arg) === lua.LUA_TNONE) break; // format reports it
    if (conv === 115 /* s */) {
      if (lua.lua_type(L, arg) !== lua.LUA_TSTRING) {
        lauxlib.luaL_tolstring(L, arg);
        lua.lua_replace(L, arg);
      }
      const len = (lua.lua_tostring(L, arg) as Uint8Array).length;
      bound += Math.max(width, precision >= 0 ? Math.min(precision, len) : len);
    } else if (conv === 113 /* q */) {
      // Every byte may become a \ddd escape; numbers print as hex floats at most ~32 long.
      const t = lua.lua_type(L, arg);
      bound += t === lua.LUA_TSTRING ? 4 * (lua.lua_tostring(L, arg) as Uint8Array).length + 2 : 32;
    } else if ((conv === 100 /* d */ || conv === 105 /* i */) && needsWideInteger(L, arg)) {
      const text = formatInteger(lua.lua_tonumber(L, arg), flags, width, precision);
      lua.lua_pushstring(L, to_luastring(text));
      lua.lua_replace(L, arg);
      rewritten.push(fmt.subarray(copied, start), '%s');
      copied = i + 1;
      bound += text.length;
    } else {
      bound += Math.max(width, numberBound(conv, precision));
    }
  }
  if (rewritten.length > 0) {
    rewritten.push(fmt.subarray(copied));
    const parts = rewritten.map((p) => (typeof p === 'string' ? to_luastring(p) : p));
    lua.lua_pushstring(L, new Uint8Array(Buffer.concat(parts)));
    lua.lua_replace(L, 1);
  }
  return bound;
}

function needsWideInteger(L: LuaState, arg: number): boolean {
  if (lua.lua_type(L, arg) !== lua.LUA_TNUMBER || lua.lua_isinteger(L, arg)) return false;
  const n = lua.lua_tonumber(L, arg);
  return Number.isFinite(n) && (!Number.isInteger(n) || Math.abs(n) > INT32_MAX);
}

/** C's %d with flags, width and precision, for a number truncated toward zero. */
function formatInteger(n: number, flags: string, width: number, precision: number): string {
  const t = Math.trunc(n);
  let digits = t === 0 && precision === 0 ? '' : (t < 0 ? -BigInt(t) : BigInt(t)).toString();
  if (precision > 0) digits = digits.padStart(precision, '0');
  const sign = t < 0 ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
  const body = sign + digits;
  if (body.length >= width) return body;
  if (flags.includes('-')) return body.padEnd(width);
  if (flags.includes('0') && precision < 0) return sign + digits.padStart(width - sign.length, '0');
  return body.padStart(width);
}
