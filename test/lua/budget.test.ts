import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { lua } from '../../src/lua/fengari.ts';
import { DEFAULT_BUDGET } from '../../src/lua/vm.ts';
import { loadChunk } from '../../src/lua/sources.ts';
import { makeVm, pushFunction, thrown } from './helpers.ts';

function budgetFault(fn: () => unknown): { fault: ScriptFault; ms: number } {
  const t0 = monotonicMs();
  const err = thrown(fn);
  const ms = monotonicMs() - t0;
  expect(err).toBeInstanceOf(ScriptFault);
  return { fault: err as ScriptFault, ms };
}

/**
 * Up to five aborts of the same runaway script, stopping at the first under
 * 50 ms of wall time. The machine is shared: time the process spends
 * descheduled only ever adds to the wall clock, so when every attempt is over
 * 50 ms wall, the CPU time the process used must still be under it.
 */
function abortsWithin50ms(fn: () => unknown): ScriptFault {
  const attempts: Array<{ ms: number; cpuMs: number }> = [];
  let fault: ScriptFault | undefined;
  for (let i = 0; i < 5 && !attempts.some((a) => a.ms < 50); i++) {
    const cpu0 = process.cpuUsage();
    const result = budgetFault(fn);
    const cpu = process.cpuUsage(cpu0);
    attempts.push({ ms: result.ms, cpuMs: (cpu.user + cpu.system) / 1000 });
    fault = result.fault;
  }
  const ok = attempts.some((a) => a.ms < 50) || attempts.every((a) => a.cpuMs < 50);
  expect(ok, JSON.stringify(attempts)).toBe(true);
  return fault!;
}

describe('instruction and wall-clock budget', () => {
  it('stops `while true do end` under pcall in a loop within 50 ms with the default budget', () => {
    const { run } = makeVm({}, { budget: DEFAULT_BUDGET });
    const fault = abortsWithin50ms(() =>
      run(`
        while true do
          pcall(function() while true do end end)
        end`),
    );
    expect(fault.kind).toBe('budget');
    expect(fault.code).toBe('MW_ERR_SCRIPT_BUDGET');
    expect(DEFAULT_BUDGET.wallMs).toBeLessThan(50);
  });

  it('stops a loop inside a coroutine the script created, even when each resume is caught', () => {
    const { run } = makeVm({}, { budget: DEFAULT_BUDGET });
    const fault = abortsWithin50ms(() =>
      run(`
        local co = coroutine.wrap(function() while true do end end)
        while true do pcall(co) end`),
    );
    expect(fault.kind).toBe('budget');
  });

  it('keeps raising inside xpcall handlers and nested coroutines once tripped', () => {
    const { run } = makeVm({}, { budget: DEFAULT_BUDGET });
    const { fault } = budgetFault(() =>
      run(`
        local swallowed = 0
        local function spin() while true do end end
        while true do
          xpcall(spin, function(e) swallowed = swallowed + 1; return e end)
          local co = coroutine.create(function() pcall(spin) end)
          coroutine.resume(co)
        end`),
    );
    expect(fault.kind).toBe('budget');
  });

  it('trips on instructions before the clock when the instruction budget is the smaller one', () => {
    const { run } = makeVm();
    const { fault } = budgetFault(() => run('local x = 0 while true do x = x + 1 end', { instructions: 20_000, wallMs: 10_000 }));
    expect(fault.kind).toBe('budget');
    expect(fault.luaMessage).toBe('test:1: instruction budget exceeded');
    expect(fault.script).toBeUndefined(); // "test" is not a .lua chunk name
    expect(fault.traceback).toContain('stack traceback');
  });

  it('trips on the wall clock when instructions are plentiful', () => {
    const { run } = makeVm();
    const { fault, ms } = budgetFault(() => run('while true do end', { instructions: 1e12, wallMs: 5 }));
    expect(fault.luaMessage).toBe('test:1: wall-clock budget exceeded');
    expect(ms).toBeGreaterThanOrEqual(5);
  });

  it('gives the next call a fresh budget after a trip, including coroutines suspended during it', () => {
    const { vm, run } = makeVm();
    run(`
      worker = coroutine.create(function()
        local n = 0
        while true do n = n + 1; coroutine.yield(n) end
      end)
      coroutine.resume(worker)`);
    const { fault } = budgetFault(() =>
      run('while true do coroutine.resume(worker) end', { instructions: 50_000, wallMs: 30_000 }),
    );
    expect(fault.kind).toBe('budget');
    const [ok, n] = run('return coroutine.resume(worker)');
    expect(ok).toBe(true);
    expect(n).toBeGreaterThan(1);
    expect(run('local s = 0 for i = 1, 100000 do s = s + i end return s', { instructions: 2_000_000, wallMs: 10_000 })).toEqual([
      5000050000,
    ]);
    expect(lua.lua_gettop(vm.L)).toBe(0);
  });

  it('reports a trip as a budget fault even when a pcall called straight from the host caught it', () => {
    const { vm } = makeVm();
    const L = vm.L;
    lua.lua_getglobal(L, 'pcall');
    expect(loadChunk(L, 'while true do end', '=spin')).toBe(lua.LUA_OK);
    const err = thrown(() => vm.call(1, lua.LUA_MULTRET, { instructions: 10_000, wallMs: 1_000 })) as ScriptFault;
    expect([err.kind, err.luaMessage]).toEqual(['budget', 'instruction budget exceeded']);
    expect(lua.lua_gettop(L)).toBe(0);
  });

  it('runs a host callback into Lua under the outer call budget', () => {
    const { vm, run } = makeVm();
    vm.setGlobal(
      'host_call',
      pushFunction((L) => {
        lua.lua_pushvalue(L, 1);
        return vm.call(0, 0, { instructions: 1e12, wallMs: 60_000 });
      }),
    );
    const { fault, ms } = budgetFault(() => run('host_call(function() while true do end end)', { instructions: 1e12, wallMs: 10 }));
    expect(fault.kind).toBe('budget');
    expect(ms).toBeLessThan(1_000);
  });

  it('stops a long counting pass inside string.gsub, where no Lua instruction runs', () => {
    const { run } = makeVm();
    const { fault } = budgetFault(() =>
      run('local s = string.rep("x", 2^19) return #(s:gsub("()", "%1"))', { instructions: 1e12, wallMs: 5 }),
    );
    expect(fault.kind).toBe('budget');
    expect(fault.luaMessage).toContain('wall-clock budget exceeded');
  });
});

