import type { PrefixCounter } from './prefix-counter.ts';
import type { TrackBudget } from './track-budget.ts';

/**
 * What the per-family hot-row logic needs from its counter group: the
 * columns (one per monitor), each column's current tag and window count, the
 * shared cap, and the frozen window buckets.
 *
 * A tag is (epoch − the column's first epoch + 1): small, never 0 (0 marks an
 * empty slot), and the age of a row's count in windows is tags[c] − rowTag.
 */
export interface GroupState {
  readonly cols: number;
  readonly tags: Int32Array;
  /** N per column; ages 0..N are kept (N is the hidden window). */
  readonly windows: Int32Array;
  readonly budget: TrackBudget;
  readonly nextSeed: () => number;
  /** Window k of column c, created when missing (k ≤ N). */
  bucket(c: number, k: number): PrefixCounter;
  /** Window k of column c, or null when nothing was counted in it. */
  peek(c: number, k: number): PrefixCounter | null;
}
