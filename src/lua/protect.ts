import { lauxlib, lua, to_jsstring, to_luastring, type LuaCFunction, type LuaState } from './fengari.ts';
import { rememberStringReads } from './vm-internals.ts';

/**
 * Makes the shared environment read-only to scripts: every standard library
 * table, every table under `msys`, the string metatable, and the names of the
 * libraries and base functions in _G. One module or session can then not
 * change what another sees (issue 16): `string.format = f`,
 * `msys.audit.connections = f`, `getmetatable("").__index = t`, `print = f`,
 * `rawset(string, ...)`, `setmetatable(string, ...)` and `table.insert(math, x)`
 * all raise a Lua error naming what was written.
 *
 * Mechanism: a protected table is hollowed in place. Its entries move to a
 * hidden backing table that its metatable's __index reads; __newindex raises;
 * __metatable hides the metatable; __pairs iterates the backing table. The
 * table keeps its identity, so every reference to it (_G.string,
 * package.loaded.string, the string metatable) stays valid, and reads keep
 * working for scripts and for host code that uses lua_getfield. rawset is
 * wrapped to refuse protected tables, the only raw write a script has.
 *
 * Everything else stays writable: user globals, module tables, package.loaded
 * (Momentum semantics: the scripts of one generation share that state).
 */
export interface ProtectOptions {
  /** Globals whose values are protected (replacing them raises) and whose tables are hollowed. */
  readonly globals: readonly string[];
}

/** Registry key of the set of protected tables, for rawset's check. */
const PROTECTED = 'moonwatch.protected';

export function protectEnvironment(L: LuaState, opts: ProtectOptions): void {
  const isProtected = protectedSet(L);
  // The string metatable first: its __index is the string library's backing table.
  lua.lua_pushglobaltable(L);
  const g = lua.lua_gettop(L);
  rememberStringReads(L, g);
  for (const name of opts.globals) {
    if (name === '_G' || lua.lua_getfield(L, g, name) !== lua.LUA_TTABLE) {
      lua.lua_pop(L, name === '_G' ? 0 : 1);
      continue;
    }
    hollowTree(L, lua.lua_gettop(L), name, isProtected);
    lua.lua_pop(L, 1);
  }
  protectStringMetatable(L, isProtected);
  protectGlobalNames(L, g, opts.globals);
  lua.lua_pop(L, 1);
  wrapRawset(L, g, isProtected);
}

/** lua_topointer of every protected table; a JS set, read by the rawset wrapper. */
function protectedSet(L: LuaState): Set<object> {
  lua.lua_getfield(L, lua.LUA_REGISTRYINDEX, PROTECTED);
  let set = lua.lua_touserdata(L, -1) as Set<object> | null;
  lua.lua_pop(L, 1);
  if (set === null || set === undefined) {
    set = new Set<object>();
    lua.lua_pushlightuserdata(L, set);
    lua.lua_setfield(L, lua.LUA_REGISTRYINDEX, PROTECTED);
  }
  return set;
}

/** Hollows the table at idx and, depth first, every table stored in it (msys.core, msys.audit, ...). */
function hollowTree(L: LuaState, idx: number, name: string, isProtected: Set<object>): void {
  const self = lua.lua_topointer(L, idx);
  if (self === null || isProtected.has(self)) return;
  isProtected.add(self);
  const children: string[] = [];
  lua.lua_pushnil(L);
  while (lua.lua_next(L, idx) !== 0) {
    if (lua.lua_type(L, -1) === lua.LUA_TTABLE && lua.lua_type(L, -2) === lua.LUA_TSTRING) children.push(lua.lua_tojsstring(L, -2)!);
    lua.lua_pop(L, 1);
  }
  for (const key of children) {
    // package.loaded and package.preload are the generation's module state, not a library.
    if (name === 'package') continue;
    lua.lua_getfield(L, idx, key);
    hollowTree(L, lua.lua_gettop(L), `${name}.${key}`, isProtected);
    lua.lua_pop(L, 1);
  }
  hollow(L, idx, name);
}

