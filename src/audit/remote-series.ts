import { parseAddress, type Cidr } from './address.ts';
import { CounterGroup } from './counter-group.ts';
import type { SeriesType } from './series-args.ts';
import { StringSeries } from './string-series.ts';
import { TrackBudget } from './track-budget.ts';

/** Identity of a series across nodes (spec §8.7): name, key type and shape. */
export interface SeriesIdentity {
  readonly name: string;
  readonly type: SeriesType;
  readonly interval: number;
  readonly windows: number;
}

export function seriesId(s: SeriesIdentity): string {
  return `${encodeURIComponent(s.name)}|${s.type}|${s.interval},${s.windows}`;
}

export function parseSeriesId(id: string): SeriesIdentity | null {
  const m = /^([^|]+)\|(cidr|cidr_ipv6|string)\|(\d+),(\d+)$/.exec(id);
  if (m === null) return null;
  let name: string;
  try {
    name = decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
  const interval = Number(m[3]);
  const windows = Number(m[4]);
  if (interval < 1 || windows < 1 || windows > 100_000) return null;
  return { name, type: m[2] as SeriesType, interval, windows };
}

type Copy = { kind: 'ip'; counter: CounterGroup; budget: TrackBudget } | { kind: 'string'; strings: StringSeries };

/** Most replicated series one node holds copies of, so a peer cannot make it grow without end. */
const MAX_REMOTE_SERIES = 1024;

/**
 * The other nodes' adds to series defined with replicate = "cluster", merged
 * per series identity, each under the same per-series cap as a local series.
 * Deltas are placed by the start of the window they were counted in.
 */
export class RemoteSeries {
  private readonly cap: number;
  private readonly nextSeed: () => number;
  private readonly copies = new Map<string, Copy>();
  dropped = 0;

  constructor(cap: number, nextSeed: () => number) {
    this.cap = cap;
    this.nextSeed = nextSeed;
  }

  /** key: an address text (IP series) or the string key. */
  apply(id: SeriesIdentity, start: number, key: string, delta: number, sec: number): void {
    if (delta === 0) return;
    const copy = this.copyFor(id, sec);
    if (copy === null) return;
    if (copy.kind === 'string') {
      const s0 = copy.strings.windowStart(sec);
      const k = (s0 - start) / id.interval;
      if (!Number.isInteger(k) || k >= id.windows) return;
      if (k <= 0) copy.strings.add(key, delta, sec);
      else copy.strings.load(k, key, delta);
      return;
    }
    let addr;
    try {
      addr = parseAddress(key);
    } catch {
      this.dropped++;
      return;
    }
    if (addr.family !== (id.type === 'cidr' ? 4 : 6)) return;
    const s0 = copy.counter.windowStart(0, sec);
    const k = (s0 - start) / id.interval;
    if (!Number.isInteger(k) || k >= id.windows) return;
    if (k <= 0) copy.counter.add(addr, delta, sec);
    else copy.counter.load(0, k, addr, delta);
  }

  count(id: SeriesIdentity, key: Cidr | string, s: number, e: number, sec: number): number {
    const copy = this.copies.get(seriesId(id));
    if (copy === undefined) return 0;
    if (copy.kind === 'string') return typeof key === 'string' ? copy.strings.count(key, s, e, sec) : 0;
    if (typeof key === 'string' || key.addr.family !== (id.type === 'cidr' ? 4 : 6)) return 0;
    return copy.counter.count(0, key, s, e, sec);
  }

  ids(): string[] {
    return [...this.copies.keys()];
  }

  maintain(sec: number): void {
    for (const c of this.copies.values()) {
      if (c.kind === 'string') c.strings.maintain(sec);
      else c.counter.maintain(sec);
    }
  }

  clear(): void {
    this.copies.clear();
  }

  private copyFor(id: SeriesIdentity, sec: number): Copy | null {
    const sid = seriesId(id);
    let c = this.copies.get(sid);
    if (c !== undefined) return c;
    if (this.copies.size >= MAX_REMOTE_SERIES) {
      this.dropped++;
      return null;
    }
    if (id.type === 'string') c = { kind: 'string', strings: new StringSeries(id.interval, id.windows, sec, this.cap) };
    else {
      const budget = new TrackBudget(this.cap);
      c = { kind: 'ip', budget, counter: new CounterGroup([{ width: id.interval, windows: id.windows }], sec, budget, this.nextSeed) };
    }
    this.copies.set(sid, c);
    return c;
  }
}
