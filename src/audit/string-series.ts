import { WindowRing } from './window-ring.ts';

/**
 * A string-keyed audit series: one Map per window. Strings have no blocks to
 * fold into, so at the cap an event for a new key is refused and counted as
 * degraded (the registry logs it); keys already tracked keep counting exactly.
 */
export class StringSeries {
  private readonly ring: WindowRing<Map<string, number>>;
  private readonly cap: number;
  private used = 0;
  degraded = 0;

  constructor(width: number, windows: number, nowSec: number, cap: number) {
    this.cap = cap;
    this.ring = new WindowRing<Map<string, number>>(width, windows, nowSec, (m) => {
      this.used -= m.size;
    });
  }

  /** Adds a non-zero delta; false when the key was refused at the cap. */
  add(key: string, delta: number, sec: number): boolean {
    this.ring.advance(sec);
    return this.addAt(0, key, delta);
  }

  count(key: string, start: number, end: number, sec: number): number {
    this.ring.advance(sec);
    let sum = 0;
    for (let k = start; k <= end; k++) sum += this.ring.at(k)?.get(key) ?? 0;
    return sum;
  }

  remove(key: string, sec: number): boolean {
    this.ring.advance(sec);
    let removed = false;
    for (const [, m] of this.ring.buckets()) {
      if (m.delete(key)) {
        this.used--;
        removed = true;
      }
    }
    return removed;
  }

  maintain(sec: number): void {
    this.ring.advance(sec);
    for (const [k, m] of [...this.ring.buckets()]) if (m.size === 0) this.ring.setAt(k, null);
  }

  /** Epoch seconds at which window 0 starts, as of sec. */
  windowStart(sec: number): number {
    this.ring.advance(sec);
    return this.ring.start;
  }

  /** Keys and counts of window k, or null when it holds none. */
  window(k: number): ReadonlyMap<string, number> | null {
    return this.ring.at(k);
  }

  /** Adds a saved count to window k (restore); false when refused at the cap. */
  load(k: number, key: string, count: number): boolean {
    return this.addAt(k, key, count);
  }

  /** The one place a key's count in window k changes: a new key takes a slot under the cap, a zero frees it. */
  private addAt(k: number, key: string, delta: number): boolean {
    let m = this.ring.at(k);
    if (m === null) {
      m = new Map();
      this.ring.setAt(k, m);
    }
    const old = m.get(key);
    if (old === undefined) {
      if (this.used >= this.cap) {
        this.degraded++;
        return false;
      }
      this.used++;
    }
    const n = (old ?? 0) + delta;
    if (n === 0) {
      m.delete(key);
      this.used--;
    } else {
      m.set(key, n);
    }
    return true;
  }

  clear(): void {
    this.ring.clear();
  }

  /** (key, window) entries held: the unit the cap bounds. */
  get entries(): number {
    return this.used;
  }

  get atCap(): boolean {
    return this.used >= this.cap;
  }

  buckets(): Iterable<[number, Map<string, number>]> {
    return this.ring.buckets();
  }
}