/** Moves the entries of the table at idx into a backing table behind a read-only metatable. */
function hollow(L: LuaState, idx: number, name: string): void {
  idx = lua.lua_absindex(L, idx);
  lua.lua_createtable(L, 0, 0);
  const backing = lua.lua_gettop(L);
  rememberStringReads(L, backing);
  lua.lua_pushnil(L);
  while (lua.lua_next(L, idx) !== 0) {
    lua.lua_pushvalue(L, -2);
    lua.lua_insert(L, -2);
    lua.lua_rawset(L, backing);
  }
  lua.lua_pushnil(L);
  while (lua.lua_next(L, backing) !== 0) {
    lua.lua_pop(L, 1);
    lua.lua_pushvalue(L, -1);
    lua.lua_pushnil(L);
    lua.lua_rawset(L, idx);
  }
  lua.lua_createtable(L, 0, 4);
  lua.lua_pushvalue(L, backing);
  lua.lua_setfield(L, -2, '__index');
  lua.lua_pushcfunction(L, readOnlyWrite(name));
  lua.lua_setfield(L, -2, '__newindex');
  lua.lua_pushvalue(L, backing);
  lua.lua_pushcclosure(L, pairsOfBacking, 1);
  lua.lua_setfield(L, -2, '__pairs');
  lua.lua_pushliteral(L, `read-only table '${name}'`);
  lua.lua_setfield(L, -2, '__metatable');
  lua.lua_setmetatable(L, idx);
  readsFallBackTo(L, idx, backing);
  lua.lua_pop(L, 1);
}

/**
 * Tells fengari (the lvm.js patch in fengari-patch.ts) that a miss in the
 * table at idx reads the backing table directly, as its __index would: the
 * metatable is hidden by __metatable, so nothing changes it from here on, and
 * the backing table has no metatable of its own.
 */
function readsFallBackTo(L: LuaState, idx: number, backing: number): void {
  (lua.lua_topointer(L, idx) as { mw$index?: unknown }).mw$index = lua.lua_topointer(L, backing);
}

function readOnlyWrite(name: string): LuaCFunction {
  return (L) => {
    const key = lua.lua_type(L, 2) === lua.LUA_TSTRING ? `field '${lua.lua_tojsstring(L, 2)}'` : `a ${to_jsstring(lauxlib.luaL_typename(L, 2))} key`;
    return lauxlib.luaL_error(L, to_luastring(`attempt to modify read-only table '${name}' (${key})`));
  };
}

/** __pairs of a hollowed table: next over the backing table (upvalue 1). */
function pairsOfBacking(L: LuaState): number {
  lua.lua_getglobal(L, 'next');
  lua.lua_pushvalue(L, lua.lua_upvalueindex(1));
  lua.lua_pushnil(L);
  return 3;
}

/**
 * Strings index the string library's backing table directly (method calls stay
 * one lookup), and getmetatable("") returns a read-only view whose __index is
 * the (protected) string table, as in Lua 5.3.
 */
function protectStringMetatable(L: LuaState, isProtected: Set<object>): void {
  lua.lua_pushliteral(L, '');
  if (!lua.lua_getmetatable(L, -1)) {
    lua.lua_pop(L, 1);
    return;
  }
  const mt = lua.lua_gettop(L);
  lua.lua_getglobal(L, 'string');
  if (lua.lua_getmetatable(L, -1)) {
    lua.lua_getfield(L, -1, '__index'); // the string library's backing table
    lua.lua_setfield(L, mt, '__index');
    lua.lua_pop(L, 1);
  }
  lua.lua_createtable(L, 0, 1);
  lua.lua_insert(L, -2);
  lua.lua_setfield(L, -2, '__index');
  hollowTree(L, lua.lua_gettop(L), 'string metatable', isProtected);
  lua.lua_setfield(L, mt, '__metatable');
  lua.lua_pop(L, 2);
}

/**
 * The protected names move out of _G into a backing table behind _G's own
 * metatable. __newindex fires only for keys _G does not hold, which is every
 * protected name (so replacing one raises) and every new user global (which
 * is stored in _G as usual: reading and writing user globals costs the same).
 */
