/**
 * What KeyTable and HotTable share: one Int32Array of fixed-stride slots whose
 * first `width` words are the key and whose word at `width` is non-zero exactly
 * when the slot is used; a seeded hash (peers pick their own source addresses,
 * and a fixed hash would let them aim every key at one probe chain); linear
 * probing; growth at 3/4 load; backward-shift deletion, so no tombstones.
 * Subclasses own what a slot holds after the key and the probe loops, which
 * stay specialised per key width because they are the per-event path.
 */
export type KeyWidth = 1 | 2 | 4;

export const MIN_CAPACITY = 16;
const MAX_CAPACITY = 1 << 30;
const M1 = 0x9e3779b1 | 0;
const M2 = 0x85ebca6b | 0;

export abstract class OpenTable {
  readonly width: KeyWidth;
  readonly stride: number;
  /** Slot i occupies data[i*stride .. i*stride+stride-1]. */
  data: Int32Array;
  protected mask = 0;
  protected shift = 0;
  /** Entry count at which the table doubles. */
  protected limit = 0;
  protected readonly seed: number;
  size = 0;

  protected constructor(width: KeyWidth, stride: number, seed: number, capacity: number) {
    this.width = width;
    this.stride = stride;
    this.seed = seed | 0;
    const cap = capacityFor(capacity);
    this.data = new Int32Array(cap * stride);
    this.setCapacity(cap);
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /** Bytes held by the backing array. */
  get bytes(): number {
    return this.data.byteLength;
  }

  /** Gives memory back after deletions left the table mostly empty. */
  compact(): void {
    const cap = this.capacity;
    if (cap <= MIN_CAPACITY || this.size * 8 > cap) return;
    this.resize(capacityFor(Math.ceil((this.size * 2) / 0.75)));
  }

  /**
   * Empties slot `slot`: later members of its probe run are pulled into the
   * hole when their home slot is not between the hole and where they sit.
   * Offsets of other entries may change.
   */
  protected removeSlot(slot: number): void {
    const s = this.stride;
    const w = this.width;
    const d = this.data;
    const mask = this.mask;
    let hole = slot;
    let j = (slot + 1) & mask;
    while (d[j * s + w] !== 0) {
      const home = this.homeOf(j * s);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        d.copyWithin(hole * s, j * s, j * s + s);
        hole = j;
      }
      j = (j + 1) & mask;
    }
    d.fill(0, hole * s, hole * s + s);
    this.size--;
  }

  protected resize(capacity: number): void {
    if (capacity > MAX_CAPACITY) throw new RangeError(`audit ${this.constructor.name} is full`);
    const s = this.stride;
    const w = this.width;
    const old = this.data;
    this.data = new Int32Array(capacity * s);
    this.setCapacity(capacity);
    const d = this.data;
    const mask = this.mask;
    for (let o = 0; o < old.length; o += s) {
      if (old[o + w] === 0) continue;
      let i: number;
      if (w === 1) i = this.hash1(old[o]!);
      else if (w === 2) i = this.hash2(old[o]!, old[o + 1]!);
      else i = this.hash4(old[o]!, old[o + 1]!, old[o + 2]!, old[o + 3]!);
      while (d[i * s + w] !== 0) i = (i + 1) & mask;
      d.set(old.subarray(o, o + s), i * s);
    }
  }

  private homeOf(o: number): number {
    const d = this.data;
    if (this.width === 1) return this.hash1(d[o]!);
    if (this.width === 2) return this.hash2(d[o]!, d[o + 1]!);
    return this.hash4(d[o]!, d[o + 1]!, d[o + 2]!, d[o + 3]!);
  }

  private setCapacity(cap: number): void {
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.limit = Math.floor(cap * 0.75);
  }

  protected hash1(k: number): number {
    let h = Math.imul(k ^ this.seed, M1);
    h ^= h >>> 16;
    return Math.imul(h, M2) >>> this.shift;
  }

  protected hash2(a: number, b: number): number {
    let h = Math.imul(a ^ this.seed, M1) ^ b;
    h = Math.imul(h ^ (h >>> 16), M2);
    h = Math.imul(h ^ (h >>> 13), M1);
    return h >>> this.shift;
  }

  protected hash4(a: number, b: number, c: number, d: number): number {
    let h = Math.imul(a ^ this.seed, M1) ^ b;
    h = Math.imul(h ^ (h >>> 16), M2) ^ c;
    h = Math.imul(h ^ (h >>> 16), M1) ^ d;
    h = Math.imul(h ^ (h >>> 16), M2);
    h = Math.imul(h ^ (h >>> 13), M1);
    return h >>> this.shift;
  }
}

function capacityFor(n: number): number {
  let cap = MIN_CAPACITY;
  while (cap < n) cap *= 2;
  return cap;
}
