import { describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { makeVm, thrown } from './helpers.ts';

/**
 * Hostile scripts from issue 16, each run under a 50 ms wall-clock budget and
 * an instruction budget too large to matter, so the wall clock (or the memory
 * meter) is what must stop them. CPU is shared with other test workers, so the
 * elapsed bound is loose: the point is that each one ends at all, quickly, as
 * a budget fault naming the limit.
 */
const BUDGET = { instructions: 1e12, wallMs: 50 };
const GENEROUS_MS = 2_000;

function stopped(code: string, budget = BUDGET): { fault: ScriptFault; ms: number } {
  const { run } = makeVm({}, { budget });
  const t0 = monotonicMs();
  const err = thrown(() => run(code));
  const ms = monotonicMs() - t0;
  expect(err).toBeInstanceOf(ScriptFault);
  return { fault: err as ScriptFault, ms };
}

const LOOPS: Record<string, string> = {
  'a loop after pcall(error) inside coroutine.wrap (the known fengari defect)': 'coroutine.wrap(function() pcall(error) while true do end end)()',
  'a loop after xpcall caught an error inside a coroutine': 'coroutine.wrap(function() xpcall(error, function(e) return e end) while true do end end)()',
  'a loop in a nested coroutine after caught errors at each level': `
    coroutine.wrap(function()
      pcall(error, "outer")
      coroutine.wrap(function()
        pcall(error, "inner")
        local co = coroutine.create(function() pcall(error) while true do end end)
        coroutine.resume(co)
      end)()
    end)()`,
  'a loop that catches its own budget error and carries on': `
    while true do
      pcall(function() while true do end end)
      coroutine.resume(coroutine.create(function() pcall(error) while true do end end))
    end`,
  'a loop in an xpcall message handler': 'xpcall(error, function() while true do end end)',
};

const PATTERNS: Record<string, string> = {
  'string.find with backtracking .- on a 1 MiB subject': 'return string.find(string.rep("a", 1048576), ".-.-.-.-.-.-b")',
  'string.match with nested lazy/greedy items': 'return string.match(string.rep("a", 1048576), "(.-)(.*)(.-)(.*)b")',
  'string.gmatch with a pathological pattern': 'for m in string.gmatch(string.rep("a", 1048576), "a*a*a*a*b") do end',
  'string.gsub with a pathological pattern': 'return string.gsub(string.rep("a", 1048576), ".-.-.-b", "x")',
  'string.find repeated in a loop under pcall': 'while true do pcall(string.find, string.rep("a", 100000), ".-.-.-b") end',
};

const BUILDERS: Record<string, string> = {
  'repeated large string.rep': 'local t = {} while true do t[#t % 8 + 1] = string.rep("x", 1000000) end',
  'repeated large gsub': 'local s = string.rep("ab", 500000) while true do local r = s:gsub("a", "cc") end',
  'repeated `..` of large strings': 'local s = string.rep("x", 500000) while true do local r = s .. s end',
  'repeated table.concat': 'local t = {} for i = 1, 1000 do t[i] = string.rep("y", 1000) end while true do local r = table.concat(t) end',
  'repeated load of the largest chunk allowed': 'local src = "return " .. string.rep("1+", 8000) .. "1" while true do pcall(load, src) end',
  'string.format with huge widths': 'while true do pcall(string.format, "%099999d", 1) pcall(string.format, "%99d", 1) end',
};

describe('containment: every hostile script ends within its wall-clock budget', () => {
  for (const [name, code] of Object.entries(LOOPS)) {
    it(`stops ${name}`, () => {
      const { fault, ms } = stopped(code);
      expect(fault.kind).toBe('budget');
      expect(fault.limit).toBe('wall-clock');
      expect(ms).toBeLessThan(BUDGET.wallMs + GENEROUS_MS);
    });
  }

  for (const [name, code] of Object.entries(PATTERNS)) {
    it(`stops ${name} (pattern steps are metered)`, () => {
      const { fault, ms } = stopped(code);
      expect(fault.kind).toBe('budget');
      expect(fault.limit).toBe('wall-clock');
      expect(fault.luaMessage).toMatch(/^test:\d+: wall-clock budget exceeded/);
      expect(ms).toBeLessThan(BUDGET.wallMs + GENEROUS_MS);
    });
  }

  it('counts pattern steps against the instruction budget too', () => {
    const { fault } = stopped('return string.find(string.rep("a", 100000), ".-.-.-b")', { instructions: 50_000, wallMs: 60_000 });
    expect(fault.limit).toBe('instructions');
  });

  for (const [name, code] of Object.entries(BUILDERS)) {
    it(`stops ${name}`, () => {
      const { fault, ms } = stopped(code);
      expect(fault.kind).toBe('budget');
      expect(['wall-clock', 'memory']).toContain(fault.limit);
      expect(ms).toBeLessThan(BUDGET.wallMs + GENEROUS_MS);
    });
  }

  it('gives a well-behaved script in the same VM its full budget after a hostile one', () => {
    const { run } = makeVm({}, { budget: BUDGET });
    thrown(() => run('coroutine.wrap(function() pcall(error) while true do end end)()'));
    // A roomy budget here: the point is that nothing of the trip is left over, and the machine is shared.
    expect(run('local n = 0 for i = 1, 1000 do n = n + i end return n', { instructions: 1e9, wallMs: 10_000 })).toEqual([500500]);
    // The coroutine hook is back to normal too: a fresh hostile coroutine is stopped again.
    expect((thrown(() => run('coroutine.wrap(function() pcall(error) while true do end end)()')) as ScriptFault).kind).toBe('budget');
  });
});
