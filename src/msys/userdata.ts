import { holdTop, pushHeld, rememberStringReads } from '../lua/vm-internals.ts';
import { lauxlib, lua, to_luastring, type LuaState } from '../lua/fengari.ts';
import { hostFunction } from '../lua/marshal.ts';

/**
 * Typed userdata for the objects Momentum hands to scripts (ac, vctx, msg,
 * sockaddr, ec_string). Fengari's userdata carries a plain JS object, so each
 * one holds a direct reference to its JS state: no lookup tables, and an object
 * stashed by a script in a global still refers to its own session.
 */

export type HostFn = (L: LuaState) => number;

export interface UserdataType<T> {
  readonly tname: Uint8Array;
  /** Pushes a new userdata of this type carrying `value`. */
  push(L: LuaState, value: T): void;
  /** The value of the userdata at idx, or a Lua argument error. */
  check(L: LuaState, idx: number): T;
  /** The value if idx holds this type, else undefined. */
  test(L: LuaState, idx: number): T | undefined;
}

/**
 * The JS object Fengari allocates for a full userdata. Only host code can put
 * a `type` on it, so checking that tag identifies our userdata without the
 * registry lookups luaL_checkudata does (a measurable share of a phase).
 */
interface Box<T> {
  type: object;
  value: T;
}

export interface TypeSpec {
  /** Registry name of the metatable. */
  name: string;
  /** How errors name the methods: `vctx` → "vctx:set_code: …". */
  label: string;
  methods?: Record<string, HostFn>;
  /** Full __index: called when a key is not a method. Push one value, return 1. */
  index?: (L: LuaState, key: string) => number;
  newindex?: HostFn;
  tostring?: HostFn;
  len?: HostFn;
  concat?: HostFn;
}

/** Creates the metatable once per VM and returns the typed accessor. */
export function defineUserdataType<T>(L: LuaState, spec: TypeSpec): UserdataType<T> {
  const tname = to_luastring(spec.name);
  lauxlib.luaL_newmetatable(L, tname);
  const mt = lua.lua_gettop(L) as number;
  rememberStringReads(L, mt);

  // Methods live in a table; a plain-table __index keeps method lookup inside the VM (fast path).
  lua.lua_createtable(L, 0, Object.keys(spec.methods ?? {}).length);
  rememberStringReads(L, -1);
  for (const [name, fn] of Object.entries(spec.methods ?? {})) {
    lua.lua_pushcfunction(L, hostFunction(`${spec.label}:${name}`, fn));
    lua.lua_setfield(L, -2, name);
  }
  if (spec.index) {
    const dynamic = spec.index;
    // Upvalue 1 = methods table; fall back to the dynamic fields.
    lua.lua_pushcclosure(
      L,
      hostFunction(`${spec.label}.__index`, (Ls) => {
        const key = lua.lua_type(Ls, 2) === lua.LUA_TSTRING ? (lua.lua_tojsstring(Ls, 2) as string) : undefined;
        if (key !== undefined) {
          lua.lua_pushvalue(Ls, 2);
          if (lua.lua_rawget(Ls, lua.lua_upvalueindex(1)) !== lua.LUA_TNIL) return 1;
          lua.lua_pop(Ls, 1);
          return dynamic(Ls, key);
        }
        lua.lua_pushnil(Ls);
        return 1;
      }),
      1,
    );
  }
  lua.lua_setfield(L, mt, '__index');

  for (const [event, fn] of [
    ['__newindex', spec.newindex],
    ['__tostring', spec.tostring],
    ['__len', spec.len],
    ['__concat', spec.concat],
  ] as const) {
    if (fn) {
      lua.lua_pushcfunction(L, hostFunction(`${spec.label}.${event}`, fn));
      lua.lua_setfield(L, mt, event);
    }
  }
  // Scripts must not replace or inspect our metatables.
  lua.lua_pushliteral(L, spec.name);
  lua.lua_setfield(L, mt, '__metatable');
  // Held (lua/vm-internals.ts): pushing it skips a registry lookup per userdata made.
  const metatable = holdTop(L);
  lua.lua_pop(L, 1);

  const tag = {};
  const test = (Ls: LuaState, idx: number): T | undefined => {
    const box = lua.lua_type(Ls, idx) === lua.LUA_TUSERDATA ? (lua.lua_touserdata(Ls, idx) as Partial<Box<T>>) : null;
    return box !== null && box.type === tag ? (box as Box<T>).value : undefined;
  };
  return {
    tname,
    push(Ls, value) {
      const box = lua.lua_newuserdata(Ls, 0) as Box<T>;
      box.type = tag;
      box.value = value;
      pushHeld(Ls, metatable);
      lua.lua_setmetatable(Ls, -2);
    },
    check(Ls, idx) {
      const value = test(Ls, idx);
      if (value === undefined) lauxlib.luaL_checkudata(Ls, idx, tname); // raises Lua's standard type error
      return value as T;
    },
    test,
  };
}
