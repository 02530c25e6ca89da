import type { Clock } from '../clock.ts';
import { lauxlib, lua, lualib, to_jsstring, to_luastring, type LuaState } from './fengari.ts';

/**
 * Everything a script can reach, as data: a global is either a plain value or
 * function (`true`) or a library table with exactly the listed members. The
 * sandbox is built by opening the libraries and then deleting every name not
 * listed here, so a Fengari upgrade that adds a function cannot widen it.
 * `io` (when allowIo is set) is exposed as Fengari provides it and is not listed.
 */
export const SANDBOX_GLOBALS: Readonly<Record<string, true | readonly string[]>> = Object.freeze({
  _G: true,
  _VERSION: true,
  assert: true,
  collectgarbage: true,
  error: true,
  getfenv: true,
  getmetatable: true,
  ipairs: true,
  load: true,
  loadstring: true,
  module: true,
  next: true,
  pairs: true,
  pcall: true,
  print: true,
  rawequal: true,
  rawget: true,
  rawlen: true,
  rawset: true,
  require: true,
  select: true,
  setfenv: true,
  setmetatable: true,
  tonumber: true,
  tostring: true,
  type: true,
  unpack: true,
  xpcall: true,
  coroutine: Object.freeze(['create', 'isyieldable', 'resume', 'running', 'status', 'wrap', 'yield']),
  math: Object.freeze([
    'abs', 'acos', 'asin', 'atan', 'ceil', 'cos', 'deg', 'exp', 'floor', 'fmod', 'huge', 'log', 'max',
    'maxinteger', 'min', 'mininteger', 'mod', 'modf', 'pi', 'rad', 'random', 'randomseed', 'sin', 'sqrt',
    'tan', 'tointeger', 'type', 'ult',
  ]),
  os: Object.freeze(['clock', 'date', 'difftime', 'time']),
  package: Object.freeze(['loaded', 'preload', 'seeall']),
  string: Object.freeze([
    'byte', 'char', 'find', 'format', 'gmatch', 'gsub', 'len', 'lower', 'match', 'pack', 'packsize', 'rep',
    'reverse', 'sub', 'unpack', 'upper',
  ]),
  table: Object.freeze(['concat', 'getn', 'insert', 'move', 'pack', 'remove', 'sort', 'unpack']),
  utf8: Object.freeze(['char', 'charpattern', 'codepoint', 'codes', 'len', 'offset']),
});

export interface SandboxOptions {
  allowIo: boolean;
  /** Time for os.time() and os.date() without a time argument. */
  clock: Clock;
  /** Where print(...) goes: the arguments tostring'ed and joined by a tab. */
  print: (text: string) => void;
}

type LuaCFunction = (L: LuaState) => number;

// A function, not a constant: fengari is loaded by the first VM, after this module is imported.
const libraries = (): ReadonlyArray<[string, LuaCFunction]> => [
  ['_G', lualib.luaopen_base],
  ['coroutine', lualib.luaopen_coroutine],
  ['table', lualib.luaopen_table],
  ['string', lualib.luaopen_string],
  ['math', lualib.luaopen_math],
  ['utf8', lualib.luaopen_utf8],
  ['os', lualib.luaopen_os],
];

/**
 * Opens the allowed libraries (never debug, package's loaders or Fengari's JS
 * bridge) and replaces the base functions that touch the host. Call
 * pruneToAllowList once every shim is installed.
 */
export function openSandbox(L: LuaState, opts: SandboxOptions): void {
  const libs = opts.allowIo ? [...libraries(), ['io', lualib.luaopen_io] as [string, LuaCFunction]] : libraries();
  for (const [name, open] of libs) {
    lauxlib.luaL_requiref(L, to_luastring(name), open, 1);
    lua.lua_pop(L, 1);
  }
  lua.lua_pushglobaltable(L);
  setFunction(L, 'print', (L1) => {
    const n = lua.lua_gettop(L1);
    const parts: string[] = [];
    for (let i = 1; i <= n; i++) {
      parts.push(lua.lua_tojsstring(L1, pushToString(L1, i))!);
      lua.lua_pop(L1, 1);
    }
    opts.print(parts.join('\t'));
    return 0;
  });
  setFunction(L, 'collectgarbage', collectgarbage);
  const tonumber = fieldFunction(L, 'tonumber');
  setFunction(L, 'tonumber', (L1) => {
    const n = tonumber(L1);
    // 5.1 has only doubles, and Fengari's 32-bit integers would wrap products of parsed counts.
    if (lua.lua_isinteger(L1, -1)) {
      const v = lua.lua_tointeger(L1, -1);
      lua.lua_pop(L1, 1);
      lua.lua_pushnumber(L1, v);
    }
    return n;
  });
  lua.lua_pop(L, 1);
  installClockedOs(L, opts.clock);
}

