/**
 * An open-addressing hash table from a 1-, 2- or 4-word integer key to a count,
 * on one Int32Array: key words and count side by side (8–20 bytes a slot), so a
 * probe costs one cache miss and a million tracked addresses cost megabytes
 * rather than the ~100 bytes each a Map costs. Counts that outgrow int32 (a
 * series add of 1e12) move to a side map, so no count is ever truncated.
 *
 * A slot is empty exactly when its count is 0: an entry whose count reaches 0 is
 * deleted on the spot (backward-shift deletion, no tombstones), so the table
 * only ever holds non-zero counts and needs no occupancy array.
 *
 * The hash is seeded per table: peers choose their own source addresses (a
 * whole /64 of them for IPv6), and a fixed hash would let them aim every key at
 * one probe chain.
 */

import { MIN_CAPACITY, OpenTable, type KeyWidth } from './open-table.ts';

/** Outcome of add*: how the entry count changed, or that the key was refused. */
export const REFUSED = 0;
export const UPDATED = 1;
export const CREATED = 2;
export const DELETED = 3;
export type AddOutcome = typeof REFUSED | typeof UPDATED | typeof CREATED | typeof DELETED;

/** Change in entry count for an outcome (CREATED +1, DELETED −1). */
export function sizeDelta(o: AddOutcome): number {
  return o === CREATED ? 1 : o === DELETED ? -1 : 0;
}

const INT_MAX = 0x7fffffff;
const INT_MIN = -0x80000000;
/** Marks a count held in the side map; itself never a stored count (store() keeps n > INT_MIN). */
const BIG = INT_MIN;
export type { KeyWidth };

/** Slot i is data[i*stride .. i*stride+width-1] = key words, data[i*stride+width] = count. */
export class KeyTable extends OpenTable {
  /** Counts beyond int32, by key; their slot holds BIG. Never used by the built-in metrics in practice. */
  private big: Map<string, number> | null = null;

  constructor(width: KeyWidth, seed: number, capacity = MIN_CAPACITY) {
    super(width, width + 1, seed, capacity);
  }

  /**
   * Reads key's home slot (first and last word: a slot may straddle two cache
   * lines). Issued for several tables before the real probes, it makes their
   * cache misses overlap instead of queueing one after another.
   */
  prefetch1(key: number): number {
    const o = this.hash1(key | 0) * 2;
    return this.data[o]! ^ this.data[o + 1]!;
  }

  prefetch2(k0: number, k1: number): number {
    const o = this.hash2(k0 | 0, k1 | 0) * 3;
    return this.data[o]! ^ this.data[o + 2]!;
  }

  prefetch4(k0: number, k1: number, k2: number, k3: number): number {
    const o = this.hash4(k0 | 0, k1 | 0, k2 | 0, k3 | 0) * 5;
    return this.data[o]! ^ this.data[o + 4]!;
  }

  get1(key: number): number {
    const k = key | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash1(k);
    for (;;) {
      const o = i * 2;
      const c = d[o + 1]!;
      if (c === 0) return 0;
      if (d[o] === k) return c === BIG ? this.bigGet(o) : c;
      i = (i + 1) & mask;
    }
  }

  /**
   * Adds delta (a non-zero integer) to key. A missing key is inserted only when
   * `create` is true; otherwise the call is REFUSED and nothing changes.
   */
  add1(key: number, delta: number, create: boolean): AddOutcome {
    const k = key | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash1(k);
    for (;;) {
      const o = i * 2;
      const c = d[o + 1]!;
      if (c === 0) break;
      if (d[o] === k) {
        const n = c + delta;
        if (c !== BIG && n > INT_MIN && n <= INT_MAX && n !== 0) {
          d[o + 1] = n;
          return UPDATED;
        }
        return this.update(o, delta);
      }
      i = (i + 1) & mask;
    }
    if (!create) return REFUSED;
    if (this.size >= this.limit) {
      this.resize(this.capacity * 2);
      return this.add1(k, delta, true);
    }
    d[i * 2] = k;
    this.store(i * 2, delta);
    this.size++;
    return CREATED;
  }

  get2(k0: number, k1: number): number {
    const a = k0 | 0;
    const b = k1 | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash2(a, b);
    for (;;) {
      const o = i * 3;
      const c = d[o + 2]!;
      if (c === 0) return 0;
      if (d[o] === a && d[o + 1] === b) return c === BIG ? this.bigGet(o) : c;
      i = (i + 1) & mask;
    }
  }

