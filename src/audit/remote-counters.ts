import type { Cidr, IpAddress } from './address.ts';
import { CounterGroup } from './counter-group.ts';
import type { MonitorSpec } from './monitor-spec.ts';
import { TrackBudget } from './track-budget.ts';

/** Peer deltas dated after this node's current window wait here, at most this many. */
const MAX_FUTURE = 100_000;

/**
 * What the other nodes counted for the configured monitors, merged (spec
 * §12.5): the same counter groups as the local store (one per metric, a column
 * per monitor, the same per-address cap), so a cluster read is the local
 * lookup plus one more of the same cost. Deltas arrive dated by the start of
 * their replication slot (a window of `slotWidth` seconds, the gcd of the
 * monitors' widths, so a slot lies inside exactly one window of every monitor);
 * they are placed by that date, not by when they arrived, which is what makes
 * the sum exact across nodes.
 */
export class RemoteCounters {
  readonly specs: readonly MonitorSpec[];
  readonly slotWidth: number;
  readonly budget: TrackBudget;
  readonly groups: readonly CounterGroup[];
  private future: Array<{ mi: number; ts: number; addr: IpAddress; delta: number }> = [];
  /** Deltas that could not be placed: older than every window, or past the future queue's bound. */
  dropped = 0;

  constructor(specs: readonly MonitorSpec[], cap: number, nowSec: number, nextSeed: () => number) {
    this.specs = specs;
    this.slotWidth = slotWidthOf(specs);
    this.budget = new TrackBudget(cap);
    const shapes = specs.map((s) => ({ width: s.width, windows: s.windows }));
    this.groups = [0, 1, 2].map(() => new CounterGroup(shapes, nowSec, this.budget, nextSeed));
  }

  /** Adds a peer's delta for metric mi counted in the slot starting at ts. */
  apply(mi: number, ts: number, addr: IpAddress, delta: number, sec: number): void {
    const g = this.groups[mi];
    if (g === undefined || delta === 0) return;
    let current = true;
    for (let c = 0; c < this.specs.length; c++) {
      const start0 = g.windowStart(c, sec);
      if (ts >= start0 + this.specs[c]!.width) {
        // The peer's clock is ahead of ours: hold it until our window opens.
        if (this.future.length >= MAX_FUTURE) this.dropped++;
        else this.future.push({ mi, ts, addr, delta });
        return;
      }
      if (ts < start0) current = false;
    }
    if (current) {
      g.add(addr, delta, sec);
      return;
    }
    let placed = false;
    for (let c = 0; c < this.specs.length; c++) {
      const w = this.specs[c]!.width;
      const k = (g.windowStart(c, sec) - (ts - (ts % w))) / w;
      if (k < this.specs[c]!.windows) {
        g.load(c, k, addr, delta);
        placed = true;
      }
    }
    if (!placed) this.dropped++;
  }

  /** Loads an absolute count of one monitor's window (rebuild from a snapshot). */
  load(mi: number, col: number, start: number, addr: IpAddress, count: number, sec: number): void {
    const g = this.groups[mi];
    const spec = this.specs[col];
    if (g === undefined || spec === undefined || count === 0) return;
    const k = (g.windowStart(col, sec) - start) / spec.width;
    if (!Number.isInteger(k) || k < 0 || k >= spec.windows) return;
    g.load(col, k, addr, count);
  }

  /** Places held future deltas whose window has opened. */
  settle(sec: number): void {
    if (this.future.length === 0) return;
    const held = this.future;
    this.future = [];
    for (const d of held) this.apply(d.mi, d.ts, d.addr, d.delta, sec);
  }

  count(mi: number, col: number, cidr: Cidr, s: number, e: number, sec: number): number {
    return this.groups[mi]!.count(col, cidr, s, e, sec);
  }

  smoothedParts(mi: number, col: number, cidr: Cidr, sec: number): [number, number] {
    const g = this.groups[mi]!;
    return [g.count(col, cidr, 0, 0, sec), g.count(col, cidr, 1, 1, sec)];
  }

  windowCounts(mi: number, col: number, cidr: Cidr, sec: number): number[] {
    return this.groups[mi]!.windowCounts(col, cidr, sec);
  }

  maintain(sec: number): void {
    this.settle(sec);
    for (const g of this.groups) g.maintain(sec);
  }

  get trackedHosts(): number {
    return this.budget.trackedHosts;
  }
}

/** The replication slot: the longest width every monitor's width is a multiple of. */
export function slotWidthOf(specs: readonly { width: number }[]): number {
  let g = 0;
  for (const s of specs) g = gcd(g, s.width);
  return g === 0 ? 60 : g;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
