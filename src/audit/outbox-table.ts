/**
 * uint32 → count, open addressing with linear probing: the outbox's per-event
 * table for IPv4 addresses. A Map with number keys costs a get and a set per
 * event; this is one probe into typed arrays and no allocation.
 */
export class U32Counts {
  private keys: Uint32Array;
  private vals: Int32Array;
  private used: Uint8Array;
  private mask: number;
  private shift: number;
  size = 0;

  constructor(capacity = 1024) {
    const cap = 1 << Math.ceil(Math.log2(Math.max(16, capacity)));
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  /** Adds delta to key's count; returns true when the key was new. */
  add(key: number, delta: number): boolean {
    let i = Math.imul(key, 0x9e3779b1) >>> this.shift;
    const keys = this.keys;
    const used = this.used;
    for (;;) {
      if (used[i] === 0) break;
      if (keys[i] === key) {
        this.vals[i]! += delta;
        return false;
      }
      i = (i + 1) & this.mask;
    }
    used[i] = 1;
    keys[i] = key;
    this.vals[i] = delta;
    if (++this.size * 2 > this.mask) this.grow();
    return true;
  }

  has(key: number): boolean {
    let i = Math.imul(key, 0x9e3779b1) >>> this.shift;
    while (this.used[i] !== 0) {
      if (this.keys[i] === key) return true;
      i = (i + 1) & this.mask;
    }
    return false;
  }

  forEach(fn: (key: number, count: number) => void): void {
    for (let i = 0; i <= this.mask; i++) if (this.used[i] !== 0) fn(this.keys[i]!, this.vals[i]!);
  }

  private grow(): void {
    const { keys, vals, used } = this;
    const cap = (this.mask + 1) * 2;
    this.keys = new Uint32Array(cap);
    this.vals = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.size = 0;
    for (let i = 0; i < used.length; i++) if (used[i] !== 0) this.add(keys[i]!, vals[i]!);
  }
}
