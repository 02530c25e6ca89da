import { MIN_CAPACITY, OpenTable, type KeyWidth } from './open-table.ts';

/**
 * The "hot" rows of a counter group: one row per key holding, for each of the
 * group's M monitors, the epoch its count belongs to and the count. Every
 * event updates all monitors of the group, so sharing the row makes a record
 * cost one probe per level whatever the number of monitors; a count whose epoch
 * has passed is moved to that monitor's frozen window by the caller the next
 * time the row is touched (lazy rotation, per row).
 *
 * Row at offset o: key words d[o .. o+W-1], then per column c the tag
 * d[o+W+2c] (epoch + 1, so 0 can mean "empty slot") and the count d[o+W+2c+1].
 * Open addressing with linear probing and backward-shift deletion, one
 * Int32Array, seeded hash: the same scheme as KeyTable.
 */
const INT_MAX = 0x7fffffff;
const INT_MIN = -0x80000000;
/** A count parked in the side map (beyond int32: only series adds get there). */
const BIG = INT_MIN;

/**
 * Adds delta to the count at data[at] in place when the result stays a plain
 * int32, and returns the new count; returns NaN when the slow path (side map)
 * is needed. Lets the per-event path skip a method call per column.
 */
export function addInPlace(d: Int32Array, at: number, delta: number): number {
  const v = d[at]!;
  const n = v + delta;
  if (v === BIG || n <= INT_MIN || n > INT_MAX) return Number.NaN;
  d[at] = n;
  return n;
}

export class HotTable extends OpenTable {
  readonly cols: number;
  private big: Map<string, number> | null = null;

  constructor(width: KeyWidth, cols: number, seed: number) {
    super(width, width + 2 * cols, seed, MIN_CAPACITY);
    this.cols = cols;
  }

  /**
   * Reads the first word of key's home slot. Called for every level before
   * the real probes, it lets the cache misses of all levels overlap instead of
   * being paid one after another.
   */
  prefetch1(key: number): number {
    const o = this.hash1(key | 0) * this.stride;
    // First and last word: a row may straddle two cache lines.
    return this.data[o]! ^ this.data[o + this.stride - 1]!;
  }

  prefetch2(k0: number, k1: number): number {
    const o = this.hash2(k0 | 0, k1 | 0) * this.stride;
    return this.data[o]! ^ this.data[o + this.stride - 1]!;
  }

  prefetch4(k0: number, k1: number, k2: number, k3: number): number {
    const o = this.hash4(k0 | 0, k1 | 0, k2 | 0, k3 | 0) * this.stride;
    return this.data[o]! ^ this.data[o + this.stride - 1]!;
  }

  /** Offset of key's row, or −1. */
  find1(key: number): number {
    const k = key | 0;
    const d = this.data;
    const s = this.stride;
    const mask = this.mask;
    let i = this.hash1(k);
    for (;;) {
      const o = i * s;
      if (d[o + 1] === 0) return -1;
      if (d[o] === k) return o;
      i = (i + 1) & mask;
    }
  }

  find2(k0: number, k1: number): number {
    const a = k0 | 0;
    const b = k1 | 0;
    const d = this.data;
    const s = this.stride;
    const mask = this.mask;
    let i = this.hash2(a, b);
    for (;;) {
      const o = i * s;
      if (d[o + 2] === 0) return -1;
      if (d[o] === a && d[o + 1] === b) return o;
      i = (i + 1) & mask;
    }
  }

  find4(k0: number, k1: number, k2: number, k3: number): number {
    const a = k0 | 0;
    const b = k1 | 0;
    const e = k2 | 0;
    const f = k3 | 0;
    const d = this.data;
    const s = this.stride;
    const mask = this.mask;
    let i = this.hash4(a, b, e, f);
    for (;;) {
      const o = i * s;
      if (d[o + 4] === 0) return -1;
      if (d[o] === a && d[o + 1] === b && d[o + 2] === e && d[o + 3] === f) return o;
      i = (i + 1) & mask;
    }
  }

