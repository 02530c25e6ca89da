import * as KT from './key-table.ts';
import * as TB from './track-budget.ts';
import type { TrackBudget } from './track-budget.ts';

// Module-local copies of imported constants: see hot-v4.ts.
const { KeyTable, REFUSED, sizeDelta } = KT;
type KeyTable = KT.KeyTable;
const { TIER_V4_24, TIER_V4_HOST } = TB;

/**
 * IPv4 counts of one window (or one gauge) at the levels /32, /27, /24, /16,
 * /8 and /0, so that a block query never scans: a prefix on a level is one
 * lookup, one between levels at most 128 lookups on the next finer level.
 *
 * Keys on a level are the address shifted right by the level's host bits (a
 * /24 key is addr >>> 8), so every hashed level holds 1-word keys.
 *
 * At the cap an event of a new host gets no /32 entry: it lands in /24 and
 * wider, which therefore stay exact (and in its /27 when that block is already
 * tracked); if the /24 tier is full too it lands in /16 and wider. Either way
 * it is counted as degraded, never dropped.
 */
export const V4_HOST = 0;
export const V4_27 = 1;
export const V4_24 = 2;
export const V4_16 = 3;
/** Right shift turning an address into its key on each hashed level. */
export const V4_SHIFT: readonly number[] = [0, 5, 8, 16];
/** Budget tier of each hashed level (−1: bounded by a finer tier or by its size). */
export const V4_TIER: readonly number[] = [TIER_V4_HOST, -1, TIER_V4_24, -1];

export interface V4Plan {
  /** Hashed level to read, or −1 for the direct /8 array, −2 for the total. */
  level: number;
  /** First key on that level (or first /8 index). */
  base: number;
  /** Number of consecutive keys whose counts add up to the block. */
  span: number;
}

/** Which level answers a /p block with network `net`, and how many keys it takes. */
export function planV4(net: number, p: number): V4Plan {
  if (p === 0) return { level: -2, base: 0, span: 1 };
  if (p <= 8) return { level: -1, base: net >>> 24, span: 1 << (8 - p) };
  if (p <= 16) return { level: V4_16, base: net >>> 16, span: 1 << (16 - p) };
  if (p <= 24) return { level: V4_24, base: net >>> 8, span: 1 << (24 - p) };
  if (p <= 27) return { level: V4_27, base: net >>> 5, span: 1 << (27 - p) };
  return { level: V4_HOST, base: net, span: 1 << (32 - p) };
}

export class V4Levels {
  /** Hashed levels, indexed by V4_HOST, V4_27, V4_24, V4_16. */
  readonly t: readonly KeyTable[];
  readonly l8 = new Float64Array(256);
  total = 0;

  constructor(seed: number) {
    this.t = [new KeyTable(1, seed), new KeyTable(1, seed ^ 0x27), new KeyTable(1, seed ^ 0x24), new KeyTable(1, seed ^ 0x16)];
  }

  get host(): KeyTable {
    return this.t[V4_HOST]!;
  }

  /** Adds to every level at once (gauges). `a` is the unsigned address; delta non-zero. */
  add(a: number, delta: number, b: TrackBudget): void {
    const [host, l27, l24, l16] = this.t as [KeyTable, KeyTable, KeyTable, KeyTable];
    const used = b.used;
    const roomHost = used[TIER_V4_HOST]! < b.cap;
    const r = host.add1(a, delta, roomHost);
    const r27 = l27.add1(a >>> 5, delta, roomHost);
    const r24 = l24.add1(a >>> 8, delta, roomHost || used[TIER_V4_24]! < b.cap);
    l16.add1(a >>> 16, delta, true);
    this.l8[a >>> 24]! += delta;
    this.total += delta;
    if (r === REFUSED) {
      b.degraded++;
    } else {
      used[TIER_V4_HOST]! += sizeDelta(r);
      // A level must accept whatever a finer one accepted, or a block would
      // sum to less than its parts; only counts that cancelled out can leave a
      // parent missing under a tracked host.
      if (r27 === REFUSED) l27.add1(a >>> 5, delta, true);
    }
    used[TIER_V4_24]! += sizeDelta(r24 !== REFUSED || r === REFUSED ? r24 : l24.add1(a >>> 8, delta, true));
  }

  /** Count of the block net/p (host bits of net clear). */
  count(net: number, p: number): number {
    const plan = planV4(net, p);
    return this.sumPlan(plan.level, plan.base, plan.span);
  }

  sumPlan(level: number, base: number, span: number): number {
    if (level === -2) return this.total;
    let sum = 0;
    if (level === -1) {
      for (let i = 0; i < span; i++) sum += this.l8[base + i]!;
      return sum;
    }
    const t = this.t[level]!;
    if (t.size === 0) return 0;
    if (span === 1) return t.get1(base);
    for (let i = 0; i < span; i++) sum += t.get1(base + i);
    return sum;
  }

  release(b: TrackBudget): void {
    b.used[TIER_V4_HOST]! -= this.t[V4_HOST]!.size;
    b.used[TIER_V4_24]! -= this.t[V4_24]!.size;
  }

  /** Nothing counted on any level (the /8 sums are then 0 too, being sums of /16s). */
  get empty(): boolean {
    return this.total === 0 && this.t.every((t) => t.size === 0) && this.l8.every((v) => v === 0);
  }

  compact(): void {
    for (const t of this.t) t.compact();
  }
}
