/**
 * N visible windows plus one hidden, epoch-aligned and rotated lazily
 * (inbound-audit spec §4.2): window 0 covers [b, b+W) with b = floor(t/W)·W;
 * every access first moves the ring to the current time. A clock that steps
 * backwards never rotates it back: the ring stays on the newest window seen.
 *
 * The hidden bucket N exists so that the smoothed value (§4.4) has a window 1
 * even when N = 1; range queries never see it.
 */
export class WindowRing<B> {
  readonly width: number;
  readonly windows: number;
  private readonly slots: (B | null)[];
  private head = 0;
  private epoch_: number;
  private nextBoundary: number;
  private readonly drop: (bucket: B) => void;

  constructor(width: number, windows: number, nowSec: number, drop: (bucket: B) => void) {
    this.width = width;
    this.windows = windows;
    this.slots = new Array<B | null>(windows + 1).fill(null);
    this.epoch_ = Math.floor(nowSec / width);
    this.nextBoundary = (this.epoch_ + 1) * width;
    this.drop = drop;
  }

  /** Index of window 0: floor(t / width) for the newest t seen. */
  get epoch(): number {
    return this.epoch_;
  }

  /** Start (epoch seconds) of window 0. */
  get start(): number {
    return this.epoch_ * this.width;
  }

  advance(sec: number): void {
    if (sec < this.nextBoundary) return;
    const e = Math.floor(sec / this.width);
    const d = e - this.epoch_;
    const n = this.slots.length;
    const steps = Math.min(d, n);
    for (let i = 0; i < steps; i++) {
      this.head = this.head + 1 === n ? 0 : this.head + 1;
      const old = this.slots[this.head];
      if (old != null) {
        this.slots[this.head] = null;
        this.drop(old);
      }
    }
    this.epoch_ = e;
    this.nextBoundary = (e + 1) * this.width;
  }

  /** Window k (0 = current, N = the hidden one), or null when nothing was recorded in it. */
  at(k: number): B | null {
    const n = this.slots.length;
    let i = this.head - k;
    if (i < 0) i += n;
    return this.slots[i] ?? null;
  }

  get current(): B | null {
    return this.slots[this.head] ?? null;
  }

  set current(bucket: B | null) {
    this.slots[this.head] = bucket;
  }

  /** Replaces window k (used to drop buckets that became empty). */
  setAt(k: number, bucket: B | null): void {
    const n = this.slots.length;
    let i = this.head - k;
    if (i < 0) i += n;
    this.slots[i] = bucket;
  }

  /** Elapsed fraction of window 0 at `sec`, in [0, 1). */
  fraction(sec: number): number {
    const f = (sec - this.start) / this.width;
    return f < 0 ? 0 : f >= 1 ? 1 - Number.EPSILON : f;
  }

  /** Drops every bucket (window positions stay where they are). */
  clear(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const b = this.slots[i];
      if (b != null) {
        this.slots[i] = null;
        this.drop(b);
      }
    }
  }

  /** Every live bucket, window 0 first. */
  *buckets(): Generator<[number, B]> {
    for (let k = 0; k < this.slots.length; k++) {
      const b = this.at(k);
      if (b !== null) yield [k, b];
    }
  }
}
