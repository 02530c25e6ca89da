/**
 * The one place fengari is loaded, lazily: importing moonwatch loads no Lua
 * runtime and touches no environment variable. The first LuaVm calls
 * loadFengari(), which loads a private copy of fengari with moonwatch's
 * patches applied (fengari-patch.ts; docs/runtime.md) and fills in the
 * bindings below. Other code in the process that requires fengari gets the
 * published package, unpatched.
 *
 * If a required patch does not apply (a fengari other than the pinned
 * version), loadFengari() throws FengariUnsupportedError every time it is
 * called, so every entry point (serve, test, the library API) refuses to run
 * with the same message.
 */
import { createRequire } from 'node:module';
import { loadPatchedFengari, type FengariPatchReport } from './fengari-patch.ts';
import type { FengariModule, Lauxlib, LuaApi, Lualib } from './fengari-types.ts';

export type { LuaState, LuaCFunction } from './fengari-types.ts';

/* These are ES live bindings: assigned once by loadFengari(), read everywhere after. */
export let lua: LuaApi = undefined as unknown as LuaApi;
export let lauxlib: Lauxlib = undefined as unknown as Lauxlib;
export let lualib: Lualib = undefined as unknown as Lualib;
export let to_luastring: (s: string, cache?: boolean) => Uint8Array = notLoaded;
export let to_jsstring: (s: Uint8Array, from?: number, to?: number, replacement_char?: boolean) => string = notLoaded;

let report: FengariPatchReport | undefined;
let failure: unknown;

/** Loads the patched runtime once; returns how it was patched. Throws FengariUnsupportedError if it cannot be. */
export function loadFengari(): FengariPatchReport {
  if (report !== undefined) return report;
  if (failure !== undefined) throw failure;
  try {
    const loaded = loadPatchedFengari(createRequire(import.meta.url));
    const f = loaded.exports as FengariModule;
    lua = f.lua;
    lauxlib = f.lauxlib;
    lualib = f.lualib;
    to_luastring = f.to_luastring;
    to_jsstring = f.to_jsstring;
    report = loaded.report;
    return report;
  } catch (err) {
    failure = err;
    throw err;
  }
}

/** How the runtime was patched (loads it if needed). Entry points log `skipped` as a warning. */
export function fengariPatchReport(): FengariPatchReport {
  return loadFengari();
}

function notLoaded(): never {
  throw new Error('fengari is not loaded yet: create a LuaVm (or call loadFengari()) first');
}
