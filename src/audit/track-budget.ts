/**
 * The cap on tracked keys, shared by every window bucket (and, for a monitor,
 * every metric) of one counter family. Each capped level has a tier; a tier's
 * `used` is its entry count summed over the live buckets, so dropping a bucket
 * gives its entries back.
 */
export const TIER_V4_HOST = 0;
export const TIER_V4_24 = 1;
export const TIER_V6_HOST = 2;
export const TIER_V6_64 = 3;
export const TIER_V6_48 = 4;
export const TIER_V6_32 = 5;
const TIERS = 6;

export class TrackBudget {
  readonly cap: number;
  readonly used = new Float64Array(TIERS);
  /** Events that reached a level coarser than their host because a tier was full. */
  degraded = 0;

  constructor(cap: number) {
    this.cap = cap;
  }

  /** Host-level entries (IPv4 + IPv6) over all live buckets: the figure the cap bounds. */
  get trackedHosts(): number {
    return this.used[TIER_V4_HOST]! + this.used[TIER_V6_HOST]!;
  }

  /** True while any tier is full, i.e. new keys are being folded into coarser levels. */
  get atCap(): boolean {
    for (let t = 0; t < TIERS; t++) if (this.used[t]! >= this.cap) return true;
    return false;
  }
}

/** A budget that never refuses: gauges are bounded by open sessions already. */
export function unlimitedBudget(): TrackBudget {
  return new TrackBudget(Number.POSITIVE_INFINITY);
}
