import { describe, expect, it } from 'vitest';
import { ScriptFault } from '../../src/lua/errors.ts';
import { makeVm, thrown } from './helpers.ts';

/** A long wall-clock budget, so the allocation meter is what stops these. */
const BUDGET = { instructions: 1e12, wallMs: 60_000 };
const MAX = 4 * 1024 * 1024;

function memoryFault(code: string): ScriptFault {
  const { run } = makeVm({}, { budget: BUDGET, maxCallBytes: MAX });
  const err = thrown(() => run(code));
  expect(err).toBeInstanceOf(ScriptFault);
  const fault = err as ScriptFault;
  expect(fault.kind).toBe('budget');
  expect(fault.limit).toBe('memory');
  expect(fault.luaMessage).toContain(`memory budget exceeded (allocated over ${MAX} bytes)`);
  return fault;
}

describe('containment: what one call may allocate is bounded', () => {
  const HOSTILE: Record<string, string> = {
    'doubling a string with ..': 'local s = "x" while true do s = s .. s end',
    'hoarding strings in a table': 'local t = {} local i = 0 while true do i = i + 1 t[i] = string.rep("x", 1000) .. i end',
    'growing a table of numbers': 'local t = {} local i = 0 while true do i = i + 1 t[i] = i end',
    'growing a table with string keys': 'local t = {} local i = 0 while true do i = i + 1 t["k" .. i] = true end',
    'repeated string.format': 'local t = {} while true do t[#t + 1] = string.format("%99d", #t) end',
    'repeated table.concat': 'local t = {} for i = 1, 100 do t[i] = string.rep("y", 1000) end local keep = {} while true do keep[#keep + 1] = table.concat(t) end',
    'repeated gsub': 'local s = string.rep("ab", 50000) local keep = {} while true do keep[#keep + 1] = s:gsub("a", "cc") end',
    'garbage inside pcall': 'while true do pcall(function() local s = string.rep("z", 100000) .. "!" end) end',
  };
  for (const [name, code] of Object.entries(HOSTILE)) {
    it(`faults ${name}`, () => {
      const fault = memoryFault(code);
      expect(fault.luaMessage).toMatch(/^test:\d+: /);
    });
  }

  it('gives the next call a fresh allowance', () => {
    const { run } = makeVm({}, { budget: BUDGET, maxCallBytes: MAX });
    thrown(() => run('local s = "x" while true do s = s .. s end'));
    expect(run('local s = string.rep("a", 1000000) return #s')).toEqual([1000000]);
  });

  it('lets a well-behaved call allocate well under the bound without noticing', () => {
    const { run } = makeVm({}, { budget: BUDGET, maxCallBytes: MAX });
    expect(run('local t = {} for i = 1, 1000 do t[i] = "v" .. i end return #t, t[1000]')).toEqual([1000, 'v1000']);
  });
});
