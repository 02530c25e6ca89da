import { wordMask } from './address.ts';
import * as KT from './key-table.ts';
import type { AddOutcome } from './key-table.ts';
import * as TB from './track-budget.ts';
import type { TrackBudget } from './track-budget.ts';

// Module-local copies of imported constants: see hot-v4.ts.
const { KeyTable, REFUSED, sizeDelta } = KT;
type KeyTable = KT.KeyTable;
const { TIER_V6_32, TIER_V6_48, TIER_V6_64, TIER_V6_HOST } = TB;

/**
 * IPv6 counts of one window (or one gauge) at /128, /64, /48, /32 and /0: the
 * host, the subnet, the site and the allocation. Keys are the masked address
 * words.
 *
 * A prefix up to 8 bits longer than a level is summed by enumerating it (at
 * most 256 lookups); one further from a level (say /96) is answered by a scan
 * of the next finer level: correct for every prefix, fast for the usual ones.
 *
 * At the cap a new host folds into /64 and wider; a full /64 tier folds into
 * /48, and so on up to /0: IPv6 lets one peer spray 2^64 addresses, so every
 * tier that can grow is capped, and every folded event is counted.
 */
export const V6_HOST = 0;
export const V6_64 = 1;
export const V6_48 = 2;
export const V6_32 = 3;
export const V6_TIER: readonly number[] = [TIER_V6_HOST, TIER_V6_64, TIER_V6_48, TIER_V6_32];
export const HI16 = 0xffff0000 | 0;
const ENUMERATE_MAX_BITS = 8;

export interface V6Plan {
  /** Level to read, or −2 for the total. */
  level: number;
  /** Key words of the first key (masked network). */
  k0: number;
  k1: number;
  k2: number;
  k3: number;
  /** Keys to enumerate (the varying word is k0 for /32, k1 for /48 and /64, k3 for hosts), or 0 to scan. */
  span: number;
  /** Added to the varying word per step. */
  step: number;
  /** The prefix, for scans (masks are built only when one is needed). */
  prefix: number;
}

/** Per-word masks of a prefix, as int32, for scans. */
export function masksOf(p: number): number[] {
  return [wordMask(p) | 0, wordMask(p - 32) | 0, wordMask(p - 64) | 0, wordMask(p - 96) | 0];
}

export function planV6(w0: number, w1: number, w2: number, w3: number, p: number): V6Plan {
  let level: number;
  let bits: number;
  if (p === 0) {
    level = -2;
    bits = 0;
  } else if (p <= 32) {
    level = V6_32;
    bits = 32 - p;
  } else if (p <= 48) {
    level = V6_48;
    bits = 48 - p;
  } else if (p <= 64) {
    level = V6_64;
    bits = 64 - p;
  } else {
    level = V6_HOST;
    bits = 128 - p;
  }
  return {
    level,
    k0: w0,
    k1: level === V6_48 ? w1 & HI16 : w1,
    k2: w2,
    k3: w3,
    span: bits <= ENUMERATE_MAX_BITS ? 1 << bits : 0,
    step: level === V6_48 ? 0x10000 : 1,
    prefix: p,
  };
}

export class V6Levels {
  /** Indexed by V6_HOST, V6_64, V6_48, V6_32. */
  readonly t: readonly KeyTable[];
  total = 0;

  constructor(seed: number) {
    this.t = [new KeyTable(4, seed), new KeyTable(2, seed ^ 0x64), new KeyTable(2, seed ^ 0x48), new KeyTable(1, seed ^ 0x32)];
  }

  get host(): KeyTable {
    return this.t[V6_HOST]!;
  }

  /** Adds to every level at once (gauges); delta non-zero. */
  add(w0: number, w1: number, w2: number, w3: number, delta: number, b: TrackBudget): void {
    const [host, l64, l48, l32] = this.t as [KeyTable, KeyTable, KeyTable, KeyTable];
    const used = b.used;
    const cap = b.cap;
    const room128 = used[TIER_V6_HOST]! < cap;
    const room64 = room128 || used[TIER_V6_64]! < cap;
    const room48 = room64 || used[TIER_V6_48]! < cap;
    const r128 = host.add4(w0, w1, w2, w3, delta, room128);
    let r64: AddOutcome = l64.add2(w0, w1, delta, room64);
    let r48: AddOutcome = l48.add2(w0, w1 & HI16, delta, room48);
    let r32: AddOutcome = l32.add1(w0, delta, room48 || used[TIER_V6_32]! < cap);
    this.total += delta;
    if (r128 === REFUSED) b.degraded++;
    else used[TIER_V6_HOST]! += sizeDelta(r128);
    // A level must accept whatever a finer one accepted (see levels-v4.ts).
    if (r64 === REFUSED && r128 !== REFUSED) r64 = l64.add2(w0, w1, delta, true);
    used[TIER_V6_64]! += sizeDelta(r64);
    if (r48 === REFUSED && r64 !== REFUSED) r48 = l48.add2(w0, w1 & HI16, delta, true);
    used[TIER_V6_48]! += sizeDelta(r48);
    if (r32 === REFUSED && r48 !== REFUSED) r32 = l32.add1(w0, delta, true);
    used[TIER_V6_32]! += sizeDelta(r32);
  }

  count(w0: number, w1: number, w2: number, w3: number, p: number): number {
    return this.sumPlan(planV6(w0, w1, w2, w3, p));
  }

  /** Home-slot read of a key on a level (see KeyTable.prefetch1). */
  prefetch(level: number, k0: number, k1: number, k2: number, k3: number): number {
    const t = this.t[level]!;
    if (t.size === 0) return 0;
    if (level === V6_HOST) return t.prefetch4(k0, k1, k2, k3);
    if (level === V6_32) return t.prefetch1(k0);
    return t.prefetch2(k0, k1);
  }

  get1(level: number, k0: number, k1: number, k2: number, k3: number): number {
    const t = this.t[level]!;
    if (level === V6_HOST) return t.get4(k0, k1, k2, k3);
    if (level === V6_32) return t.get1(k0);
    return t.get2(k0, k1);
  }

  sumPlan(pl: V6Plan): number {
    if (pl.level === -2) return this.total;
    const t = this.t[pl.level]!;
    if (t.size === 0) return 0;
    let sum = 0;
    if (pl.span > 0) {
      let { k0, k1, k3 } = pl;
      for (let i = 0; i < pl.span; i++) {
        sum += this.get1(pl.level, k0, k1, pl.k2, k3);
        if (pl.level === V6_32) k0 += pl.step;
        else if (pl.level === V6_HOST) k3 += pl.step;
        else k1 += pl.step;
      }
      return sum;
    }
    return t.sumMatching([pl.k0 | 0, pl.k1 | 0, pl.k2 | 0, pl.k3 | 0], masksOf(pl.prefix));
  }

  release(b: TrackBudget): void {
    for (let l = 0; l < 4; l++) b.used[V6_TIER[l]!]! -= this.t[l]!.size;
  }

  get empty(): boolean {
    return this.total === 0 && this.t.every((t) => t.size === 0);
  }

  compact(): void {
    for (const t of this.t) t.compact();
  }
}
