import { captureLogger, type LogRecord } from '../../src/log.ts';
import { loadChunk } from '../../src/lua/sources.ts';
import { lua, type LuaState } from '../../src/lua/fengari.ts';
import { readValue, type LuaJsValue } from '../../src/lua/marshal.ts';
import { LuaVm, type LuaVmOptions } from '../../src/lua/vm.ts';

export interface TestVm {
  vm: LuaVm;
  records: LogRecord[];
  printed: string[];
  /** Compiles `code` (Momentum dialect) and calls it; returns every result as JS. */
  run(code: string, budget?: LuaVmOptions['budget']): LuaJsValue[];
}

/**
 * Budget for tests that are not about budgets: the machine is shared, and a
 * test descheduled for 20 ms must not fail on DEFAULT_BUDGET's wall clock.
 */
export const ROOMY_BUDGET = { instructions: 50_000_000, wallMs: 10_000 };

/** A real VM over an in-memory scripts directory. */
export function makeVm(files: Record<string, string> = {}, opts: Partial<LuaVmOptions> = {}): TestVm {
  const { logger, records } = captureLogger();
  const printed: string[] = [];
  const vm = new LuaVm({
    sources: (rel) => files[rel],
    logger,
    budget: ROOMY_BUDGET,
    onPrint: (text) => printed.push(text),
    ...opts,
  });
  return {
    vm,
    records,
    printed,
    run: (code, budget) => run(vm, code, budget),
  };
}

export function run(vm: LuaVm, code: string, budget?: LuaVmOptions['budget']): LuaJsValue[] {
  const L = vm.L;
  const base = lua.lua_gettop(L);
  if (loadChunk(L, code, '=test') !== lua.LUA_OK) {
    const msg = lua.lua_tojsstring(L, -1);
    lua.lua_settop(L, base);
    throw new Error(`test chunk did not compile: ${msg}`);
  }
  const n = vm.call(0, lua.LUA_MULTRET, budget);
  const out: LuaJsValue[] = [];
  for (let i = base + 1; i <= base + n; i++) out.push(readValue(L, i));
  lua.lua_settop(L, base);
  return out;
}

/** The thrown value of fn, failing the test if it returned normally. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an exception, but the call returned');
}

/** Pushes a Lua-callable JS function taking no upvalues. */
export function pushFunction(fn: (L: LuaState) => number): (L: LuaState) => void {
  return (L) => lua.lua_pushcfunction(L, fn);
}