  /**
   * Inserts a row for a key known to be absent, with the given tags and zero
   * counts, and returns its offset. May grow the table: offsets taken before
   * the call are void after it.
   */
  insert(k0: number, k1: number, k2: number, k3: number, tags: Int32Array): number {
    if (this.size >= this.limit) this.resize(this.capacity * 2);
    const w = this.width;
    const d = this.data;
    const s = this.stride;
    const mask = this.mask;
    let i = w === 1 ? this.hash1(k0 | 0) : w === 2 ? this.hash2(k0 | 0, k1 | 0) : this.hash4(k0 | 0, k1 | 0, k2 | 0, k3 | 0);
    while (d[i * s + w] !== 0) i = (i + 1) & mask;
    const o = i * s;
    d[o] = k0;
    if (w > 1) d[o + 1] = k1;
    if (w > 2) {
      d[o + 2] = k2;
      d[o + 3] = k3;
    }
    for (let c = 0; c < this.cols; c++) {
      d[o + w + 2 * c] = tags[c]!;
      d[o + w + 2 * c + 1] = 0;
    }
    this.size++;
    return o;
  }

  count(o: number, c: number): number {
    const v = this.data[o + this.width + 2 * c + 1]!;
    return v === BIG ? (this.big?.get(this.bigKey(o, c)) ?? 0) : v;
  }

  /** Sets a column's count (0 allowed: the row stays until removeIfEmpty). */
  setCount(o: number, c: number, n: number): void {
    const at = o + this.width + 2 * c + 1;
    if (this.data[at] === BIG) this.big!.delete(this.bigKey(o, c));
    if (n > INT_MIN && n <= INT_MAX) {
      this.data[at] = n;
      return;
    }
    this.data[at] = BIG;
    (this.big ??= new Map()).set(this.bigKey(o, c), n);
  }

  /** Adds to a column's count; the fast path stays in int32. */
  addCount(o: number, c: number, delta: number): void {
    const at = o + this.width + 2 * c + 1;
    const v = this.data[at]!;
    const n = v + delta;
    if (v !== BIG && n > INT_MIN && n <= INT_MAX) this.data[at] = n;
    else this.setCount(o, c, this.count(o, c) + delta);
  }

  tag(o: number, c: number): number {
    return this.data[o + this.width + 2 * c]!;
  }

  setTag(o: number, c: number, t: number): void {
    this.data[o + this.width + 2 * c] = t;
  }

  /** True when every column's count is 0. */
  isZero(o: number): boolean {
    const base = o + this.width + 1;
    for (let c = 0; c < this.cols; c++) if (this.data[base + 2 * c] !== 0) return false;
    return true;
  }

  /** Key word j of the row at o (unsigned). */
  word(o: number, j: number): number {
    return this.data[o + j]! >>> 0;
  }

  /** Deletes the row at o. Rows after it may move: offsets are void after the call. */
  removeAt(o: number): void {
    // The side map is keyed by key words, so moving rows does not disturb wide counts.
    for (let c = 0; c < this.cols; c++) if (this.data[o + this.width + 2 * c + 1] === BIG) this.big!.delete(this.bigKey(o, c));
    this.removeSlot(o / this.stride);
  }

  /** Visits every row (no changes allowed during the visit). */
  forEachRow(fn: (o: number) => void): void {
    const s = this.stride;
    const w = this.width;
    for (let o = 0; o < this.data.length; o += s) if (this.data[o + w] !== 0) fn(o);
  }

  /**
   * Visits every row; `fn` returns true to delete the row. Deletion may pull a
   * later row into the current slot, so that slot is visited again; a row may
   * be seen twice but never skipped, which is fine for idempotent sweeps.
   */
  sweep(fn: (o: number) => boolean): void {
    const s = this.stride;
    const w = this.width;
    for (let o = 0; o < this.data.length; ) {
      if (this.data[o + w] !== 0 && fn(o)) {
        this.removeAt(o);
        continue;
      }
      o += s;
    }
  }

  /**
   * Sum of column c over rows whose tag lies in [tagLo, tagHi] and whose key,
   * masked word by word, equals net: the scan behind prefixes between levels.
   */
  sumMatching(net: ArrayLike<number>, masks: ArrayLike<number>, c: number, tagLo: number, tagHi: number): number {
    const w = this.width;
    const s = this.stride;
    const d = this.data;
    let sum = 0;
    outer: for (let o = 0; o < d.length; o += s) {
      const tag = d[o + w + 2 * c]!;
      if (tag === 0 || tag < tagLo || tag > tagHi) continue;
      for (let j = 0; j < w; j++) {
        if ((d[o + j]! & masks[j]!) !== net[j]) continue outer;
      }
      sum += this.count(o, c);
    }
    return sum;
  }

  private bigKey(o: number, c: number): string {
    let k = `${c}:`;
    for (let j = 0; j < this.width; j++) k += `${this.data[o + j]},`;
    return k;
  }
}
