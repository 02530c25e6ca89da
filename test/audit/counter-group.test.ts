import { describe, expect, it } from 'vitest';
import { cidrOf } from '../../src/audit/address.ts';
import { CounterGroup } from '../../src/audit/counter-group.ts';
import { seedSequence } from '../../src/audit/key-table.ts';
import { TrackBudget } from '../../src/audit/track-budget.ts';
import { addressPool, GroupModel, rng, V4_PREFIXES, V6_PREFIXES } from './model.ts';

/**
 * The shared hot rows move a count to its frozen window only when the row is
 * next touched; this drives a group through irregular time (small steps, long
 * gaps, steps backwards) against a model that simply remembers every event.
 */
describe('CounterGroup against a naive model', () => {
  const shapes = [
    { width: 7, windows: 3 },
    { width: 10, windows: 1 },
    { width: 30, windows: 2 },
  ];

  it.each([4, 6] as const)('agrees on every window range of every column (IPv%i)', (family) => {
    const next = rng(family * 7 + 1);
    const pool = addressPool(next, family, 60);
    const group = new CounterGroup(shapes, 1000, new TrackBudget(Number.POSITIVE_INFINITY), seedSequence(4));
    const model = new GroupModel(shapes);
    let sec = 1000;
    const prefixes = family === 4 ? V4_PREFIXES : V6_PREFIXES;
    for (let step = 0; step < 1500; step++) {
      const r = next() % 100;
      if (r < 60) sec += next() % 4;
      else if (r < 63) sec += 40 + (next() % 80);
      else if (r < 66) sec -= next() % 30;
      const a = pool[next() % pool.length]!;
      const op = next() % 100;
      if (op < 80) {
        const d = op < 70 ? 1 : (next() % 7) - 3 || -1;
        group.add(a, d, sec);
        model.add(a, d, sec);
      } else if (op < 83) {
        expect(group.remove(a, sec)).toBe(model.remove(a, sec));
      } else {
        const c = next() % shapes.length;
        const n = shapes[c]!.windows;
        const s = next() % (n + 1);
        const e = s + (next() % (n + 1 - s));
        const block = cidrOf(pool[next() % pool.length]!, prefixes[next() % prefixes.length]!);
        expect(group.count(c, block, s, e, sec), `step ${step} col ${c} ${s}..${e} /${block.prefix}`).toBe(model.count(c, block, s, e, sec));
      }
    }
  });

  it('reads zero everywhere after a gap longer than every ring', () => {
    const next = rng(5);
    const pool = addressPool(next, 4, 20);
    const group = new CounterGroup(shapes, 0, new TrackBudget(Number.POSITIVE_INFINITY), seedSequence(1));
    for (const a of pool) group.add(a, 1, 5);
    const all = cidrOf(pool[0]!, 0);
    expect(group.count(0, all, 0, 0, 5)).toBe(20);
    for (let c = 0; c < shapes.length; c++) expect(group.count(c, all, 0, shapes[c]!.windows, 10_000)).toBe(0);
  });

  it('frees rows and windows that aged out on maintain, and returns their budget', () => {
    const next = rng(6);
    const budget = new TrackBudget(Number.POSITIVE_INFINITY);
    const group = new CounterGroup(shapes, 0, budget, seedSequence(2));
    const v4 = addressPool(next, 4, 50);
    const v6 = addressPool(next, 6, 50);
    let sec = 0;
    for (let i = 0; i < 200; i++) {
      sec += 3;
      group.add(v4[i % 50]!, 1, sec);
      group.add(v6[i % 50]!, 1, sec);
    }
    expect(budget.trackedHosts).toBeGreaterThan(0);
    group.maintain(sec + 1000);
    expect(group.hotHosts).toBe(0);
    for (let c = 0; c < shapes.length; c++) expect(group.frozenHosts(c)).toBe(0);
    expect(Array.from(budget.used)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('keeps rows that still hold a live window when maintaining', () => {
    const next = rng(8);
    const group = new CounterGroup(shapes, 0, new TrackBudget(Number.POSITIVE_INFINITY), seedSequence(3));
    const a = addressPool(next, 4, 1)[0]!;
    group.add(a, 4, 1);
    group.maintain(45); // age 1 for the 30 s column, long gone for the others
    expect(group.count(2, cidrOf(a, 32), 1, 1, 45)).toBe(4);
    expect(group.count(0, cidrOf(a, 32), 0, 3, 45)).toBe(0);
  });
});
