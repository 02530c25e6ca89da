/**
 * The one place fengari is loaded. Fengari reads its luaconf from the
 * FENGARICONF environment variable when it is first required, so the variable
 * must be set before that, which is why this module loads it with require()
 * instead of a (hoisted) static import.
 *
 * LUA_COMPAT_FLOATSTRING makes integral floats print as "5" rather than "5.0".
 * Together with pushing every host number as a float (Fengari's integers are
 * 32-bit and wrap), that gives Lua 5.1's number behaviour: counters and
 * timestamps never wrap, and `"n=" .. n` reads `n=5` as Momentum scripts expect.
 *
 * Fengari's source is patched as it loads (fengari-patch.ts).
 */
import { createRequire } from 'node:module';
import { requirePatchedFengari } from './fengari-patch.ts';

const require = createRequire(import.meta.url);

const wanted = { LUA_COMPAT_FLOATSTRING: true };
const existing = process.env['FENGARICONF'];
if (existing === undefined) {
  process.env['FENGARICONF'] = JSON.stringify(wanted);
} else if (!(JSON.parse(existing) as Record<string, unknown>)['LUA_COMPAT_FLOATSTRING']) {
  throw new Error('FENGARICONF is set without LUA_COMPAT_FLOATSTRING; moonwatch needs it to print integral numbers as integers');
}

const fengari = requirePatchedFengari(require) as FengariModule;

export const lua = fengari.lua;
export const lauxlib = fengari.lauxlib;
export const lualib = fengari.lualib;
export const to_luastring = fengari.to_luastring;
export const to_jsstring = fengari.to_jsstring;

/** Fengari has no type declarations; the state is opaque to TypeScript. */
export type LuaState = object;

/* eslint-disable @typescript-eslint/no-explicit-any */
interface FengariModule {
  lua: any;
  lauxlib: any;
  lualib: any;
  to_luastring: (s: string, cache?: boolean) => Uint8Array;
  to_jsstring: (s: Uint8Array, from?: number, to?: number, replacement_char?: boolean) => string;
}
