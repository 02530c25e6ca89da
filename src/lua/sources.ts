import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.ts';
import { translateMomentum } from './dialect.ts';
import { ModulePathError, SourceReadError } from './errors.ts';
import { lauxlib, lua, to_jsstring, to_luastring, type LuaState } from './fengari.ts';

/**
 * Where script text comes from. The policy layer can hand the VM a reader over
 * an in-memory snapshot, so one generation never mixes files from before and
 * after an editor's save. Returns undefined when the file does not exist.
 */
export type SourceReader = (relPath: string) => string | undefined;

// Lua module names are identifiers in practice; anything else (spaces, quotes,
// backslashes, NUL, drive letters) is far more likely an attack or a typo.
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * "inbound.limits" or "inbound/limits" → "inbound/limits.lua". Momentum treats
 * dots and slashes alike, so "policies/limits.lua" names policies/limits/lua.lua.
 * Throws ModulePathError for anything that could leave the scripts directory.
 */
export function modulePathToFile(name: string): string {
  if (name.length === 0) throw new ModulePathError(name, 'empty name');
  if (name.startsWith('/')) throw new ModulePathError(name, 'absolute paths are not allowed');
  const segments = name.split(/[./]/);
  for (const seg of segments) {
    if (seg === '') throw new ModulePathError(name, "empty path segment ('..', leading, trailing or doubled separator)");
    if (!SEGMENT.test(seg)) throw new ModulePathError(name, `segment '${seg}' may only contain letters, digits, '_' and '-'`);
  }
  return `${segments.join('/')}.lua`;
}

/** modulePathToFile for log lines and messages: a name it refuses is shown as given (require reports it). */
export function scriptFile(name: string): string {
  try {
    return modulePathToFile(name);
  } catch {
    return name;
  }
}

const REL_PATH = /^(?:[A-Za-z0-9_-]+\/)*[A-Za-z0-9_-]+\.lua$/;

/** A reader over a directory on disk; only paths modulePathToFile can produce are served. */
export function fsSourceReader(dir: string): SourceReader {
  return (relPath: string) => {
    if (!REL_PATH.test(relPath)) throw new ModulePathError(relPath, 'not a relative .lua path inside the scripts directory');
    try {
      return readFileSync(join(dir, relPath), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new SourceReadError(relPath, err);
    }
  };
}

/* ------------------------------------------------------------------------ *
 * Loading script text into a VM: load, loadstring and require accept text
 * only and always run the Momentum dialect pre-pass.
 * ------------------------------------------------------------------------ */

export interface LoaderContext {
  readonly sources: SourceReader;
  readonly maxStringBytes: number;
  /** require() failed to find or compile a file; the VM reports such faults as 'load'. */
  onLoadFailure(message: string): void;
}

const BINARY_SIGNATURE = 0x1b; // "\27Lua"

/**
 * Compiles Momentum-dialect text and pushes the chunk (status LUA_OK) or the
 * error message. Text from Lua is bytes, so it goes through latin1 to keep
 * every byte of string literals exactly as written.
 */
export function loadChunk(L: LuaState, source: string | Uint8Array, chunkname: string | Uint8Array): number {
  const first = typeof source === 'string' ? source.charCodeAt(0) : source[0];
  if (first === BINARY_SIGNATURE) {
    lua.lua_pushstring(L, to_luastring("attempt to load a binary chunk (mode is 't')"));
    return lua.LUA_ERRSYNTAX;
  }
  const bytes =
    typeof source === 'string'
      ? to_luastring(translateMomentum(source))
      : new Uint8Array(Buffer.from(translateMomentum(Buffer.from(source).toString('latin1')), 'latin1'));
  return lauxlib.luaL_loadbufferx(L, bytes, bytes.length, chunkname, to_luastring('t'));
}

/** Installs load, loadstring and require as globals. */
export function installLoaders(L: LuaState, ctx: LoaderContext): void {
  lua.lua_pushglobaltable(L);
  lua.lua_pushcfunction(L, (L1: LuaState) => loadFn(L1, ctx));
  lua.lua_setfield(L, -2, 'load');
  lua.lua_pushcfunction(L, (L1: LuaState) => {
    lauxlib.luaL_checkstring(L1, 1);
    lua.lua_settop(L1, 2);
    return loadFn(L1, ctx);
  });
  lua.lua_setfield(L, -2, 'loadstring');
  lua.lua_pushcfunction(L, (L1: LuaState) => requireFn(L1, ctx));
  lua.lua_setfield(L, -2, 'require');
  lua.lua_pop(L, 1);
}

/**
 * Largest chunk load()/loadstring() compile while a script runs. The dialect
 * pre-pass runs as one unmetered step before the (metered) compiler, at a few
 * milliseconds per 10 KiB on a busy core, so this keeps one load() within a
 * few milliseconds of the phase deadline. Script files (require) are not limited.
 */
export const MAX_LOAD_CHUNK_BYTES = 16 * 1024;

/** load(chunk [, chunkname [, mode [, env]]]) for text chunks only. */
function loadFn(L: LuaState, ctx: LoaderContext): number {
  const mode = lua.lua_isnoneornil(L, 3) ? 't' : to_jsstring(lauxlib.luaL_checkstring(L, 3) as Uint8Array);
  let source: Uint8Array;
  let chunkname: Uint8Array;
  if (lua.lua_type(L, 1) === lua.LUA_TSTRING) {
    source = lua.lua_tostring(L, 1) as Uint8Array;
    chunkname = lua.lua_isnoneornil(L, 2) ? source : (lauxlib.luaL_checkstring(L, 2) as Uint8Array);
  } else {
    lauxlib.luaL_checktype(L, 1, lua.LUA_TFUNCTION);
    chunkname = lua.lua_isnoneornil(L, 2) ? to_luastring('=(load)') : (lauxlib.luaL_checkstring(L, 2) as Uint8Array);
    source = readAll(L, ctx.maxStringBytes);
  }
  let status: number;
  if (source.length > MAX_LOAD_CHUNK_BYTES) {
    const why = `load: chunk of ${source.length} bytes exceeds the ${MAX_LOAD_CHUNK_BYTES}-byte chunk limit for code loaded at run time`;
    lua.lua_pushstring(L, to_luastring(why));
    status = lua.LUA_ERRSYNTAX;
  } else if (mode.includes('t')) {
    status = loadChunk(L, source, chunkname);
  } else {
    lua.lua_pushstring(L, to_luastring(`attempt to load a text chunk (mode is '${mode}')`));
    status = lua.LUA_ERRSYNTAX;
  }
  if (status !== lua.LUA_OK) {
    lua.lua_pushnil(L);
    lua.lua_insert(L, -2);
    return 2;
  }
  if (!lua.lua_isnone(L, 4)) {
    lua.lua_pushvalue(L, 4);
    lua.lua_setupvalue(L, -2, 1);
  }
  return 1;
}

/** Concatenates what a load() reader function returns, within the string limit. */
function readAll(L: LuaState, maxBytes: number): Uint8Array {
  const pieces: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    lua.lua_pushvalue(L, 1);
    lua.lua_call(L, 0, 1);
    if (lua.lua_isnil(L, -1)) break;
    if (lua.lua_type(L, -1) !== lua.LUA_TSTRING) lauxlib.luaL_error(L, to_luastring('reader function must return a string'));
    const piece = lua.lua_tostring(L, -1) as Uint8Array;
    if (piece.length === 0) break;
    size += piece.length;
    if (size > maxBytes) lauxlib.luaL_error(L, to_luastring(`load: chunk exceeds the ${maxBytes}-byte string limit`));
    pieces.push(piece);
    lua.lua_pop(L, 1);
  }
  lua.lua_pop(L, 1);
  return new Uint8Array(Buffer.concat(pieces));
}

