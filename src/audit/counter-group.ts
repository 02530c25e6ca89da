import { ipv4, ipv6, type Cidr, type IpAddress } from './address.ts';
import type { GroupState } from './group-state.ts';
import { HotV4 } from './hot-v4.ts';
import { HotV6 } from './hot-v6.ts';
import { PrefixCounter } from './prefix-counter.ts';
import type { TrackBudget } from './track-budget.ts';
import { WindowRing } from './window-ring.ts';

export interface ColumnShape {
  /** Window length, seconds. */
  readonly width: number;
  readonly windows: number;
}

/**
 * Windowed address counts for one or more monitors that see the same events
 * (one metric of the configured monitors, or one IP series). Each monitor is a
 * column with its own epoch-aligned ring of windows (spec §4.2); the current
 * window of every column sits in shared hot rows, older windows in per-column
 * frozen buckets. Rotation is lazy twice over: a ring moves when touched, and
 * a row's count moves to its frozen window when the row is next touched.
 */
export class CounterGroup implements GroupState {
  readonly cols: number;
  readonly tags: Int32Array;
  readonly windows: Int32Array;
  readonly budget: TrackBudget;
  readonly nextSeed: () => number;
  private readonly rings: WindowRing<PrefixCounter>[];
  private readonly firstEpoch: number[];
  private hot4: HotV4 | null = null;
  private hot6: HotV6 | null = null;
  private lastSec = Number.NEGATIVE_INFINITY;
  /** A window closed since the last sweep: expired rows may be holding the cap. */
  private sweepDue = false;

  constructor(shapes: readonly ColumnShape[], nowSec: number, budget: TrackBudget, nextSeed: () => number) {
    this.cols = shapes.length;
    this.budget = budget;
    this.nextSeed = nextSeed;
    this.tags = new Int32Array(this.cols);
    this.windows = Int32Array.from(shapes, (s) => s.windows);
    this.rings = shapes.map((s) => new WindowRing<PrefixCounter>(s.width, s.windows, nowSec, (b) => b.release(budget)));
    this.firstEpoch = this.rings.map((r) => r.epoch);
    this.advance(nowSec);
  }

  bucket(c: number, k: number): PrefixCounter {
    const ring = this.rings[c]!;
    let b = ring.at(k);
    if (b === null) {
      b = new PrefixCounter(this.nextSeed());
      ring.setAt(k, b);
    }
    return b;
  }

  peek(c: number, k: number): PrefixCounter | null {
    return this.rings[c]!.at(k);
  }

  /** Adds a non-zero integer delta to the address in every column's current window. */
  add(addr: IpAddress, delta: number, sec: number): void {
    if (sec > this.lastSec) this.advance(sec);
    // Rows whose every window expired still count against the cap until swept;
    // sweep here too, so a store nobody maintains does not stay degraded.
    if (this.sweepDue && this.budget.atCap) this.sweep();
    if (addr.family === 4) (this.hot4 ??= new HotV4(this)).add(addr.w0, delta);
    else (this.hot6 ??= new HotV6(this)).add(addr.w0, addr.w1, addr.w2, addr.w3, delta);
  }

  /** Column c's sum over windows s..e (0 ≤ s ≤ e ≤ N). */
  count(c: number, cidr: Cidr, s: number, e: number, sec: number): number {
    if (sec > this.lastSec) this.advance(sec);
    const a = cidr.addr;
    if (a.family === 4) return this.hot4 === null ? this.frozenOnly(c, cidr, s, e) : this.hot4.count(c, a.w0, cidr.prefix, s, e);
    return this.hot6 === null ? this.frozenOnly(c, cidr, s, e) : this.hot6.count(c, a.w0, a.w1, a.w2, a.w3, cidr.prefix, s, e);
  }

  /** floor(C0 + (1 − f)·C1), f the elapsed fraction of window 0 (spec §4.4). */
  smoothed(c: number, cidr: Cidr, sec: number): number {
    const c0 = this.count(c, cidr, 0, 0, sec);
    const c1 = this.count(c, cidr, 1, 1, sec);
    return Math.floor(c0 + (1 - this.rings[c]!.fraction(sec)) * c1);
  }

