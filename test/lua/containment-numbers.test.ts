import { describe, expect, it } from 'vitest';
import { makeVm } from './helpers.ts';

/** Lua 5.1 numbers are doubles; Fengari's integers are 32-bit. No operation may wrap (issue 16). */
describe('containment: numbers never wrap at 32 bits', () => {
  const cases: Array<[string, string, number]> = [
    ['1 << 31', 'return 1 << 31', 2147483648],
    ['1 << 40', 'return 1 << 40', 1099511627776],
    ['#s * #s with 64 KiB strings', 'local s = string.rep("x", 65536) return #s * #s', 4294967296],
    ['#s + #t past 2^31 through a counter', 'local s = string.rep("x", 65536) local n = #s for i = 1, 40000 do n = n + #s end return n', 65536 * 40001],
    ['string.len products', 'local s = string.rep("x", 65536) return s:len() * s:len()', 4294967296],
    ['a counter past 2^31', 'local n = 2147483647 n = n + 1 return n', 2147483648],
    ['an integer from # negated and squared', 'local t = {} for i = 1, 50000 do t[i] = i end return (-#t) * #t', -2500000000],
    ['subtraction below -2^31', 'local s = string.rep("x", 65536) return -(#s * 32768) - #s', -(65536 * 32768) - 65536],
    ['constant folding of hex integers', 'return 0x7fffffff + 1', 2147483648],
    ['multiplying hex integers', 'return 0x10000 * 0x10000', 4294967296],
    ['select("#") products', 'local n = select("#", 1, 2, 3) return n * 1000000000', 3000000000],
    ['string.byte products', 'return string.byte("\\255") * 16777216 * 2', 8556380160],
  ];
  for (const [name, code, expected] of cases) {
    it(`computes ${name} as a double`, () => {
      expect(makeVm().run(code)).toEqual([expected]);
    });
  }

  it('prints wide results as integers, as Lua 5.1 does', () => {
    expect(makeVm().run('local s = string.rep("x", 65536) return tostring(#s * #s), string.format("%d", #s * #s), "n=" .. (1 << 31)')).toEqual([
      '4294967296',
      '4294967296',
      'n=2147483648',
    ]);
  });

  it('ends an integer for-loop that runs past 2^31 instead of wrapping round forever', () => {
    expect(makeVm().run('local t = {} for i = 1, 3 do t[i] = i end local n = 0 for i = 0x7ffffffe, 0x7fffffff do n = n + 1 end return n')).toEqual([2]);
  });

  it('keeps small integer arithmetic exact and table keys integral', () => {
    expect(makeVm().run('local t = {} t[#t + 1] = "a" t[2] = "b" return #t, t[1], 7 // 2, 7 % 3, 3 & 5, 3 | 4, 6 ~ 3')).toEqual([2, 'a', 3, 1, 1, 7, 5]);
  });
});