function protectGlobalNames(L: LuaState, g: number, names: readonly string[]): void {
  lua.lua_createtable(L, 0, names.length);
  const backing = lua.lua_gettop(L);
  for (const name of names) {
    if (lua.lua_getfield(L, g, name) === lua.LUA_TNIL) {
      lua.lua_pop(L, 1);
      continue;
    }
    lua.lua_setfield(L, backing, name);
    lua.lua_pushnil(L);
    lua.lua_setfield(L, g, name);
  }
  lua.lua_createtable(L, 0, 4);
  lua.lua_pushvalue(L, backing);
  lua.lua_setfield(L, -2, '__index');
  lua.lua_pushvalue(L, backing);
  lua.lua_pushcclosure(L, globalWrite, 1);
  lua.lua_setfield(L, -2, '__newindex');
  lua.lua_pushvalue(L, backing);
  lua.lua_pushcclosure(L, globalPairs, 1);
  lua.lua_setfield(L, -2, '__pairs');
  lua.lua_pushliteral(L, 'read-only global environment metatable');
  lua.lua_setfield(L, -2, '__metatable');
  lua.lua_setmetatable(L, g);
  readsFallBackTo(L, g, backing);
  lua.lua_pop(L, 1);
}

/** pairs(_G): the protected names (upvalue 1), then the user globals; the two sets never overlap. */
function globalPairs(L: LuaState): number {
  lua.lua_pushvalue(L, lua.lua_upvalueindex(1));
  lua.lua_pushcclosure(L, nextGlobal, 1);
  lua.lua_pushvalue(L, 1);
  lua.lua_pushnil(L);
  return 3;
}

function nextGlobal(L: LuaState): number {
  lua.lua_settop(L, 2);
  const backing = lua.lua_upvalueindex(1);
  let inBacking = lua.lua_isnil(L, 2);
  if (!inBacking) {
    lua.lua_pushvalue(L, 2);
    inBacking = lua.lua_rawget(L, backing) !== lua.LUA_TNIL;
    lua.lua_pop(L, 1);
  }
  if (inBacking) {
    lua.lua_pushvalue(L, 2);
    if (lua.lua_next(L, backing) !== 0) return 2;
    lua.lua_pushnil(L); // the protected names are done: start on _G's own keys
    lua.lua_replace(L, 2);
  }
  if (lua.lua_next(L, 1) !== 0) return 2;
  lua.lua_pushnil(L);
  return 1;
}

function globalWrite(L: LuaState): number {
  if (lua.lua_type(L, 2) === lua.LUA_TSTRING) {
    lua.lua_pushvalue(L, 2);
    if (lua.lua_rawget(L, lua.lua_upvalueindex(1)) !== lua.LUA_TNIL) {
      return lauxlib.luaL_error(L, to_luastring(`attempt to replace read-only global '${lua.lua_tojsstring(L, 2)}'`));
    }
    lua.lua_pop(L, 1);
  }
  lua.lua_settop(L, 3);
  lua.lua_rawset(L, 1);
  return 0;
}

/** rawset refuses protected tables and protected global names; everything else is as before. */
function wrapRawset(L: LuaState, g: number, isProtected: Set<object>): void {
  lua.lua_pushglobaltable(L);
  g = lua.lua_gettop(L);
  lua.lua_getfield(L, g, 'rawset');
  const rawset = lua.lua_tocfunction(L, -1);
  lua.lua_pop(L, 1);
  if (rawset === null) {
    lua.lua_pop(L, 1);
    return;
  }
  const globals = lua.lua_topointer(L, g);
  lua.lua_getmetatable(L, g);
  lua.lua_getfield(L, -1, '__index');
  const names = lua.lua_gettop(L);
  lua.lua_pushvalue(L, names);
  lua.lua_pushcclosure(
    L,
    (L1) => {
      lauxlib.luaL_checktype(L1, 1, lua.LUA_TTABLE);
      const target = lua.lua_topointer(L1, 1);
      if (target !== null && isProtected.has(target)) {
        lua.lua_getmetatable(L1, 1);
        lua.lua_getfield(L1, -1, '__metatable');
        const what = lua.lua_tojsstring(L1, -1) ?? 'read-only table';
        return lauxlib.luaL_error(L1, to_luastring(`rawset: attempt to modify ${what}`));
      }
      if (target === globals && lua.lua_type(L1, 2) === lua.LUA_TSTRING) {
        lua.lua_pushvalue(L1, 2);
        if (lua.lua_rawget(L1, lua.lua_upvalueindex(1)) !== lua.LUA_TNIL) {
          return lauxlib.luaL_error(L1, to_luastring(`rawset: attempt to replace read-only global '${lua.lua_tojsstring(L1, 2)}'`));
        }
        lua.lua_pop(L1, 1);
      }
      return rawset(L1);
    },
    1,
  );
  // rawset itself is a protected name, so it lives in the backing table.
  lua.lua_setfield(L, names, 'rawset');
  lua.lua_pop(L, 3);
}