describe('string size caps', () => {
  const small = { maxStringBytes: 1000 };

  it('refuses string.rep beyond the limit and allows it up to the limit', () => {
    const { run } = makeVm({}, small);
    expect(run('return #string.rep("ab", 500), #("x"):rep(334, ",,")')).toEqual([1000, 1000]);
    const err = thrown(() => run('return string.rep("ab", 501)')) as ScriptFault;
    expect(err.kind).toBe('runtime');
    expect(err.luaMessage).toBe('test:1: string.rep: result of 1002 bytes exceeds the 1000-byte string limit');
    expect(thrown(() => run('return ("x"):rep(335, ",,")'))).toBeInstanceOf(ScriptFault);
  });

  it('refuses table.concat beyond the limit and matches Lua within it', () => {
    const { run } = makeVm({}, small);
    expect(run('return table.concat({1, "b", 3.5}, "-"), table.concat({"a","b","c","d"}, ",", 2, 3), table.concat({})')).toEqual([
      '1-b-3.5',
      'b,c',
      '',
    ]);
    const err = thrown(() => run('local t = {} for i = 1, 11 do t[i] = string.rep("x", 100) end return table.concat(t)')) as ScriptFault;
    expect(err.luaMessage).toMatch(/table\.concat: result of 1100 bytes exceeds/);
    const bad = thrown(() => run('return table.concat({1, {}, 3})')) as ScriptFault;
    expect(bad.luaMessage).toBe("test:1: invalid value (at index 2) in table for 'concat'");
  });

  it('bounds string.format by its arguments, calling __tostring once', () => {
    const { run } = makeVm({}, small);
    expect(
      run(`
        local calls = 0
        local obj = setmetatable({}, { __tostring = function() calls = calls + 1 return "OBJ" end })
        return string.format("%s|%5.1f|%d|%-4s|%.2s|%q", obj, 2.0, 7, "ab", "xyz", 'a"b'), calls`),
    ).toEqual(['OBJ|  2.0|7|ab  |xy|"a\\"b"', 1]);
    const err = thrown(() => run('return string.format("%s%s", string.rep("x", 600), string.rep("y", 600))')) as ScriptFault;
    expect(err.luaMessage).toMatch(/string\.format: result of \d+ bytes exceeds the 1000-byte string limit/);
  });

  it('bounds string.gsub for string, function and table replacements', () => {
    const { run } = makeVm({}, small);
    expect(
      run(`
        return (("hello world"):gsub("(%w+)", "<%1>")), (("hello world"):gsub("%w+", "%0%0", 1)),
               (("abc"):gsub("", "-")), (("hello world"):gsub("%w+", { hello = "HI" })),
               (("abc"):gsub(".", function(c) return c:upper() end)), (("a.b"):gsub("%.", "%%"))`),
    ).toEqual(['<hello> <world>', 'hellohello world', '-a-b-c-', 'HI world', 'ABC', 'a%b']);
    const input = 'local s = string.rep("x", 400) ';
    expect(run(`${input} return #(s:gsub("x", "yy"))`)).toEqual([800]);
    expect(run(`${input} return #(s:gsub("x", function() return "yy" end))`)).toEqual([800]);
    for (const repl of ['"yyy"', '"%0%0%0"', 'function() return "yyy" end', '{ x = "yyy" }']) {
      const err = thrown(() => run(`${input} return s:gsub("x", ${repl})`)) as ScriptFault;
      expect(err.luaMessage).toMatch(/string\.gsub: result of \d+ bytes exceeds the 1000-byte string limit/);
    }
    // Shrinking replacements of a string near the limit need no counting pass and succeed.
    expect(run('local s = string.rep("ab\\r\\n", 250) return #(s:gsub("\\r\\n", "\\n"))')).toEqual([750]);
  });

  it('bounds string.pack and load readers', () => {
    const { run } = makeVm({}, small);
    expect(run('return #string.pack("i4s1", 7, "abc")')).toEqual([8]);
    expect(thrown(() => run('return string.pack("c2000", "")'))).toBeInstanceOf(ScriptFault);
    const [f, msg] = run(`
      local n = 0
      return pcall(load, function() n = n + 1 if n < 20 then return string.rep(" ", 100) end end)`);
    expect(f).toBe(false);
    expect(msg).toMatch(/load: chunk exceeds the 1000-byte string limit/);
  });
});
