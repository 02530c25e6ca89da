/**
 * uint32 → positive count, open addressing with linear probing: the outbox's
 * per-event table for IPv4 addresses. Key and count sit side by side in one
 * Int32Array, so an event costs one probe into one cache line and no
 * allocation (a Map costs a get and a set). A zero count marks a free slot:
 * counts here only grow.
 */
export class U32Counts {
  private data: Int32Array;
  private mask: number;
  private shift: number;
  size = 0;

  constructor(capacity = 1024) {
    const cap = 1 << Math.ceil(Math.log2(Math.max(16, capacity)));
    this.data = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  /** Adds delta (> 0) to key's count; returns true when the key was new. */
  add(key: number, delta: number): boolean {
    const d = this.data;
    const k = key | 0;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const j = i << 1;
      if (d[j + 1] === 0) {
        d[j] = k;
        d[j + 1] = delta;
        if (++this.size * 2 > this.mask) this.grow();
        return true;
      }
      if (d[j] === k) {
        d[j + 1]! += delta;
        return false;
      }
      i = (i + 1) & this.mask;
    }
  }

  has(key: number): boolean {
    const d = this.data;
    const k = key | 0;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const j = i << 1;
      if (d[j + 1] === 0) return false;
      if (d[j] === k) return true;
      i = (i + 1) & this.mask;
    }
  }

  forEach(fn: (key: number, count: number) => void): void {
    const d = this.data;
    for (let j = 0; j < d.length; j += 2) if (d[j + 1] !== 0) fn(d[j]! >>> 0, d[j + 1]!);
  }

  private grow(): void {
    const old = this.data;
    const cap = (this.mask + 1) * 2;
    this.data = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.size = 0;
    for (let j = 0; j < old.length; j += 2) if (old[j + 1] !== 0) this.add(old[j]!, old[j + 1]!);
  }
}