/** Deletes every global and library member SANDBOX_GLOBALS does not list; throws if one is missing. */
export function pruneToAllowList(L: LuaState, opts: { allowIo: boolean }): void {
  lua.lua_pushglobaltable(L);
  pruneTable(L, new Set([...Object.keys(SANDBOX_GLOBALS), ...(opts.allowIo ? ['io'] : [])]), '_G');
  for (const [name, members] of Object.entries(SANDBOX_GLOBALS)) {
    if (members === true) continue;
    lua.lua_getfield(L, -1, name);
    pruneTable(L, new Set(members), name);
    lua.lua_pop(L, 1);
  }
  lua.lua_pop(L, 1);
  // package.loaded must not hand out a library that is not a global.
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE);
  lua.lua_pushnil(L);
  const stale: string[] = [];
  while (lua.lua_next(L, -2) !== 0) {
    lua.lua_pop(L, 1);
    const key = lua.lua_tojsstring(L, -1) ?? '';
    if (key !== '_G' && !(key in SANDBOX_GLOBALS) && !(opts.allowIo && key === 'io')) stale.push(key);
  }
  for (const key of stale) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, -2, key);
  }
  lua.lua_pop(L, 1);
}

function pruneTable(L: LuaState, allowed: ReadonlySet<string>, what: string): void {
  if (!lua.lua_istable(L, -1)) throw new Error(`sandbox: ${what} is not a table`);
  const present = new Set<string>();
  const remove: string[] = [];
  lua.lua_pushnil(L);
  while (lua.lua_next(L, -2) !== 0) {
    lua.lua_pop(L, 1);
    const key = lua.lua_type(L, -1) === lua.LUA_TSTRING ? lua.lua_tojsstring(L, -1) : null;
    if (key !== null && allowed.has(key)) present.add(key);
    else if (key !== null) remove.push(key);
    else throw new Error(`sandbox: ${what} has a non-string key`);
  }
  for (const key of remove) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, -2, key);
  }
  for (const key of allowed) {
    if (!present.has(key)) throw new Error(`sandbox: ${what}.${key} is allow-listed but was never installed`);
  }
}

function collectgarbage(L: LuaState): number {
  const opt = to_jsstring(lauxlib.luaL_optstring(L, 1, to_luastring('collect')) as Uint8Array);
  switch (opt) {
    case 'count':
      // Fengari has no allocator of its own; the JS heap is the closest honest figure.
      lua.lua_pushnumber(L, process.memoryUsage().heapUsed / 1024);
      return 1;
    case 'collect':
      lua.lua_pushnumber(L, 0);
      return 1;
    case 'step':
      lua.lua_pushboolean(L, true);
      return 1;
    default:
      return lauxlib.luaL_argerror(L, 1, to_luastring(`invalid option '${opt}'`));
  }
}

/** os.time() and os.date(fmt) read the injected clock, so the fixture harness controls them. */
function installClockedOs(L: LuaState, clock: Clock): void {
  lua.lua_getglobal(L, 'os');
  const time = fieldFunction(L, 'time');
  const date = fieldFunction(L, 'date');
  setFunction(L, 'time', (L1) => {
    if (!lua.lua_isnoneornil(L1, 1)) return time(L1);
    lua.lua_pushnumber(L1, Math.floor(clock.now() / 1000));
    return 1;
  });
  setFunction(L, 'date', (L1) => {
    let format = lua.lua_isnoneornil(L1, 1) ? '%c' : to_jsstring(lauxlib.luaL_checkstring(L1, 1) as Uint8Array);
    let time = lua.lua_isnoneornil(L1, 2) ? Math.floor(clock.now() / 1000) : lauxlib.luaL_checkinteger(L1, 2);
    if (format.startsWith('!') && !format.startsWith('!*t')) {
      // Fengari formats "!..." in local time with the "!" left in; shift to UTC ourselves.
      format = format.slice(1);
      time += new Date(time * 1000).getTimezoneOffset() * 60;
    }
    lua.lua_settop(L1, 0);
    lua.lua_pushstring(L1, to_luastring(format));
    lua.lua_pushnumber(L1, time);
    return date(L1);
  });
  lua.lua_pop(L, 1);
}

/** The host function stored under `name` in the table on top of the stack. */
function fieldFunction(L: LuaState, name: string): LuaCFunction {
  lua.lua_getfield(L, -1, name);
  const f = lua.lua_tocfunction(L, -1) as LuaCFunction | null;
  lua.lua_pop(L, 1);
  if (f === null) throw new Error(`sandbox: ${name} is not a host function`);
  return f;
}

function setFunction(L: LuaState, name: string, f: LuaCFunction): void {
  lua.lua_pushcfunction(L, f);
  lua.lua_setfield(L, -2, name);
}

/** luaL_tolstring, leaving the string on the stack; returns its index (-1). */
function pushToString(L: LuaState, idx: number): number {
  lauxlib.luaL_tolstring(L, idx);
  return -1;
}