// Marks a module whose chunk is still running, so a require cycle is reported instead of recursing.
const LOADING = Object.freeze({ sentinel: 'module loading' });

/**
 * require(name): package.loaded, then package.preload, then the scripts
 * directory through the SourceReader. The chunk is called with the name and
 * its result (or, for module()-style files, what module() registered, or true)
 * is cached in package.loaded.
 */
function requireFn(L: LuaState, ctx: LoaderContext): number {
  const name = to_jsstring(lauxlib.luaL_checkstring(L, 1));
  lua.lua_settop(L, 1);
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE); // 2
  lua.lua_getfield(L, 2, name);
  if (lua.lua_touserdata(L, -1) === LOADING) {
    return lauxlib.luaL_error(L, to_luastring("loop or previous error loading module '%s'"), lua.lua_tostring(L, 1));
  }
  if (lua.lua_toboolean(L, -1)) return 1;
  lua.lua_pop(L, 1);
  lauxlib.luaL_getsubtable(L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_PRELOAD_TABLE);
  if (lua.lua_getfield(L, -1, name) !== lua.LUA_TFUNCTION) {
    lua.lua_settop(L, 2);
    pushFileLoader(L, name, ctx); // 3
  }
  lua.lua_pushlightuserdata(L, LOADING);
  lua.lua_setfield(L, 2, name);
  lua.lua_pushvalue(L, 1);
  if (lua.lua_pcall(L, 1, 1, 0) !== lua.LUA_OK) {
    lua.lua_pushnil(L);
    lua.lua_setfield(L, 2, name);
    return lua.lua_error(L);
  }
  if (!lua.lua_isnil(L, -1)) lua.lua_setfield(L, 2, name);
  if (lua.lua_getfield(L, 2, name) !== lua.LUA_TNIL && lua.lua_touserdata(L, -1) !== LOADING) return 1;
  lua.lua_pushboolean(L, true);
  lua.lua_pushvalue(L, -1);
  lua.lua_setfield(L, 2, name);
  return 1;
}

function pushFileLoader(L: LuaState, name: string, ctx: LoaderContext): void {
  const fail = (message: string): never => {
    ctx.onLoadFailure(message);
    lauxlib.luaL_error(L, to_luastring('%s'), to_luastring(message));
    throw new Error('unreachable: luaL_error returned');
  };
  let relPath = '';
  let text: string | undefined;
  try {
    relPath = modulePathToFile(name);
    text = ctx.sources(relPath);
  } catch (err) {
    fail(`module '${name}': ${errorMessage(err)}`);
  }
  if (text === undefined) fail(`module '${name}' not found in scripts directory (no ${relPath})`);
  if (loadChunk(L, text!, to_luastring('@' + relPath)) !== lua.LUA_OK) {
    fail(`error loading module '${name}' from file '${relPath}':\n\t${lua.lua_tojsstring(L, -1)}`);
  }
}
