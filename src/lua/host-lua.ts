import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MoonwatchError } from '../errors.ts';
import { lauxlib, lua, to_luastring, type LuaState } from './fengari.ts';

/**
 * Lua shipped with moonwatch (the package's top-level `lua/` directory):
 * trusted host code, read from the package and never from the operator's
 * scripts directory, so a user file of the same name cannot shadow it. The
 * text is read once per process; each generation compiles and runs it once
 * in its own VM (chunks are per-VM objects and cannot be shared).
 */

export class HostLuaError extends MoonwatchError {
  constructor(file: string, message: string) {
    super('MW_ERR_HOST_LUA', `host Lua file lua/${file}: ${message}`);
  }
}

const texts = new Map<string, Uint8Array>();

/** The package's lua/ directory, two levels above this file (src/lua/host-lua.ts). */
export function hostLuaDir(): string {
  return fileURLToPath(new URL('../../lua/', import.meta.url));
}

function hostText(file: string): Uint8Array {
  let bytes = texts.get(file);
  if (bytes === undefined) {
    try {
      bytes = new Uint8Array(readFileSync(hostLuaDir() + file));
    } catch (err) {
      throw new HostLuaError(file, `cannot be read (${(err as Error).message}); is the package's lua/ directory installed?`);
    }
    texts.set(file, bytes);
  }
  return bytes;
}

/**
 * Compiles lua/<file> and runs it with the value `pushArg` leaves as its one
 * argument (a table of host helpers, or nothing). Leaves the chunk's first
 * result on the stack. Host code runs unbudgeted: it is ours and it is short.
 */
export function runHostLua(L: LuaState, file: string, pushArg?: (L: LuaState) => void): void {
  const bytes = hostText(file);
  const top = lua.lua_gettop(L);
  if (lauxlib.luaL_loadbufferx(L, bytes, bytes.length, to_luastring(`=[moonwatch]/lua/${file}`), to_luastring('t')) !== lua.LUA_OK) {
    const message = lua.lua_tojsstring(L, -1) as string;
    lua.lua_settop(L, top);
    throw new HostLuaError(file, `does not compile: ${message}`);
  }
  let nargs = 0;
  if (pushArg) {
    pushArg(L);
    nargs = 1;
  }
  if (lua.lua_pcall(L, nargs, 1, 0) !== lua.LUA_OK) {
    const message = lua.lua_tojsstring(L, -1) as string;
    lua.lua_settop(L, top);
    throw new HostLuaError(file, `failed while loading: ${message}`);
  }
}
