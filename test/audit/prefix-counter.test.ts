import { describe, expect, it } from 'vitest';
import { PrefixCounter } from '../../src/audit/prefix-counter.ts';
import { TrackBudget } from '../../src/audit/track-budget.ts';
import { addressPool, blocksAround, rng, toBig, V4_PREFIXES, V6_PREFIXES } from './model.ts';

describe('PrefixCounter block sums', () => {
  it.each([4, 6] as const)('equal the naive sum for every tested prefix (IPv%i), signed counts included', (family) => {
    const next = rng(family * 101);
    const pool = addressPool(next, family, 300);
    const pc = new PrefixCounter(17);
    const budget = new TrackBudget(Number.POSITIVE_INFINITY);
    // Net count per address, keyed by its value: the naive side of the comparison.
    const net = new Map<bigint, number>();
    for (let i = 0; i < 3000; i++) {
      const a = pool[next() % pool.length]!;
      const d = (next() % 9) - 3 || 2;
      pc.add(a, d, budget);
      net.set(toBig(a), (net.get(toBig(a)) ?? 0) + d);
    }
    const bits = family === 4 ? 32 : 128;
    const prefixes = family === 4 ? V4_PREFIXES : V6_PREFIXES;
    for (let q = 0; q < 25; q++) {
      for (const block of blocksAround(pool[next() % pool.length]!, prefixes)) {
        const shift = BigInt(bits - block.prefix);
        const want = toBig(block.addr) >> shift;
        let sum = 0;
        for (const [k, n] of net) if (k >> shift === want) sum += n;
        expect(pc.count(block), `${family} /${block.prefix}`).toBe(sum);
      }
    }
  });

  it('keeps the two families apart: /0 of one family ignores the other', () => {
    const next = rng(3);
    const pc = new PrefixCounter(1);
    const budget = new TrackBudget(Number.POSITIVE_INFINITY);
    const v4 = addressPool(next, 4, 10);
    const v6 = addressPool(next, 6, 10);
    for (const a of v4) pc.add(a, 1, budget);
    for (const a of v6) pc.add(a, 2, budget);
    expect(pc.count(blocksAround(v4[0]!, [0])[0]!)).toBe(10);
    expect(pc.count(blocksAround(v6[0]!, [0])[0]!)).toBe(20);
  });

  it('drops entries whose count returns to zero', () => {
    const next = rng(9);
    const pc = new PrefixCounter(1);
    const budget = new TrackBudget(Number.POSITIVE_INFINITY);
    const pool = [...addressPool(next, 4, 50), ...addressPool(next, 6, 50)];
    for (const a of pool) pc.add(a, 3, budget);
    for (const a of pool) pc.add(a, -3, budget);
    expect(pc.entries).toBe(0);
    expect(pc.empty).toBe(true);
    expect(Array.from(budget.used)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
