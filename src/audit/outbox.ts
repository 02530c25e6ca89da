import { ipv4, type IpAddress } from './address.ts';
import { U32Counts } from './outbox-table.ts';
import type { SeriesIdentity } from './remote-series.ts';

/** Distinct pending entries held by default before new ones are dropped (see docs/cluster.md). */
export const DEFAULT_OUTBOX_BOUND = 200_000;

interface Slot {
  readonly ts: number;
  readonly v4: U32Counts[];
  readonly v6: Map<string, [IpAddress, number]>[];
}

export interface PendingSeries {
  readonly id: SeriesIdentity;
  readonly manager: boolean;
  /** window start → key → delta */
  readonly windows: Map<number, Map<string, number>>;
}

/** What accumulated since the last drain, as plain data. */
export interface OutboxBatch {
  /** Built-in metric deltas: [metric index, slot start, address, delta]. */
  readonly counters: Array<[number, number, IpAddress, number]>;
  /** Open-session (SMTP) deltas per address. */
  readonly gauges: Array<[IpAddress, number]>;
  readonly series: PendingSeries[];
  readonly entries: number;
}

/**
 * This node's changes waiting to be replicated, aggregated on the phase path
 * at O(1) per event: by (metric, slot start, address) for the built-in
 * metrics, by address for gauges, by (series, window, key) for series. Memory
 * is bounded by distinct entries, not by events; past the bound a change is
 * dropped and counted, and `overflowed` tells the replicator to re-send this
 * node's absolute state once Redis takes writes again.
 */
export class Outbox {
  readonly slotWidth: number;
  readonly bound: number;
  private slots = new Map<number, Slot>();
  private cur: Slot | null = null;
  private curEnd = 0;
  private g4 = new Map<number, number>();
  private g6 = new Map<string, [IpAddress, number]>();
  private seriesPending = new Map<string, PendingSeries>();
  private size = 0;
  dropped = 0;
  overflowed = false;

  constructor(slotWidth: number, bound: number = DEFAULT_OUTBOX_BOUND) {
    this.slotWidth = slotWidth;
    this.bound = bound;
  }

  get pending(): number {
    return this.size;
  }

  counter(mi: number, addr: IpAddress, sec: number): void {
    let slot = this.cur;
    if (slot === null || sec < slot.ts || sec >= this.curEnd) slot = this.slotAt(sec - (sec % this.slotWidth));
    if (addr.family === 4) {
      const t = slot.v4[mi]!;
      // At the bound only keys already pending may count (a second probe, rarely taken).
      if (this.size >= this.bound && !t.has(addr.w0)) {
        this.room();
        return;
      }
      if (t.add(addr.w0, 1)) this.size++;
      return;
    }
    const m = slot.v6[mi]!;
    const key = v6Key(addr);
    const prev = m.get(key);
    if (prev !== undefined) prev[1]++;
    else if (this.room()) m.set(key, [addr, 1]);
  }

  gauge(addr: IpAddress, delta: number): void {
    if (addr.family === 4) {
      const prev = this.g4.get(addr.w0);
      if (prev !== undefined) this.g4.set(addr.w0, prev + delta);
      else if (this.room()) this.g4.set(addr.w0, delta);
      return;
    }
    const key = v6Key(addr);
    const prev = this.g6.get(key);
    if (prev !== undefined) prev[1] += delta;
    else if (this.room()) this.g6.set(key, [addr, delta]);
  }

  series(id: SeriesIdentity, manager: boolean, windowStart: number, key: string, delta: number): void {
    const sid = `${manager ? 'm' : 'c'}|${id.name}|${id.type}|${id.interval},${id.windows}`;
    let p = this.seriesPending.get(sid);
    if (p === undefined) {
      if (!this.room()) return;
      this.size--;
      p = { id, manager, windows: new Map() };
      this.seriesPending.set(sid, p);
    }
    let w = p.windows.get(windowStart);
    if (w === undefined) {
      w = new Map();
      p.windows.set(windowStart, w);
    }
    const prev = w.get(key);
    if (prev !== undefined) w.set(key, prev + delta);
    else if (this.room()) w.set(key, delta);
  }

  /** Takes everything pending; the outbox starts empty again. */
  drain(): OutboxBatch {
    const counters: Array<[number, number, IpAddress, number]> = [];
    for (const slot of this.slots.values()) {
      for (let mi = 0; mi < 3; mi++) {
        slot.v4[mi]!.forEach((w0, n) => {
          if (n !== 0) counters.push([mi, slot.ts, ipv4(w0), n]);
        });
        for (const [addr, n] of slot.v6[mi]!.values()) if (n !== 0) counters.push([mi, slot.ts, addr, n]);
      }
    }
    const gauges: Array<[IpAddress, number]> = [];
    for (const [w0, n] of this.g4) if (n !== 0) gauges.push([ipv4(w0), n]);
    for (const [addr, n] of this.g6.values()) if (n !== 0) gauges.push([addr, n]);
    const series = [...this.seriesPending.values()];
    const entries = this.size;
    this.slots = new Map();
    this.cur = null;
    this.g4 = new Map();
    this.g6 = new Map();
    this.seriesPending = new Map();
    this.size = 0;
    return { counters, gauges, series, entries };
  }

  /** Forgets everything pending (the absolute state is being re-sent instead). */
  clear(): void {
    this.drain();
  }

  private room(): boolean {
    // Bound 0: a store with cluster copies but nothing to send (fixtures).
    if (this.bound === 0) return false;
    if (this.size >= this.bound) {
      this.dropped++;
      this.overflowed = true;
      return false;
    }
    this.size++;
    return true;
  }

  private slotAt(ts: number): Slot {
    let slot = this.slots.get(ts);
    if (slot === undefined) {
      slot = { ts, v4: [new U32Counts(), new U32Counts(), new U32Counts()], v6: [new Map(), new Map(), new Map()] };
      this.slots.set(ts, slot);
    }
    this.cur = slot;
    this.curEnd = ts + this.slotWidth;
    return slot;
  }
}

function v6Key(a: IpAddress): string {
  return `${a.w0}:${a.w1}:${a.w2}:${a.w3}`;
}
