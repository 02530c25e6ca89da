import { describe, expect, it } from 'vitest';
import { HotTable } from '../../src/audit/hot-table.ts';
import { CREATED, DELETED, KeyTable, REFUSED, UPDATED } from '../../src/audit/key-table.ts';

/** Deterministic PRNG so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

describe('KeyTable', () => {
  it.each([1, 2, 4] as const)('matches a Map through random adds and deletions (width %i)', (width) => {
    const t = new KeyTable(width, 12345);
    const model = new Map<string, number>();
    const next = rng(width);
    // A small key space so entries are created, updated and cancelled to zero often.
    const keyOf = () => Array.from({ length: width }, () => next() % 64);
    for (let i = 0; i < 10_000; i++) {
      const k = keyOf();
      const id = k.join(',');
      const delta = (next() % 7) - 3 || 1;
      const create = next() % 5 !== 0;
      const before = model.get(id) ?? 0;
      const r = width === 1 ? t.add1(k[0]!, delta, create) : width === 2 ? t.add2(k[0]!, k[1]!, delta, create) : t.add4(k[0]!, k[1]!, k[2]!, k[3]!, delta, create);
      if (before === 0 && !create) {
        expect(r).toBe(REFUSED);
        continue;
      }
      const after = before + delta;
      expect(r).toBe(before === 0 ? CREATED : after === 0 ? DELETED : UPDATED);
      if (after === 0) model.delete(id);
      else model.set(id, after);
    }
    expect(t.size).toBe(model.size);
    for (let a = 0; a < 64; a++) {
      const k = [a, (a * 7) % 64, (a * 13) % 64, (a * 29) % 64];
      const id = k.slice(0, width).join(',');
      const got = width === 1 ? t.get1(a) : width === 2 ? t.get2(k[0]!, k[1]!) : t.get4(k[0]!, k[1]!, k[2]!, k[3]!);
      expect(got).toBe(model.get(id) ?? 0);
    }
    const seen = new Map<string, number>();
    t.forEach((words, count) => seen.set(words.join(','), count));
    expect(seen).toEqual(model);
  });

  it('keeps every key through growth, with full 32-bit keys', () => {
    const t = new KeyTable(1, 99);
    const next = rng(5);
    const model = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      // Half the keys have the top bit set: they must not collide with their int32 twins.
      const k = i % 2 === 0 ? next() | 0x80000000 : next() & 0x7fffffff;
      t.add1(k >>> 0, 1, true);
      model.set(k >>> 0, (model.get(k >>> 0) ?? 0) + 1);
    }
    expect(t.size).toBe(model.size);
    expect(t.capacity).toBeGreaterThanOrEqual(model.size / 0.75);
    for (const [k, n] of model) expect(t.get1(k)).toBe(n);
    expect(t.get1(0x80000000 + 12345)).toBe(model.get(0x80000000 + 12345) ?? 0);
  });

  it('holds counts beyond int32 exactly', () => {
    const t = new KeyTable(2, 1);
    t.add2(1, 2, 2_000_000_000, true);
    t.add2(1, 2, 2_000_000_000, true);
    expect(t.get2(1, 2)).toBe(4_000_000_000);
    t.add2(1, 2, -1e12, true);
    expect(t.get2(1, 2)).toBe(4_000_000_000 - 1e12);
    expect(t.add2(1, 2, 1e12 - 4_000_000_000, true)).toBe(DELETED);
    expect(t.size).toBe(0);
    expect(t.get2(1, 2)).toBe(0);
    t.add2(3, 4, -(2 ** 31), true);
    expect(t.get2(3, 4)).toBe(-(2 ** 31));
  });

  it('sums keys under a mask by scanning', () => {
    const t = new KeyTable(2, 3);
    t.add2(0x20010db8, 0x00010000, 3, true);
    t.add2(0x20010db8, 0x0001ffff, 4, true);
    t.add2(0x20010db8, 0x00020000, 5, true);
    expect(t.sumMatching([0x20010db8, 0x00010000], [-1, 0xffff0000 | 0])).toBe(7);
    expect(t.sumMatching([0x20010db8, 0], [-1, 0])).toBe(12);
  });

  it('shrinks after mass deletion and keeps the survivors', () => {
    const t = new KeyTable(1, 7);
    for (let k = 0; k < 10_000; k++) t.add1(k, 1, true);
    const big = t.capacity;
    for (let k = 0; k < 9_990; k++) t.add1(k, -1, true);
    t.compact();
    expect(t.capacity).toBeLessThan(big / 8);
    for (let k = 9_990; k < 10_000; k++) expect(t.get1(k)).toBe(1);
  });
});

describe('HotTable', () => {
  it('finds, inserts and deletes rows like a Map, keeping per-column tags and counts', () => {
    const t = new HotTable(2, 2, 77);
    const model = new Map<string, [number, number]>();
    const next = rng(11);
    const tags = Int32Array.of(3, 9);
    for (let i = 0; i < 8_000; i++) {
      const k0 = next() % 50;
      const k1 = next() % 50;
      const id = `${k0},${k1}`;
      let o = t.find2(k0, k1);
      expect(o >= 0).toBe(model.has(id));
      if (o < 0) {
        o = t.insert(k0, k1, 0, 0, tags);
        expect(t.tag(o, 0)).toBe(3);
        expect(t.tag(o, 1)).toBe(9);
        model.set(id, [0, 0]);
      }
      const c = (next() % 2) as 0 | 1;
      const delta = (next() % 5) - 2;
      t.addCount(o, c, delta);
      const m = model.get(id)!;
      m[c] += delta;
      expect(t.count(o, c)).toBe(m[c]);
      if (t.isZero(o)) {
        t.removeAt(o);
        model.delete(id);
      }
    }
    expect(t.size).toBe(model.size);
    for (const [id, [a, b]] of model) {
      const [k0, k1] = id.split(',').map(Number) as [number, number];
      const o = t.find2(k0, k1);
      expect(t.count(o, 0)).toBe(a);
      expect(t.count(o, 1)).toBe(b);
    }
  });

  it('keeps wide counts attached to their key when rows move', () => {
    const t = new HotTable(1, 1, 5);
    const tags = Int32Array.of(1);
    for (let k = 0; k < 100; k++) t.insert(k, 0, 0, 0, tags);
    t.addCount(t.find1(42), 0, 3e9);
    t.addCount(t.find1(43), 0, 1);
    for (let k = 0; k < 100; k++) if (k !== 42 && k !== 43) t.removeAt(t.find1(k));
    for (let k = 100; k < 1000; k++) t.insert(k, 0, 0, 0, tags);
    expect(t.count(t.find1(42), 0)).toBe(3e9);
    expect(t.count(t.find1(43), 0)).toBe(1);
    t.addCount(t.find1(42), 0, -3e9);
    expect(t.count(t.find1(42), 0)).toBe(0);
  });

  it('sweeps the rows a predicate selects and no others', () => {
    const t = new HotTable(1, 1, 8);
    const tags = Int32Array.of(1);
    for (let k = 0; k < 5000; k++) t.addCount(t.insert(k, 0, 0, 0, tags), 0, k);
    t.sweep((o) => t.count(o, 0) % 3 === 0);
    expect(t.size).toBe(5000 - Math.ceil(5000 / 3));
    for (let k = 0; k < 5000; k++) expect(t.find1(k) >= 0).toBe(k % 3 !== 0);
  });
});
