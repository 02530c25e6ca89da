/**
 * TypeScript declarations for the part of Fengari's C API moonwatch uses.
 * Fengari ships none. The signatures follow Fengari 0.1.5's lapi.js,
 * lauxlib.js and ldebug.js: strings cross as Uint8Array (a "Lua string"),
 * and functions that take a name accept a JS string too (Fengari converts it
 * with from_userstring). Add a declaration here before calling anything new.
 */

/** A Lua thread (lua_State). Opaque: moonwatch never reads its fields except through vm-internals.ts. */
export interface LuaState {
  readonly __luaState: unique symbol;
}

/** A host function callable from Lua: reads its arguments from L's stack, returns the number of results. */
export type LuaCFunction = (L: LuaState) => number;

/** Bytes of a Lua string. */
export type LuaString = Uint8Array;
/** Where Fengari takes a name, a JS string is converted for you. */
export type LuaName = LuaString | string;

export type LuaHook = (L: LuaState, ar: LuaDebug) => void;

export interface LuaDebug {
  event: number;
  name: LuaString | null;
  namewhat: LuaString;
  what: LuaString;
  source: LuaString;
  currentline: number;
  linedefined: number;
  lastlinedefined: number;
  short_src: LuaString;
}

export interface LuaApi {
  readonly LUA_OK: 0;
  readonly LUA_YIELD: 1;
  readonly LUA_ERRRUN: 2;
  readonly LUA_ERRSYNTAX: 3;
  readonly LUA_ERRMEM: 4;
  readonly LUA_ERRERR: 6;
  readonly LUA_TNONE: -1;
  readonly LUA_TNIL: 0;
  readonly LUA_TBOOLEAN: 1;
  readonly LUA_TLIGHTUSERDATA: 2;
  readonly LUA_TNUMBER: 3;
  readonly LUA_TSTRING: 4;
  readonly LUA_TTABLE: 5;
  readonly LUA_TFUNCTION: 6;
  readonly LUA_TUSERDATA: 7;
  readonly LUA_TTHREAD: 8;
  readonly LUA_MULTRET: -1;
  readonly LUA_REGISTRYINDEX: number;
  readonly LUA_NOREF: -2;
  readonly LUA_REFNIL: -1;
  readonly LUA_MASKCALL: number;
  readonly LUA_MASKRET: number;
  readonly LUA_MASKLINE: number;
  readonly LUA_MASKCOUNT: number;
  readonly lua_Debug: new () => LuaDebug;

  lua_upvalueindex(i: number): number;
  lua_absindex(L: LuaState, idx: number): number;
  lua_gettop(L: LuaState): number;
  lua_settop(L: LuaState, idx: number): void;
  lua_pop(L: LuaState, n: number): void;
  lua_pushvalue(L: LuaState, idx: number): void;
  lua_insert(L: LuaState, idx: number): void;
  lua_remove(L: LuaState, idx: number): void;
  lua_replace(L: LuaState, idx: number): void;
  lua_checkstack(L: LuaState, n: number): boolean;

  lua_type(L: LuaState, idx: number): number;
  lua_typename(L: LuaState, t: number): LuaString;
  lua_isnil(L: LuaState, idx: number): boolean;
  lua_isnone(L: LuaState, idx: number): boolean;
  lua_isnoneornil(L: LuaState, idx: number): boolean;
  lua_isnumber(L: LuaState, idx: number): boolean;
  lua_isinteger(L: LuaState, idx: number): boolean;
  lua_isstring(L: LuaState, idx: number): boolean;
  lua_istable(L: LuaState, idx: number): boolean;
  lua_isfunction(L: LuaState, idx: number): boolean;
  lua_iscfunction(L: LuaState, idx: number): boolean;
  lua_islightuserdata(L: LuaState, idx: number): boolean;

  lua_toboolean(L: LuaState, idx: number): boolean;
  /** 0 when the value is not a number or a numeric string. */
  lua_tonumber(L: LuaState, idx: number): number;
  /** 0 when the value has no integer representation. */
  lua_tointeger(L: LuaState, idx: number): number;
  /** Converts a number in place; null for any other type. */
  lua_tolstring(L: LuaState, idx: number): LuaString | null;
  lua_tostring(L: LuaState, idx: number): LuaString | null;
  /** lua_tolstring decoded as UTF-8; null for values that are neither strings nor numbers. */
  lua_tojsstring(L: LuaState, idx: number): string | null;
  lua_tocfunction(L: LuaState, idx: number): LuaCFunction | null;
  lua_touserdata(L: LuaState, idx: number): unknown;
  lua_topointer(L: LuaState, idx: number): object | null;
  lua_rawlen(L: LuaState, idx: number): number;

  lua_pushnil(L: LuaState): void;
  lua_pushnumber(L: LuaState, n: number): void;
  lua_pushinteger(L: LuaState, n: number): void;
  lua_pushboolean(L: LuaState, b: boolean | number): void;
  lua_pushstring(L: LuaState, s: LuaName | null | undefined): LuaString | null;
  lua_pushliteral(L: LuaState, s: string | null | undefined): LuaString | null;
  lua_pushcfunction(L: LuaState, f: LuaCFunction): void;
  lua_pushcclosure(L: LuaState, f: LuaCFunction, n: number): void;
  lua_pushlightuserdata(L: LuaState, p: unknown): void;
  lua_pushglobaltable(L: LuaState): void;
  lua_newuserdata(L: LuaState, size: number): unknown;
  lua_newthread(L: LuaState): LuaState;