  /** Column c's counts for windows 0..N−1. */
  windowCounts(c: number, cidr: Cidr, sec: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.windows[c]!; k++) out.push(this.count(c, cidr, k, k, sec));
    return out;
  }

  /** Removes the host from every window of every column; true if it was counted anywhere. */
  remove(addr: IpAddress, sec: number): boolean {
    if (sec > this.lastSec) this.advance(sec);
    if (addr.family === 4) return this.hot4?.remove(addr.w0) ?? false;
    return this.hot6?.remove(addr.w0, addr.w1, addr.w2, addr.w3) ?? false;
  }

  /** Housekeeping: rotate to now, free rows and windows that aged out, shrink sparse tables. */
  maintain(sec: number): void {
    if (sec > this.lastSec) this.advance(sec);
    this.sweep();
    for (const ring of this.rings) {
      for (const [k, b] of [...ring.buckets()]) {
        if (b.empty) {
          b.release(this.budget);
          ring.setAt(k, null);
        } else {
          b.compact();
        }
      }
    }
  }

  /**
   * Per-address counts of column c's window k (0..N), as of sec: what the
   * hot rows and the frozen bucket hold for it, merged. Events folded into
   * blocks at the cap have no address and are not listed.
   */
  hostCounts(c: number, k: number, sec: number): Array<[IpAddress, number]> {
    if (sec > this.lastSec) this.advance(sec);
    const out = new Map<string, [IpAddress, number]>();
    const put = (a: IpAddress, n: number): void => {
      const id = `${a.family}:${a.w0}:${a.w1}:${a.w2}:${a.w3}`;
      const prev = out.get(id);
      if (prev === undefined) out.set(id, [a, n]);
      else prev[1] += n;
    };
    this.hot4?.forEachHost(c, k, (a, n) => put(ipv4(a), n));
    this.hot6?.forEachHost(c, k, (w0, w1, w2, w3, n) => put(ipv6(w0, w1, w2, w3), n));
    const b = this.peek(c, k);
    b?.v4?.host.forEach((w, n) => put(ipv4(w[0]!), n));
    b?.v6?.host.forEach((w, n) => put(ipv6(w[0]!, w[1]!, w[2]!, w[3]!), n));
    return [...out.values()].filter(([, n]) => n !== 0);
  }

  /** Epoch seconds at which column c's window 0 starts, as of sec. */
  windowStart(c: number, sec: number): number {
    if (sec > this.lastSec) this.advance(sec);
    return this.rings[c]!.start;
  }

  /**
   * Adds a saved count to column c's window k (restore). It goes to the
   * window's bucket on every level, under the cap like any event; false when
   * the cap folded it into its block.
   */
  load(c: number, k: number, addr: IpAddress, count: number): boolean {
    const before = this.budget.degraded;
    this.bucket(c, k).add(addr, count, this.budget);
    return this.budget.degraded === before;
  }

  /** Empties column c (every window, hot and frozen); other columns keep their counts. */
  clearColumn(c: number): void {
    this.hot4?.clearColumn(c);
    this.hot6?.clearColumn(c);
    this.rings[c]!.clear();
  }

  /** Host rows in the hot tables (current windows) of both families. */
  get hotHosts(): number {
    return (this.hot4?.hostRows ?? 0) + (this.hot6?.hostRows ?? 0);
  }

  /** Frozen host entries of column c (windows other than the current one). */
  frozenHosts(c: number): number {
    let n = 0;
    for (const [, b] of this.rings[c]!.buckets()) n += b.entries;
    return n;
  }

  private advance(sec: number): void {
    this.lastSec = sec;
    for (let c = 0; c < this.cols; c++) {
      const ring = this.rings[c]!;
      ring.advance(sec);
      const tag = ring.epoch - this.firstEpoch[c]! + 1;
      if (tag !== this.tags[c]) this.sweepDue = true;
      this.tags[c] = tag;
    }
  }

  private sweep(): void {
    this.sweepDue = false;
    this.hot4?.sweep();
    this.hot6?.sweep();
  }

  /** Before a family's first live event only restored windows can hold it. */
  private frozenOnly(c: number, cidr: Cidr, s: number, e: number): number {
    let sum = 0;
    for (let k = s; k <= e; k++) sum += this.peek(c, k)?.count(cidr) ?? 0;
    return sum;
  }
}
