/**
 * The cost of running a trivial callout through LuaVm.call (budget hook armed,
 * message handler, fault mapping) against a bare Fengari lua_pcall of the
 * same function on a state with no hook. Target: overhead <= 10%.
 */
import { captureLogger } from '../../src/log.ts';
import { translateMomentum } from '../../src/lua/dialect.ts';
import { lauxlib, loadFengari, lua, lualib, to_luastring, type LuaState } from '../../src/lua/fengari.ts';
import { DEFAULT_BUDGET, LuaVm } from '../../src/lua/vm.ts';
import { median, result, type BenchResult } from './lib.ts';

// Reads a field, calls a host function, compares, returns 0: the shape of a
// callout that checks a counter against a limit.
const CALLOUT = translateMomentum(`
local limits = { connections = 50 }
return function(ctx)
  if host_count(ctx.ip) > limits.connections then return 1 end
  return 0
end
`);

function hostCount(L: LuaState): number {
  lua.lua_pushnumber(L, 7);
  return 1;
}

/** Compiles the callout on L, runs its chunk, and leaves a registry reference to the function. */
function prepare(L: LuaState, run: (nargs: number, nresults: number) => void): number {
  lua.lua_pushcfunction(L, hostCount);
  lua.lua_setglobal(L, to_luastring('host_count'));
  const src = to_luastring(CALLOUT);
  if (lauxlib.luaL_loadbufferx(L, src, src.length, to_luastring('=bench'), to_luastring('t')) !== lua.LUA_OK) {
    throw new Error(lua.lua_tojsstring(L, -1) ?? 'load failed');
  }
  run(0, 1);
  return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
}

function pushCtx(L: LuaState): number {
  lua.lua_createtable(L, 0, 1);
  lua.lua_pushstring(L, to_luastring('192.0.2.1'));
  lua.lua_setfield(L, -2, to_luastring('ip'));
  return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
}

export default async function (): Promise<BenchResult[]> {
  loadFengari();
  const raw = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(raw);
  const rawPcall = (nargs: number, nresults: number) => {
    if (lua.lua_pcall(raw, nargs, nresults, 0) !== lua.LUA_OK) throw new Error(lua.lua_tojsstring(raw, -1) ?? 'call failed');
  };
  const rawFn = prepare(raw, rawPcall);
  const rawCtx = pushCtx(raw);

  const { logger } = captureLogger('warn');
  const vm = new LuaVm({ sources: () => undefined, logger, budget: DEFAULT_BUDGET });
  const L = vm.L;
  const vmFn = prepare(L, (nargs, nresults) => void vm.call(nargs, nresults));
  const vmCtx = pushCtx(L);

  const runRaw = () => {
    lua.lua_rawgeti(raw, lua.LUA_REGISTRYINDEX, rawFn);
    lua.lua_rawgeti(raw, lua.LUA_REGISTRYINDEX, rawCtx);
    rawPcall(1, 1);
    lua.lua_pop(raw, 1);
  };
  const runVm = () => {
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, vmFn);
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, vmCtx);
    vm.call(1, 1);
    lua.lua_pop(L, 1);
  };

  // Alternate short batches of the two so drift on a shared machine hits both
  // alike, and compare medians over many rounds.
  for (let w = 0; w < 20_000; w++) {
    runRaw();
    runVm();
  }
  const rawTimes: number[] = [];
  const vmTimes: number[] = [];
  for (let round = 0; round < 101; round++) {
    rawTimes.push(timeBatch(runRaw, 500));
    vmTimes.push(timeBatch(runVm, 500));
  }
  const rawUs = median(rawTimes);
  const vmUs = median(vmTimes);
  vm.close();
  return [
    result({ name: 'lua raw pcall (no hook)', value: rawUs, unit: 'us', baseline: rawUs, targetOn: 'ratio', cmp: '<=', limit: 1 }),
    result({ name: 'LuaVm.call (budget hook armed)', value: vmUs, unit: 'us', baseline: rawUs, targetOn: 'ratio', cmp: '<=', limit: 1.1 }),
  ];
}

function timeBatch(fn: () => void, batch: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < batch; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / batch;
}