  lua_getglobal(L: LuaState, name: LuaName): number;
  lua_setglobal(L: LuaState, name: LuaName): void;
  lua_getfield(L: LuaState, idx: number, k: LuaName): number;
  lua_setfield(L: LuaState, idx: number, k: LuaName): void;
  lua_gettable(L: LuaState, idx: number): number;
  lua_geti(L: LuaState, idx: number, i: number): number;
  lua_rawget(L: LuaState, idx: number): number;
  lua_rawgeti(L: LuaState, idx: number, n: number): number;
  lua_rawset(L: LuaState, idx: number): void;
  lua_rawseti(L: LuaState, idx: number, n: number): void;
  lua_createtable(L: LuaState, narr: number, nrec: number): void;
  lua_getmetatable(L: LuaState, idx: number): boolean;
  lua_setmetatable(L: LuaState, idx: number): boolean;
  lua_next(L: LuaState, idx: number): number;
  lua_concat(L: LuaState, n: number): void;

  lua_call(L: LuaState, nargs: number, nresults: number): void;
  lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number;
  lua_resume(L: LuaState, from: LuaState | null, nargs: number): number;
  lua_yield(L: LuaState, nresults: number): number;
  lua_isyieldable(L: LuaState): boolean;
  lua_rawequal(L: LuaState, idx1: number, idx2: number): boolean;
  lua_error(L: LuaState): never;
  lua_close(L: LuaState): void;
  lua_atnativeerror(L: LuaState, f: LuaCFunction): void;

  lua_getupvalue(L: LuaState, funcindex: number, n: number): LuaString | null;
  lua_setupvalue(L: LuaState, funcindex: number, n: number): LuaString | null;
  lua_upvaluejoin(L: LuaState, f1: number, n1: number, f2: number, n2: number): void;
  lua_getstack(L: LuaState, level: number, ar: LuaDebug): number;
  lua_getinfo(L: LuaState, what: LuaName, ar: LuaDebug): number;
  lua_sethook(L: LuaState, f: LuaHook | ((L: LuaState) => void) | null, mask: number, count: number): void;
  lua_gethookcount(L: LuaState): number;
  lua_gethookmask(L: LuaState): number;
}

/** A string buffer (luaL_Buffer); fields are Fengari's own. */
export interface LuaLBuffer {
  readonly __luaLBuffer: unique symbol;
}

export interface Lauxlib {
  readonly LUA_LOADED_TABLE: LuaString;
  readonly LUA_PRELOAD_TABLE: LuaString;
  readonly luaL_Buffer: new () => LuaLBuffer;

  luaL_newstate(): LuaState;
  luaL_ref(L: LuaState, t: number): number;
  luaL_unref(L: LuaState, t: number, ref: number): void;
  luaL_error(L: LuaState, fmt: LuaString, ...args: unknown[]): never;
  luaL_argerror(L: LuaState, arg: number, extramsg: LuaName): never;
  luaL_argcheck(L: LuaState, cond: boolean, arg: number, extramsg: LuaName): void;
  luaL_checktype(L: LuaState, arg: number, t: number): void;
  luaL_checkstring(L: LuaState, arg: number): LuaString;
  luaL_checklstring(L: LuaState, arg: number): LuaString;
  luaL_checkinteger(L: LuaState, arg: number): number;
  luaL_checkstack(L: LuaState, space: number, msg: LuaName | null): void;
  luaL_checkudata(L: LuaState, arg: number, tname: LuaName): unknown;
  luaL_optstring(L: LuaState, arg: number, def: LuaString | null): LuaString;
  luaL_optlstring(L: LuaState, arg: number, def: LuaName | null): LuaString;
  luaL_optinteger(L: LuaState, arg: number, def: number): number;
  luaL_len(L: LuaState, idx: number): number;
  luaL_tolstring(L: LuaState, idx: number): LuaString;
  luaL_typename(L: LuaState, idx: number): LuaString;
  luaL_where(L: LuaState, level: number): void;
  luaL_traceback(L: LuaState, L1: LuaState, msg: LuaName | null, level: number): void;
  luaL_getsubtable(L: LuaState, idx: number, fname: LuaName): boolean;
  luaL_requiref(L: LuaState, modname: LuaName, openf: LuaCFunction, glb: number | boolean): void;
  luaL_newmetatable(L: LuaState, tname: LuaName): boolean;
  luaL_getmetatable(L: LuaState, tname: LuaName): number;
  luaL_loadbufferx(L: LuaState, buff: LuaString, size: number, name: LuaName, mode: LuaName | null): number;
  luaL_loadstring(L: LuaState, s: LuaString): number;
  luaL_buffinit(L: LuaState, b: LuaLBuffer): void;
  luaL_addlstring(b: LuaLBuffer, s: LuaString, l: number): void;
  luaL_addvalue(b: LuaLBuffer): void;
  luaL_pushresult(b: LuaLBuffer): void;
}

export interface Lualib {
  luaL_openlibs(L: LuaState): void;
  luaopen_base: LuaCFunction;
  luaopen_coroutine: LuaCFunction;
  luaopen_table: LuaCFunction;
  luaopen_string: LuaCFunction;
  luaopen_math: LuaCFunction;
  luaopen_utf8: LuaCFunction;
  luaopen_os: LuaCFunction;
  luaopen_io: LuaCFunction;
}

/** A fengari build as loadPatchedFengari() loads it (fengari.ts binds one; tests and scripts load others). */
export interface FengariModule {
  lua: LuaApi;
  lauxlib: Lauxlib;
  lualib: Lualib;
  to_luastring: (s: string, cache?: boolean) => Uint8Array;
  to_jsstring: (s: Uint8Array, from?: number, to?: number, replacement_char?: boolean) => string;
}
