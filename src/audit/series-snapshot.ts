import type { SeriesType } from './series-args.ts';

/**
 * A named series' windows as plain data, for persistence and the console
 * `load` command. Windows are epoch-aligned, so each carries its start time:
 * whoever restores it rotates by the time that passed since, and a window
 * older than the series keeps is dropped, never revived.
 *
 * Only what is kept per key is exported: at the cap on tracked keys, events
 * of untracked addresses live in block-level sums only (counted as degraded),
 * and those are not part of a snapshot.
 */
export interface SeriesSnapshot {
  name: string;
  type: SeriesType;
  interval: number;
  windows: number;
  /** One entry per window that holds counts, any order. */
  buckets: SnapshotBucket[];
}

export interface SnapshotBucket {
  /** Epoch seconds at which the window starts (a multiple of the interval). */
  start: number;
  /** Key (address text for IP series) → signed count, non-zero. */
  counts: [string, number][];
}
