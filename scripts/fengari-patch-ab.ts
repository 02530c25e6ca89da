/**
 * What a fengari speed patch is worth, measured in one process: two copies of
 * fengari are loaded side by side, one with every patch and one without the
 * patches named in DROP, and the same Lua function is called on each in turn
 * under a count hook of 1,000 instructions (as the budget arms it). Calls
 * alternate, so a slow phase of a shared machine slows both alike; the paired
 * ratio (with / without, per pair of calls) is the figure to quote.
 *
 *   DROP="once per frame|counted down" node --import tsx scripts/fengari-patch-ab.ts
 *   SRC="local s = 0 for i = 1, 1e5 do s = s + i end return s" ... (the default)
 *
 * DROP matches patch names ("<file>: <what>", see src/lua/fengari-patch.ts) by
 * substring, several separated by "|". V8 compiles each copy's interpreter on
 * its own, and in about one process in five it compiles one copy ~40% slower
 * than the other, whichever copy it is: run several processes and quote the
 * ratios that agree.
 */
import { createRequire } from 'node:module';
import { loadPatchedFengari, PATCHES, type SourcePatch } from '../src/lua/fengari-patch.ts';
import type { FengariModule, LuaState } from '../src/lua/fengari-types.ts';

const drop = (process.env['DROP'] ?? '').split('|').filter((d) => d !== '');
if (drop.length === 0) throw new Error('DROP must name the patch(es) to leave out, e.g. DROP="once per frame"');
const SRC = process.env['SRC'] ?? 'local s = 0 for i = 1, 100000 do s = s + i end return s';
const PAIRS = Number(process.env['PAIRS'] ?? 200);
const named = (p: SourcePatch): string => `${p.file}: ${p.what}`;
const without = PATCHES.filter((p) => !drop.some((d) => named(p).includes(d)));
if (without.length === PATCHES.length) throw new Error(`no patch matches ${drop.join(' | ')}`);

function copy(patches: readonly SourcePatch[]): () => void {
  const f = loadPatchedFengari(createRequire(import.meta.url), patches).exports as FengariModule;
  const L: LuaState = f.lauxlib.luaL_newstate();
  f.lualib.luaL_openlibs(L);
  f.lua.lua_sethook(L, () => undefined, f.lua.LUA_MASKCOUNT, 1000);
  if (f.lauxlib.luaL_loadstring(L, f.to_luastring(SRC)) !== f.lua.LUA_OK) throw new Error(`SRC does not compile: ${f.lua.lua_tojsstring(L, -1)}`);
  const fn = f.lauxlib.luaL_ref(L, f.lua.LUA_REGISTRYINDEX);
  return () => {
    f.lua.lua_rawgeti(L, f.lua.LUA_REGISTRYINDEX, fn);
    if (f.lua.lua_pcall(L, 0, 0, 0) !== f.lua.LUA_OK) throw new Error(`SRC failed: ${f.lua.lua_tojsstring(L, -1)}`);
  };
}

const runs = [
  { name: 'every patch', call: copy(PATCHES), ms: [] as number[] },
  { name: `without ${PATCHES.length - without.length} (${drop.join(' | ')})`, call: copy(without), ms: [] as number[] },
];
for (let i = 0; i < 20; i++) for (const r of runs) r.call();
for (let i = 0; i < PAIRS; i++) {
  // Alternate which copy goes first, so neither always runs on a warmer cache.
  for (const r of i % 2 === 0 ? runs : [...runs].reverse()) {
    const t0 = process.hrtime.bigint();
    r.call();
    r.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const [withAll, withoutSome] = runs as [(typeof runs)[0], (typeof runs)[0]];
const ratio = median(withAll.ms.map((ms, i) => ms / withoutSome.ms[i]!));
console.log(`${withAll.name}: ${median(withAll.ms).toFixed(3)} ms | ${withoutSome.name}: ${median(withoutSome.ms).toFixed(3)} ms | paired ratio ${ratio.toFixed(3)}`);