  add2(k0: number, k1: number, delta: number, create: boolean): AddOutcome {
    const a = k0 | 0;
    const b = k1 | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash2(a, b);
    for (;;) {
      const o = i * 3;
      const c = d[o + 2]!;
      if (c === 0) break;
      if (d[o] === a && d[o + 1] === b) return this.update(o, delta);
      i = (i + 1) & mask;
    }
    if (!create) return REFUSED;
    if (this.size >= this.limit) {
      this.resize(this.capacity * 2);
      return this.add2(a, b, delta, true);
    }
    const o = i * 3;
    d[o] = a;
    d[o + 1] = b;
    this.store(o, delta);
    this.size++;
    return CREATED;
  }

  get4(k0: number, k1: number, k2: number, k3: number): number {
    const a = k0 | 0;
    const b = k1 | 0;
    const e = k2 | 0;
    const f = k3 | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash4(a, b, e, f);
    for (;;) {
      const o = i * 5;
      const c = d[o + 4]!;
      if (c === 0) return 0;
      if (d[o] === a && d[o + 1] === b && d[o + 2] === e && d[o + 3] === f) return c === BIG ? this.bigGet(o) : c;
      i = (i + 1) & mask;
    }
  }

  add4(k0: number, k1: number, k2: number, k3: number, delta: number, create: boolean): AddOutcome {
    const a = k0 | 0;
    const b = k1 | 0;
    const e = k2 | 0;
    const f = k3 | 0;
    const d = this.data;
    const mask = this.mask;
    let i = this.hash4(a, b, e, f);
    for (;;) {
      const o = i * 5;
      const c = d[o + 4]!;
      if (c === 0) break;
      if (d[o] === a && d[o + 1] === b && d[o + 2] === e && d[o + 3] === f) return this.update(o, delta);
      i = (i + 1) & mask;
    }
    if (!create) return REFUSED;
    if (this.size >= this.limit) {
      this.resize(this.capacity * 2);
      return this.add4(a, b, e, f, delta, true);
    }
    const o = i * 5;
    d[o] = a;
    d[o + 1] = b;
    d[o + 2] = e;
    d[o + 3] = f;
    this.store(o, delta);
    this.size++;
    return CREATED;
  }

  /**
   * Sum of the counts whose key, masked word by word with `masks`, equals `net`
   * (both as int32 words, `width` of them). A full scan: the fallback for
   * prefixes that fall between the tracked levels.
   */
  sumMatching(net: ArrayLike<number>, masks: ArrayLike<number>): number {
    const w = this.width;
    const s = this.stride;
    const d = this.data;
    let sum = 0;
    outer: for (let o = 0; o < d.length; o += s) {
      const c = d[o + w]!;
      if (c === 0) continue;
      for (let j = 0; j < w; j++) {
        if ((d[o + j]! & masks[j]!) !== net[j]) continue outer;
      }
      sum += c === BIG ? this.bigGet(o) : c;
    }
    return sum;
  }

  /** Calls fn for every entry with its key words (unsigned) and count. */
  forEach(fn: (words: readonly number[], count: number) => void): void {
    const w = this.width;
    const d = this.data;
    for (let o = 0; o < d.length; o += this.stride) {
      const c = d[o + w]!;
      if (c === 0) continue;
      const words: number[] = [];
      for (let j = 0; j < w; j++) words.push(d[o + j]! >>> 0);
      fn(words, c === BIG ? this.bigGet(o) : c);
    }
  }

  /** Slow path of an update at offset o: wide counts and deletion. */
  private update(o: number, delta: number): AddOutcome {
    const w = this.width;
    const c = this.data[o + w]!;
    const n = (c === BIG ? this.bigGet(o) : c) + delta;
    if (n !== 0) {
      if (c === BIG) this.big!.delete(this.bigKey(o));
      this.store(o, n);
      return UPDATED;
    }
    if (c === BIG) this.big!.delete(this.bigKey(o));
    this.removeSlot(o / this.stride);
    return DELETED;
  }

  /** Writes a non-zero count at offset o, spilling to the side map beyond int32. */
  private store(o: number, n: number): void {
    if (n > INT_MIN && n <= INT_MAX) {
      this.data[o + this.width] = n;
      return;
    }
    this.data[o + this.width] = BIG;
    (this.big ??= new Map()).set(this.bigKey(o), n);
  }

  private bigGet(o: number): number {
    return this.big?.get(this.bigKey(o)) ?? 0;
  }

  /** The side map is keyed by key words, not slot, so entries may move freely. */
  private bigKey(o: number): string {
    let k = '';
    for (let j = 0; j < this.width; j++) k += `${this.data[o + j]},`;
    return k;
  }
}

/**
 * Per-store stream of table seeds. Math.random is enough here: the seeds only
 * need to be unknown to peers, not cryptographically strong.
 */
export function seedSequence(start: number = (Math.random() * 0x100000000) | 0): () => number {
  let s = start | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return t ^ (t >>> 14);
  };
}
